"""Static (leakage) and clock energy: sourced 45 nm densities, node scaling, linearity, errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import hwsim.accel.cost as C
from hwsim.accel.arch import systolic
from hwsim.accel.costing import (
    STATIC_COLUMNS,
    layer_static_energy_pj,
    total_energy_pj,
)

FIG = {f.name: f for f in C.STATIC_FIGURES_45NM}


def test_logic_leakage_pinned_to_bit_fusion_synthesis():
    # Bit Fusion systolic_array_synth.csv, N=M=1, 8/8: area 687.6072 um2, leakage 22952 nW.
    assert FIG["logic_leakage"].value == pytest.approx(22.952 / 687.6072, rel=1e-12)
    assert FIG["logic_leakage"].value == pytest.approx(0.03338, rel=1e-3)  # 33.4 mW/mm2
    assert FIG["logic_leakage"].unit == "uW/um2" and FIG["logic_leakage"].node_nm == 45
    # The other 1x1 rows (um2, nW leakage), typed from the same file: same order of magnitude.
    rows = [(124.8912, 2832.7), (282.239998, 7780.7), (1733.129989, 64314), (2203.236034, 68980)]
    for area, leak_nw in rows:
        assert 0.6 < (leak_nw * 1e-3 / area) / FIG["logic_leakage"].value < 1.2


def test_sram_leakage_pinned_to_cacti_45nm():
    # Bit Fusion cacti_sweep.csv, 16384 B, 0.045 um itrs-hp: 27.127 mW leakage, 0.108577 mm2.
    assert FIG["sram_leakage"].value == pytest.approx(27.127 / 0.108577 / 1000, rel=1e-12)
    assert FIG["sram_leakage"].value == pytest.approx(0.2498, rel=1e-3)  # 249.8 mW/mm2
    # Smaller arrays of the same sweep (bytes, mW, mm2): 1-8 KB within 20 % of the anchor.
    for _, mw, mm2 in [(1024, 1.78934, 0.00882362), (4096, 7.30186, 0.0300607),
                       (8192, 13.6943, 0.0575061)]:  # fmt: skip
        assert mw / mm2 / 1000 == pytest.approx(FIG["sram_leakage"].value, rel=0.2)


def test_clock_density_derivation():
    # Duarte et al. 2002: clock >= 1/4 of power -> clock = (dyn + leak) / 3 of the 8/8 PE.
    pj_per_cycle = (148845 + 22952) * 1e-9 / 3 / 500e6 * 1e12
    assert pj_per_cycle == pytest.approx(0.11453, rel=1e-4)
    assert FIG["clock"].value == pytest.approx(pj_per_cycle / 687.6072, rel=1e-12)
    assert FIG["clock"].unit == "pJ/cycle/um2"
    for f in C.STATIC_FIGURES_45NM:
        assert f.source and f.derivation


def test_defaults_are_the_table():
    d = C.StaticDensities()
    assert d.logic_leakage_uw_per_um2 == FIG["logic_leakage"].value
    assert d.sram_leakage_uw_per_um2 == FIG["sram_leakage"].value
    assert d.clock_pj_per_cycle_um2 == FIG["clock"].value


def test_node_scaling_exact_at_anchors_and_monotone():
    assert C.node_density_factor(45) == 1.0
    assert C.static_densities(45) == C.StaticDensities()
    # 7 nm: the dynamic-energy ratio over the ideal area ratio (7/45)^2.
    k7 = C.GEOMEAN_7NM_RATIO / (7 / 45) ** 2
    assert C.node_density_factor(7) == pytest.approx(k7, rel=1e-12)
    assert 10 <= k7 <= 20  # Cui et al. IGCC 2014: 7 nm FinFET power density 10-20x 45 nm
    d7 = C.static_densities(7)
    assert d7.logic_leakage_uw_per_um2 == pytest.approx(FIG["logic_leakage"].value * k7)
    nodes = sorted(C.SUPPORTED_NODES_NM, reverse=True)
    factors = [C.node_density_factor(n) for n in nodes]
    assert all(a < b for a, b in zip(factors, factors[1:], strict=False))
    # The same design (area scaled ideally) leaks less at each smaller node.
    per_design = [C.node_density_factor(n) * (n / 45) ** 2 for n in nodes]
    assert all(a > b for a, b in zip(per_design, per_design[1:], strict=False))


def test_hand_computed_energy():
    # 1 mm2 logic + 1 mm2 SRAM for 1000 cycles at 1 GHz (1 us), 45 nm:
    # logic 33.38 mW x 1 us = 33.38 nJ; SRAM 249.8 mW x 1 us = 249.8 nJ; clock 0.1666 nJ/cycle.
    e = C.static_energy_parts_pj({"logic": 1e6, "sram": 1e6}, 1000, 1e9)
    assert e["logic_leakage"] == pytest.approx(22.952 / 687.6072 * 1e6 * 1e-6 * 1e-6 * 1e12)
    assert e["logic_leakage"] == pytest.approx(33380, rel=1e-3)
    assert e["sram_leakage"] == pytest.approx(249840, rel=1e-3)
    assert e["clock"] == pytest.approx(1000 * 1e6 * 0.11453 / 687.6072, rel=1e-4)
    assert C.static_energy_parts_pj({"pe": 1e6, "sram": 1e6}, 1000, 1e9) == e  # "pe" = logic


@settings(max_examples=30, deadline=None)
@given(
    st.floats(0, 1e8),
    st.floats(0, 1e8),
    st.integers(0, 10**9),
    st.integers(1, 5),
    st.sampled_from(C.SUPPORTED_NODES_NM),
)
def test_linear_in_cycles_and_area(logic, sram, cycles, k, node):
    e1 = C.static_energy_parts_pj({"logic": logic, "sram": sram}, cycles, 1e9, node)
    ek = C.static_energy_parts_pj({"logic": logic, "sram": sram}, cycles * k, 1e9, node)
    ea = C.static_energy_parts_pj({"logic": logic * k, "sram": sram * k}, cycles, 1e9, node)
    for part in e1:
        assert ek[part] == pytest.approx(k * e1[part], rel=1e-9, abs=1e-9)
        assert ea[part] == pytest.approx(k * e1[part], rel=1e-9, abs=1e-9)


def test_zero_cycles_zero_energy_and_frequency_dependence():
    zero = C.static_energy_parts_pj({"logic": 5e5, "sram": 5e5}, 0, 1e9)
    assert zero == {"logic_leakage": 0.0, "sram_leakage": 0.0, "clock": 0.0}
    assert C.static_energy_parts_pj({}, 100, 1e9) == zero
    slow = C.static_energy_parts_pj({"logic": 1e5, "sram": 1e5}, 100, 5e8)
    fast = C.static_energy_parts_pj({"logic": 1e5, "sram": 1e5}, 100, 1e9)
    assert slow["logic_leakage"] == pytest.approx(2 * fast["logic_leakage"])  # leakage ~ time
    assert slow["sram_leakage"] == pytest.approx(2 * fast["sram_leakage"])
    assert slow["clock"] == fast["clock"]  # clock ~ cycles
    assert C.static_energy_parts_pj({"logic": 1e5}, np.int64(100), 1e9) == pytest.approx(
        C.static_energy_parts_pj({"logic": 1e5}, 100, 1e9)
    )


@pytest.mark.parametrize(
    ("args", "match"),
    [
        (({"logic": 1.0}, -1, 1e9), "cycles must be an int >= 0"),
        (({"logic": 1.0}, 1.5, 1e9), "cycles must be an int >= 0"),
        (({"logic": 1.0}, True, 1e9), "cycles must be an int >= 0"),
        (({"logic": 1.0}, 10, 0.0), "freq_hz must be a finite number > 0"),
        (({"logic": 1.0}, 10, math.inf), "freq_hz must be a finite number > 0"),
        (({"logic": 1.0}, 10, 1e9, 13), "unknown technology node 13"),
        (({"logic": 1.0}, 10, 1e9, 65), "unknown technology node 65"),
        (({"dram": 1.0}, 10, 1e9), "unknown area kind 'dram'"),
        (({"sram": -1.0}, 10, 1e9), "area of 'sram' must be a finite number >= 0"),
        (({"logic": math.nan}, 10, 1e9), "area of 'logic' must be a finite number >= 0"),
    ],
)
def test_bad_input(args, match):
    with pytest.raises(ValueError, match=match):
        C.static_energy_parts_pj(*args)


def test_bad_densities():
    with pytest.raises(ValueError, match="logic_leakage_uw_per_um2 must be >= 0"):
        C.StaticDensities(logic_leakage_uw_per_um2=-0.1)
    with pytest.raises(ValueError, match="clock_pj_per_cycle_um2 must be a finite number"):
        C.StaticDensities(clock_pj_per_cycle_um2=math.nan)
    with pytest.raises(ValueError, match="unknown technology node"):
        C.static_densities(3)


def test_custom_densities_override():
    base = C.StaticDensities(1.0, 0.0, 0.0)
    e = C.static_energy_parts_pj({"logic": 10.0, "sram": 10.0}, 1000, 1e9, base=base)
    assert e == {"logic_leakage": pytest.approx(10.0), "sram_leakage": 0.0, "clock": 0.0}


def test_costing_layer_static_energy():
    acc = systolic(4, 4, freq_hz=1e9)
    area = {"pe": 2e4, "sram": 3e5}
    out, note = layer_static_energy_pj(acc, area, 1000)
    assert note == ""
    parts = C.static_energy_parts_pj(area, 1000, 1e9)
    assert out["energy_leak_logic_pj"] == parts["logic_leakage"]
    assert out["energy_leak_sram_pj"] == parts["sram_leakage"]
    assert out["energy_clock_pj"] == parts["clock"]
    assert out["energy_static_pj"] == pytest.approx(sum(out[c] for c in STATIC_COLUMNS))
    dyn = {"energy_pe_pj": 1.0, "energy_sram_pj": 2.0, "energy_dram_pj": 3.0, "energy_pj": 6.0}
    tot = total_energy_pj(dyn, out)
    assert tot["energy_dynamic_pj"] == 6.0
    assert tot["energy_pj"] == pytest.approx(6.0 + out["energy_static_pj"])
    nan, note = layer_static_energy_pj(acc, {"pe": math.nan, "sram": 1.0}, 10)
    assert math.isnan(nan["energy_static_pj"]) and "area unknown" in note
    bad, note = layer_static_energy_pj(acc, area, -5)
    assert math.isnan(bad["energy_static_pj"]) and "cycles must be" in note


def test_layer_sram_energy_is_node_scaled():
    # Regression: layer_energy_pj priced SRAM accesses at 45 nm whatever node_nm was.
    from hwsim.accel.arch import OPERANDS
    from hwsim.accel.costing import layer_energy_pj

    acc = systolic(4, 4)
    row: dict = {"events": {}}
    for o in OPERANDS:
        row |= {f"sram_read_bytes_{o}": 1000, f"sram_write_bytes_{o}": 0}
        row |= {f"dram_read_bytes_{o}": 0, f"dram_write_bytes_{o}": 0}
    e45, _ = layer_energy_pj(acc, row, 45)
    e7, _ = layer_energy_pj(acc, row, 7)
    bits = 8 * 1000
    hand = sum(bits * C.sram_pj_per_bit(acc.buffer(o).size_bytes / acc.buffer(o).banks)
               for o in OPERANDS)  # fmt: skip
    assert e45["energy_sram_pj"] == pytest.approx(hand)
    assert e7["energy_sram_pj"] == pytest.approx(hand * C.GEOMEAN_7NM_RATIO)
    assert e7["energy_pj"] == pytest.approx(e7["energy_sram_pj"])


def test_density_table_covers_supported_nodes():
    t = C.static_density_table()
    assert list(t["node_nm"]) == list(C.SUPPORTED_NODES_NM)
    first = t.iloc[0]
    assert first["node_nm"] == 45 and first["sram_leakage_uw_per_um2"] == FIG["sram_leakage"].value
    for col in ("logic_leakage_uw_per_um2", "sram_leakage_uw_per_um2", "clock_pj_per_cycle_um2"):
        assert t.sort_values("node_nm", ascending=False)[col].is_monotonic_increasing

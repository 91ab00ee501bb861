"""Register-file level and accumulator buffer: partial sums stay on chip exactly when the
accumulator buffer holds them, energy per access (the walker oracle of the accelerator's
dram/accum/sram/reg nests is in tests/test_loopnest_oracle.py)."""

from __future__ import annotations

import pytest

import hwsim
from hwsim import accel, workloads
from hwsim.accel import cost
from hwsim.accel.mapping.access import count_accesses
from hwsim.accel.mapping.gemm_mapper import map_gemm, pinned_nest
from hwsim.accel.mapping.problem import gemm_problem
from hwsim.accel.nest_engine import dram_traffic
from hwsim.accel.pe_adapter import PETiming

BITS8 = {"act": 8, "weight": 8, "out": 8}


# 6 x 5 x 8 GEMM, SRAM tile M2 N2 K2 on a 2 x 2 WS array, DRAM order N > K > M: K is split in
# 4 at DRAM with the M loop inside it, so each of the 30 outputs is visited 4 times.
PIN = {"g": {"tiles": {"M": 2, "N": 2, "K": 2}, "order": ["N", "K", "M", "B"]}}


def _row(accumulator_bytes):
    acc = accel.systolic(2, 2, dataflow="ws", accumulator_bytes=accumulator_bytes)
    rep = hwsim.simulate(acc, workloads.gemm(6, 5, 8, name="g"), mapping=PIN)
    return acc, rep.layers.iloc[0]


@pytest.mark.parametrize("accumulator_bytes", [None, 47])
def test_k_split_spills_partial_sums_at_acc_width_without_room(accumulator_bytes):
    # the accumulator block is M6 x N2 = 12 partial sums x 4 bytes = 48 bytes: 47 is too small.
    # Hand count: 30 outputs x 3 spills x 4 bytes (int_mac accumulates in 32 bits) = 360 bytes
    # read back and written, plus the 30 int8 finals.
    _, row = _row(accumulator_bytes)
    assert row["dram_read_bytes_out"] == 30 * 3 * 4
    assert row["dram_write_bytes_out"] == 30 * 3 * 4 + 30
    assert row["sram_write_bytes_accum"] == 0
    assert "accum" not in row["mapping"]


def test_k_split_never_spills_when_the_accumulator_holds_the_block():
    _, row = _row(48)
    assert row["dram_read_bytes_out"] == 0
    assert row["dram_write_bytes_out"] == 30  # the finals, once, in int8
    # accumulator: 30 x 4 updates written; 30 x 3 refills + 30 final reads, 4 bytes each
    assert row["sram_write_bytes_accum"] == 30 * 4 * 4
    assert row["sram_read_bytes_accum"] == (30 * 3 + 30) * 4
    assert row["mapping"].endswith("accum M")


def test_register_level_counts_and_energy_by_hand():
    acc, row = _row(None)
    # WS: each of the 40 weights is loaded into its PE once (the DRAM M loop sits inside K,
    # the PE keeps its weight) and read by each of the 6 MACs using it
    assert row["reg_write_bytes_weight"] == 40
    assert row["reg_read_bytes_weight"] == 6 * 5 * 8
    rf = cost.register_file_cost(cost.RegisterFileConfig(1, 8))
    assert rf.read_pj == 0  # one entry: no read mux
    assert row["energy_reg_pj"] == pytest.approx(40 * rf.write_pj)
    base = hwsim.simulate(acc, workloads.gemm(6, 5, 8, name="g"), mapping=PIN)
    parts = ("energy_pe_pj", "energy_sram_pj", "energy_dram_pj", "energy_reg_pj",
             "energy_accum_pj")  # fmt: skip
    assert base.layers["energy_dynamic_pj"].iloc[0] == pytest.approx(sum(row[p] for p in parts))


def test_accumulator_energy_is_sram_per_bit_of_its_size():
    acc, row = _row(48)
    bits = 8 * (row["sram_read_bytes_accum"] + row["sram_write_bytes_accum"])
    assert row["energy_accum_pj"] == pytest.approx(bits * cost.sram_pj_per_bit(48))


def test_mapper_respects_accumulator_capacity_and_never_loses():
    timing = PETiming("int_mac", ())
    prob = gemm_problem(512, 1024, 4096)
    small = dict(act_sram_bytes=16384, weight_sram_bytes=16384, out_sram_bytes=16384)
    no = accel.systolic(16, 16, dataflow="ws", dram_bw=16, **small)
    for cap in (256, 4096, 65536):
        acc = accel.systolic(16, 16, dataflow="ws", dram_bw=16, accumulator_bytes=cap, **small)
        for obj in ("latency", "energy"):
            ch, ch0 = map_gemm(acc, prob, timing.dot_cycles, 32.0, obj), None
            ch0 = map_gemm(no, prob, timing.dot_cycles, 32.0, obj)
            names = [lv.name for lv in ch.nest.levels]
            if "accum" in names:
                (a,) = [x for x in count_accesses(ch.nest) if x.level == "accum"]
                assert a.capacity * 32 / 8 <= cap
            if obj == "energy":
                assert ch.dram_bytes <= ch0.dram_bytes
            tr = dram_traffic(ch.nest, {o: acc.bits(o) for o in BITS8}, 32.0)
            moved = sum(v.sum() for part in ("read", "write") for v in tr[part].values())
            assert moved == pytest.approx(ch.dram_bytes)  # the scorer predicts the engine


def test_pinned_accumulator_nest_and_errors():
    acc = accel.systolic(2, 2, dataflow="ws", accumulator_bytes=48)
    prob = gemm_problem(6, 5, 8)
    nest = pinned_nest(acc, prob, PIN["g"], 32.0)
    assert [lv.name for lv in nest.levels] == ["dram", "accum", "sram", "reg"]
    assert pinned_nest(acc, prob, nest, 32.0) == nest  # a LoopNest of the skeleton round-trips
    with pytest.raises(ValueError, match="accum.*not double-buffered"):
        accel.Accelerator(2, 2, buffers=(*acc.buffers[:3],
                          accel.BufferConfig("accum", 64, double_buffered=True)))  # fmt: skip
    with pytest.raises(ValueError, match="accumulator_bytes|size_bytes"):
        accel.systolic(2, 2, accumulator_bytes=0)


def test_toml_accumulator_key():
    from hwsim.config import accelerator_from_dict

    acc = accelerator_from_dict(
        {"accelerator": {"rows": 4, "cols": 4}, "sram": {"accumulator_bytes": 4096}}
    )
    assert acc.accumulator_bytes == 4096

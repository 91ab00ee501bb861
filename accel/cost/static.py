"""Static (leakage) and clock energy per unit area and cycle, node-scaled.

Three densities, each anchored at 45 nm and derived from a published figure (arithmetic in
:data:`STATIC_FIGURES_45NM`):

- logic leakage, uW per um2 of logic (PE) area;
- SRAM leakage, uW per um2 of SRAM macro area;
- clock energy, pJ per cycle per um2 of clocked logic area (tree and clock pins; charged every
  cycle, busy or stalled: no clock gating is modelled).

Node rule (the same geometric rule as the dynamic energies, :mod:`.scaling`): the static power
of one device scales like its dynamic energy, E(n)/E(45) = GEOMEAN_7NM_RATIO ** t(n), so a
design's static-to-dynamic ratio is kept; its area scales ideally, (n/45)**2. The density is
the ratio: d(n) = d(45) * GEOMEAN_7NM_RATIO ** t(n) / (n/45)**2 (14.4x at 7 nm; Cui et al.
IGCC 2014 predict 10-20x the power density for 7 nm FinFET vs 45 nm CMOS circuits).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, fields
from numbers import Integral, Real

import pandas as pd

from hwsim.accel.cost import scaling
from hwsim.accel.cost import sources as S


@dataclass(frozen=True)
class StaticFigure:
    """One published (or derived) static/clock figure at ``node_nm``, with its arithmetic."""

    name: str
    value: float
    unit: str
    node_nm: float
    source: str
    derivation: str


# Bit Fusion 1x1 fixed 8b x 8b MAC PE, 45 nm, 500 MHz (systolic_array_synth.csv row N=M=1,
# max/min precision 8/8): area 687.6072 um2, leakage 22952 nW, dynamic 148845 nW.
_BF_AREA_UM2 = 687.6072
_BF_LEAK_NW = 22952.0
_BF_DYN_NW = 148845.0
_BF_FREQ_HZ = 500e6
#: The PE's total energy per cycle (pJ): (dynamic + leakage) nW x 1e-9 W/nW / Hz x 1e12 pJ/J.
_BF_PJ_PER_CYCLE = (_BF_DYN_NW + _BF_LEAK_NW) * 1e-9 / _BF_FREQ_HZ * 1e12
# CACTI 45 nm itrs-hp, 360 K, 16384-byte RAM (cacti_sweep.csv): leakage 27.127 mW, 0.108577 mm2.
_CACTI_LEAK_MW = 27.127
_CACTI_AREA_MM2 = 0.108577
# Duarte et al. 2002: clock >= 1/4 of the power budget, so clock = (rest of the power) / 3.
_CLOCK_SHARE = 0.25

#: The 45 nm anchors (units in ``unit``); each ``derivation`` writes the arithmetic down.
STATIC_FIGURES_45NM: tuple[StaticFigure, ...] = (
    StaticFigure(
        "logic_leakage",
        _BF_LEAK_NW * 1e-3 / _BF_AREA_UM2,
        "uW/um2",
        45,
        S.BITFUSION_SYNTH,
        "22952 nW = 22.952 uW over 687.6072 um2 = 0.03338 uW/um2 (33.4 mW/mm2); the other 1x1 "
        "rows give 0.023-0.037 uW/um2",
    ),
    StaticFigure(
        "sram_leakage",
        _CACTI_LEAK_MW / _CACTI_AREA_MM2 * 1e-3,
        "uW/um2",
        45,
        S.BITFUSION_CACTI,
        "27.127 mW over 0.108577 mm2 = 249.8 mW/mm2 = 0.2498 uW/um2 (16 KB RAM; the "
        "single-ported 1-8 KB points give 203-243 mW/mm2); itrs-hp at 360 K is a hot, leaky "
        "corner: an upper bound",
    ),
    StaticFigure(
        "clock",
        _BF_PJ_PER_CYCLE * _CLOCK_SHARE / (1 - _CLOCK_SHARE) / _BF_AREA_UM2,
        "pJ/cycle/um2",
        45,
        f"derived: {S.DUARTE_2002_CLOCK}; applied to {S.BITFUSION_SYNTH}",
        "clock = 1/4 of total, so clock = (dynamic + leakage)/3 of the Bit Fusion 8/8 PE = "
        "(148845 + 22952) nW / 3 = 57265.7 nW; / 500 MHz = 0.11453 pJ/cycle; / 687.6072 um2 "
        "= 1.666e-4 pJ/cycle/um2",
    ),
)


def _figure(name: str) -> float:
    return next(f.value for f in STATIC_FIGURES_45NM if f.name == name)


@dataclass(frozen=True)
class StaticDensities:
    """Static densities at one node: leakage in uW/um2, clock in pJ/cycle/um2 of logic."""

    logic_leakage_uw_per_um2: float = _figure("logic_leakage")
    sram_leakage_uw_per_um2: float = _figure("sram_leakage")
    clock_pj_per_cycle_um2: float = _figure("clock")

    def __post_init__(self) -> None:
        for f in fields(self):
            v = getattr(self, f.name)
            if isinstance(v, bool) or not isinstance(v, Real) or not math.isfinite(v):
                raise ValueError(f"StaticDensities.{f.name} must be a finite number, got {v!r}")
            if v < 0:
                raise ValueError(f"StaticDensities.{f.name} must be >= 0, got {v!r}")


def node_density_factor(node_nm: float) -> float:
    """d(n)/d(45) = GEOMEAN_7NM_RATIO ** t(n) / (n/45)**2 (see the module docstring)."""
    if node_nm not in scaling.SUPPORTED_NODES_NM:
        raise ValueError(
            f"unknown technology node {node_nm!r} nm; supported: {list(scaling.SUPPORTED_NODES_NM)}"
        )
    e = scaling.scale_energy_node(1.0, None, node_nm)
    return e / scaling.scale_area_node(1.0, node_nm)


def static_densities(node_nm: float = 45, base: StaticDensities | None = None) -> StaticDensities:
    """``base`` (45 nm values; default: the published anchors) scaled to ``node_nm``."""
    base = base or StaticDensities()
    k = node_density_factor(node_nm)
    return StaticDensities(*(getattr(base, f.name) * k for f in fields(base)))


def static_density_table(base: StaticDensities | None = None) -> pd.DataFrame:
    """One row per supported node: the three densities (units in the column names)."""
    rows = []
    for n in scaling.SUPPORTED_NODES_NM:
        d = static_densities(n, base)
        rows.append({"node_nm": n, **{f.name: getattr(d, f.name) for f in fields(d)}})
    return pd.DataFrame(rows)


#: Area kinds accepted by :func:`static_energy_parts_pj`; "pe" is PE-array logic.
AREA_KINDS = {"logic": "logic", "pe": "logic", "sram": "sram"}


def static_energy_parts_pj(
    area_um2_by_kind: Mapping[str, float],
    cycles: int,
    freq_hz: float,
    node_nm: float = 45,
    base: StaticDensities | None = None,
) -> dict[str, float]:
    """Energy (pJ) over ``cycles`` at ``freq_hz`` of areas (um2, at ``node_nm``) by kind.

    ``area_um2_by_kind``: {"logic" or "pe": um2, "sram": um2} (missing kinds count as 0).
    Returns {"logic_leakage": pJ, "sram_leakage": pJ, "clock": pJ}: leakage = density (uW/um2)
    x area x cycles / freq_hz; clock = density (pJ/cycle/um2) x logic area x cycles.
    """
    if isinstance(cycles, bool) or not isinstance(cycles, Integral) or cycles < 0:
        raise ValueError(f"cycles must be an int >= 0, got {cycles!r}")
    if isinstance(freq_hz, bool) or not (
        isinstance(freq_hz, Real) and math.isfinite(freq_hz) and freq_hz > 0
    ):
        raise ValueError(f"freq_hz must be a finite number > 0, got {freq_hz!r}")
    d = static_densities(node_nm, base)
    area = {"logic": 0.0, "sram": 0.0}
    for kind, a in area_um2_by_kind.items():
        if kind not in AREA_KINDS:
            raise ValueError(f"unknown area kind {kind!r}; known: {sorted(AREA_KINDS)}")
        if isinstance(a, bool) or not (isinstance(a, Real) and math.isfinite(a) and a >= 0):
            raise ValueError(f"area of {kind!r} must be a finite number >= 0 um2, got {a!r}")
        area[AREA_KINDS[kind]] += float(a)
    seconds = int(cycles) / freq_hz
    return {
        "logic_leakage": d.logic_leakage_uw_per_um2 * area["logic"] * 1e-6 * seconds * 1e12,
        "sram_leakage": d.sram_leakage_uw_per_um2 * area["sram"] * 1e-6 * seconds * 1e12,
        "clock": d.clock_pj_per_cycle_um2 * area["logic"] * int(cycles),
    }

"""Tidy energy/area reports from plain inputs (event counts, SRAM accesses, DRAM bytes).

Every report row keeps the ``source`` of its per-unit number so a study can say where it came
from. Inputs are plain dicts and frozen dataclasses so the simulator can build them directly.
"""

from __future__ import annotations

import numbers
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import pandas as pd

from hwsim.accel.cost.costtable import CostTable
from hwsim.accel.cost.events import event_energy_pj, parse_event
from hwsim.accel.cost.memory import DramSpec, SramConfig, dram_spec, sram_cost, static_energy_pj

ENERGY_COLUMNS = [
    "category",
    "component",
    "level",
    "operand",
    "item",
    "count",
    "pj_each",
    "pj_total",
    "source",
]
AREA_COLUMNS = ["category", "component", "item", "count", "um2_each", "um2_total", "source"]


@dataclass(frozen=True)
class SramAccesses:
    """Read/write access counts (accesses of ``config.word_bits`` bits) of one SRAM buffer."""

    level: str
    operand: str
    config: SramConfig
    reads: int
    writes: int = 0

    def __post_init__(self) -> None:
        for name in ("reads", "writes"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < 0:
                raise ValueError(f"SramAccesses.{name} must be an int >= 0, got {v!r}")
            object.__setattr__(self, name, int(v))


@dataclass(frozen=True)
class DramTraffic:
    """Bytes read from / written to off-chip memory for one operand."""

    operand: str
    read_bytes: int
    write_bytes: int = 0
    spec: DramSpec | str = "ddr"

    def __post_init__(self) -> None:
        for name in ("read_bytes", "write_bytes"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < 0:
                raise ValueError(f"DramTraffic.{name} must be an int >= 0, got {v!r}")
            object.__setattr__(self, name, int(v))


def energy_breakdown(
    compute_events: Mapping[str, Mapping[str, int]] | None = None,
    sram: Iterable[SramAccesses] = (),
    dram: Iterable[DramTraffic] = (),
    static_mw: Mapping[str, float] | None = None,
    cycles: int = 0,
    freq_hz: float | None = None,
    node_nm: float = 45,
    table: CostTable | None = None,
) -> pd.DataFrame:
    """One row per (category, component, level, operand, item) with pJ each and total.

    ``compute_events``: component -> {event name -> count} (summed over all its instances).
    ``static_mw``: component -> leakage/clock power (mW), charged over ``cycles`` at
    ``freq_hz``; SRAM leakage (``SramConfig.leakage_mw``) is charged the same way.
    """
    rows: list[tuple] = []
    for comp, events in (compute_events or {}).items():
        df = event_energy_pj(events, node_nm, table)
        for r in df.itertuples(index=False):
            rows.append(("compute", comp, "pe", "", r.name, r.count, r.pj_each, r.source))
    needs_time = bool(static_mw) or any(s.config.leakage_mw for s in sram)
    if needs_time and not (freq_hz and freq_hz > 0):
        raise ValueError("static/leakage power given: freq_hz must be > 0")
    for s in sram:
        c = sram_cost(s.config)
        rows.append(("sram", s.level, s.level, s.operand, "read", s.reads, c.read_pj, c.source))
        rows.append(("sram", s.level, s.level, s.operand, "write", s.writes, c.write_pj, c.source))
        if s.config.leakage_mw:
            e = static_energy_pj(s.config.leakage_mw, 1, freq_hz)
            rows.append(("static", s.level, s.level, s.operand, "leakage", cycles, e, "given"))
    for d in dram:
        spec = dram_spec(d.spec) if isinstance(d.spec, str) else d.spec
        rows.append(
            (
                "dram",
                spec.name,
                "dram",
                d.operand,
                "read_bytes",
                d.read_bytes,
                8 * spec.read_pj_per_bit,
                spec.source,
            )
        )
        rows.append(
            (
                "dram",
                spec.name,
                "dram",
                d.operand,
                "write_bytes",
                d.write_bytes,
                8 * spec.write_pj_per_bit,
                spec.source,
            )
        )
    for comp, mw in (static_mw or {}).items():
        e = static_energy_pj(mw, 1, freq_hz)
        rows.append(("static", comp, "", "", "static", cycles, e, "given"))
    out = pd.DataFrame(rows, columns=[c for c in ENERGY_COLUMNS if c != "pj_total"])
    out["count"] = out["count"].astype("int64")
    out["pj_each"] = out["pj_each"].astype("float64")
    out["pj_total"] = out["count"] * out["pj_each"]
    return out[ENERGY_COLUMNS]


def summarize(df: pd.DataFrame, by: str | list[str] = "category", value: str = "pj_total"):
    """Totals of ``value`` grouped ``by`` with each group's share of the whole (0..1)."""
    g = df.groupby(by, sort=True, as_index=False)[value].sum()
    total = g[value].sum()
    g["share"] = g[value] / total if total else 0.0
    return g


def area_breakdown(
    units: Mapping[str, Mapping[str, int]] | None = None,
    instances: Mapping[str, int] | None = None,
    sram: Mapping[str, SramConfig] | None = None,
    extra_um2: Mapping[str, float] | None = None,
    node_nm: float = 45,
    table: CostTable | None = None,
    pnr_factor: float = 1.0,
) -> pd.DataFrame:
    """Area rows (um2): logic units per component x instances, SRAM macros, extra blocks.

    ``units``: component -> {unit (event grammar, e.g. ``mul_8x8``) -> units per instance;
    a fraction is a unit time-shared between instances};
    ``instances``: component -> instance count (default 1); ``pnr_factor`` multiplies logic
    area explicitly (BitMoD uses 1.5 for place and route), default 1.0.
    """
    if not pnr_factor > 0:
        raise ValueError(f"pnr_factor must be > 0, got {pnr_factor}")
    table = table or CostTable.default()
    instances = instances or {}
    rows: list[tuple] = []
    for comp, per in (units or {}).items():
        n = instances.get(comp, 1)
        if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 0:
            raise ValueError(f"instances of {comp!r} must be an int >= 0, got {n!r}")
        for name, k in per.items():
            if isinstance(k, bool) or not isinstance(k, int | float) or not k >= 0:
                raise ValueError(f"unit count of {name!r} in {comp!r} must be a number >= 0")
            op, bits = parse_event(name)
            c = table.op_cost(op, bits, node_nm)
            if c.area_um2 is None:
                raise ValueError(f"no area figure for unit {name!r}: {c.area_source}")
            src = c.area_source + (f"; x pnr_factor {pnr_factor:g}" if pnr_factor != 1 else "")
            rows.append(("logic", comp, name, k * n, c.area_um2 * pnr_factor, src))
    for name, cfg in (sram or {}).items():
        c = sram_cost(cfg)
        rows.append(("sram", name, f"{cfg.capacity_bytes} B", 1, c.area_um2, c.source))
    for name, um2 in (extra_um2 or {}).items():
        if not um2 >= 0:
            raise ValueError(f"extra area {name!r} must be >= 0, got {um2}")
        rows.append(("extra", name, name, 1, float(um2), "given"))
    out = pd.DataFrame(rows, columns=[c for c in AREA_COLUMNS if c != "um2_total"])
    out["count"] = out["count"].astype("float64")
    out["um2_each"] = out["um2_each"].astype("float64")
    out.insert(5, "um2_total", out["count"] * out["um2_each"])
    return out[AREA_COLUMNS]


def efficiency(
    energy_pj: float,
    macs: int,
    cycles: int,
    freq_hz: float,
    area_um2: float | None = None,
    ops_per_mac: int = 2,
) -> pd.DataFrame:
    """Energy per MAC (pJ), TOPS, power (W), TOPS/W and TOPS/mm2, one row per metric.

    TOPS/W = ops / energy = ops_per_mac * macs / (energy_pj * 1e-12) / 1e12.
    """
    if not (energy_pj > 0 and macs > 0 and cycles > 0 and freq_hz > 0):
        raise ValueError(
            f"energy_pj, macs, cycles and freq_hz must be > 0, got {energy_pj}, {macs}, "
            f"{cycles}, {freq_hz}"
        )
    seconds = cycles / freq_hz
    ops = ops_per_mac * macs
    rows = [
        ("energy_per_mac", energy_pj / macs, "pJ/MAC"),
        ("time", seconds, "s"),
        ("throughput", ops / seconds / 1e12, "TOPS"),
        ("power", energy_pj * 1e-12 / seconds, "W"),
        ("tops_per_w", ops / energy_pj, "TOPS/W"),
    ]
    if area_um2 is not None:
        if not area_um2 > 0:
            raise ValueError(f"area_um2 must be > 0, got {area_um2}")
        rows.append(("area", area_um2 * 1e-6, "mm2"))
        rows.append(("tops_per_mm2", ops / seconds / 1e12 / (area_um2 * 1e-6), "TOPS/mm2"))
    return pd.DataFrame(rows, columns=["metric", "value", "unit"])

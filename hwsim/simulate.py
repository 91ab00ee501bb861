"""simulate(acc, workload): run every layer through the SimPy accelerator model.

Identical layers (same shape on the same accelerator) are simulated once and reused; layers
run one after another (no inter-layer overlap).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from hwsim.accel import (
    TIMELINE_COLUMNS,
    Accelerator,
    Heterogeneous,
    PETiming,
    simulate_elementwise,
    simulate_gemm,
)
from hwsim.accel.costing import array_area_um2, layer_energy_pj
from hwsim.workloads import Layer, Workload

STALL_CAUSES = ("dram_bw", "capacity", "dependency")
#: dot-product length (MACs) at which a PE's peak MACs per cycle is measured: long enough that
#: per-dot setup cycles vanish (the same length as hwsim.plots.accelerator_peaks)
PEAK_K = 1 << 16


@dataclass(frozen=True)
class Report:
    """Simulation result: totals (cycles, pJ, um2) and one row per layer in ``layers``.

    Three throughput measures that differ for multi-lane and bit-serial PEs:
    ``utilization`` (alias ``array_busy_fraction``): PE-cycles spent computing / (PEs x
    cycles), whatever a PE does per cycle; ``macs_per_cycle``: MACs / cycles;
    ``peak_fraction``: macs_per_cycle / ``peak_macs_per_cycle`` (PEs x the PE's MACs per
    cycle on a long dot product)."""

    cycles: int
    stall_cycles: int
    utilization: float
    energy_pj: float
    area_um2: float
    layers: pd.DataFrame = field(repr=False)
    area_pe_um2: float = math.nan  # PE array logic (approximate unit inventory, see pe_adapter)
    area_sram_um2: float = math.nan  # on-chip buffers
    timeline: pd.DataFrame | None = field(default=None, repr=False)
    notes: tuple[str, ...] = ()
    macs: float = math.nan  # multiply-accumulates of the whole workload
    peak_macs_per_cycle: float = math.nan  # PEs x MACs per PE-cycle (largest cluster)

    @property
    def array_busy_fraction(self) -> float:
        """PE-cycles spent computing / (PEs x cycles): the same number as ``utilization``."""
        return self.utilization

    @property
    def macs_per_cycle(self) -> float:
        """Achieved MACs per cycle."""
        return self.macs / self.cycles if self.cycles else 0.0

    @property
    def peak_fraction(self) -> float:
        """Achieved / peak MACs per cycle (0..1)."""
        return self.macs_per_cycle / self.peak_macs_per_cycle

    @property
    def stalls(self) -> dict[str, float]:
        """Stall cycles by cause (cycles)."""
        return {c: float(self.layers[f"stall_{c}"].sum()) for c in STALL_CAUSES}

    @property
    def bytes_moved(self) -> pd.Series:
        """Bytes moved per level and operand (summed over layers)."""
        cols = [c for c in self.layers.columns if c.startswith(("dram_", "sram_"))]
        return self.layers[cols].sum()

    @property
    def events(self) -> dict[str, int]:
        """PE event counts for the energy model, summed over layers."""
        out: dict[str, int] = {}
        for ev in self.layers["events"]:
            for k, v in ev.items():
                out[k] = out.get(k, 0) + v
        return out

    def write_timeline(self, path: str | Path) -> Path:
        """Write the tile/transfer timeline (needs ``simulate(..., timeline=True)``) as CSV."""
        if self.timeline is None:
            raise ValueError("no timeline recorded; call simulate(..., timeline=True)")
        path = Path(path)
        self.timeline.to_csv(path, index=False)
        return path


def _run_layer(acc: Accelerator, timing: PETiming, layer: Layer, timeline: list | None) -> dict:
    if layer.kind == "elementwise":
        return simulate_elementwise(acc, layer.m, layer.inputs, layer.name, timeline)
    return simulate_gemm(acc, timing, layer.m, layer.n, layer.k, layer.batch, layer.name, timeline)


def _as_workload(workload) -> Workload:
    if isinstance(workload, Workload):
        return workload
    if isinstance(workload, Layer):
        return Workload(workload.name, (workload,))
    raise ValueError(f"workload must be a hwsim.workloads.Workload or Layer, got {type(workload)}")


def simulate(
    acc: Accelerator | Heterogeneous,
    workload: Workload | Layer,
    *,
    timeline: bool = False,
    node_nm: float = 45,
) -> Report:
    """Simulate ``workload`` on ``acc``; ``timeline=True`` records every tile and transfer
    (use for small runs; start/end cycles are offset by the preceding layers)."""
    wl = _as_workload(workload)
    clusters = acc.clusters if isinstance(acc, Heterogeneous) else (acc,)
    if not all(isinstance(a, Accelerator) for a in clusters):
        raise ValueError(f"acc must be an Accelerator or Heterogeneous, got {type(acc)}")
    pinned = dict(acc.cluster_of) if isinstance(acc, Heterogeneous) else {}
    timings = [PETiming(a.pe, a.pe_params) for a in clusters]
    cache: dict[tuple, dict] = {}
    notes: list[str] = []
    rows = []
    tl_rows: list[tuple] = []
    offset = 0
    for layer in wl.layers:
        shape = (layer.kind == "elementwise", layer.m, layer.n, layer.k, layer.batch, layer.inputs)
        options = [pinned[layer.name]] if layer.name in pinned else range(len(clusters))
        best = None
        for ci in options:
            key = (ci, *shape)
            if key not in cache:
                res = _run_layer(clusters[ci], timings[ci], layer, None)
                energy, note = layer_energy_pj(clusters[ci], res, node_nm)
                if note and note not in notes:
                    notes.append(note)
                cache[key] = {**res, **energy, "cluster": ci}
            if best is None or cache[key]["cycles"] < best["cycles"]:
                best = cache[key]
        if timeline:
            local: list = []
            _run_layer(clusters[best["cluster"]], timings[best["cluster"]], layer, local)
            for _ in range(layer.count):
                tl_rows += [(n, r, s, a + offset, b + offset) for n, r, s, a, b in local]
                offset += best["cycles"]
        row = {
            "layer": layer.name,
            "kind": layer.kind,
            "m": layer.m,
            "n": layer.n,
            "k": layer.k,
            "batch": layer.batch,
            "count": layer.count,
            **best,
        }
        rows.append(row)
    df = pd.DataFrame(rows)
    cnt = df["count"]
    scale = [
        c
        for c in df.columns
        if c.startswith(("cycles", "compute_", "stall_", "dram_", "sram_", "energy", "macs"))
    ]
    df[scale] = df[scale].mul(cnt, axis=0)
    if (cnt != 1).any():
        df["events"] = [
            {k: v * c for k, v in ev.items()} for ev, c in zip(df["events"], cnt, strict=True)
        ]
    cycles = int(df["cycles"].sum())
    busy = sum(
        u * c * clusters[ci].num_pes
        for u, c, ci in zip(df["utilization"], df["cycles"], df["cluster"], strict=True)
    )
    pes = max(a.num_pes for a in clusters)
    areas = [
        array_area_um2(a, t.unit_inventory(), node_nm)
        for a, t in zip(clusters, timings, strict=True)
    ]
    for _, note in areas:
        if note and note not in notes:
            notes.append(note)
    area_pe = float(sum(a["pe"] for a, _ in areas))
    area_sram = float(sum(a["sram"] for a, _ in areas))
    energy = float(df["energy_pj"].sum()) if df["energy_pj"].notna().all() else math.nan
    return Report(
        cycles=cycles,
        stall_cycles=int(df["stall_cycles"].sum()),
        utilization=busy / (pes * cycles) if cycles else 0.0,
        energy_pj=energy,
        area_um2=area_pe + area_sram,
        area_pe_um2=area_pe,
        area_sram_um2=area_sram,
        layers=df,
        timeline=pd.DataFrame(tl_rows, columns=list(TIMELINE_COLUMNS)) if timeline else None,
        notes=tuple(notes),
        macs=float(df["macs"].sum()),
        peak_macs_per_cycle=max(
            a.num_pes * PEAK_K / t.dot_cycles(PEAK_K)
            for a, t in zip(clusters, timings, strict=True)
        ),
    )

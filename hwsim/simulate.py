"""simulate(acc, workload): run every layer through the SimPy accelerator model.

Identical layers (same shape on the same accelerator) are simulated once and reused; layers
run one after another (``prefetch_next_layer=True``: the next layer's first weight tile is
fetched during the current layer).
"""

from __future__ import annotations

import math
from collections import Counter
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
from hwsim.accel.conv_engine import simulate_conv_nest
from hwsim.accel.costing import (
    STATIC_COLUMNS,
    array_area_um2,
    layer_energy_pj,
    layer_static_energy_pj,
    total_energy_pj,
)
from hwsim.accel.level_energy import level_energy_pj, with_level_energy
from hwsim.accel.mapping.conv_mapper import map_conv, pinned_conv_nest
from hwsim.accel.mapping.gemm_mapper import OBJECTIVES, map_gemm, nest_summary, pinned_nest
from hwsim.accel.mapping.problem import Problem, conv_problem, gemm_problem
from hwsim.accel.nest_engine import simulate_nest
from hwsim.accel.prefetch import PrefetchItem, prefetch_plan
from hwsim.workloads import Layer, Workload

STALL_CAUSES = ("dram_bw", "capacity", "dependency")
#: dot-product length (MACs) at which a PE's peak MACs per cycle is measured: long enough that
#: per-dot setup cycles vanish (the same length as hwsim.plots.accelerator_peaks)
PEAK_K = 1 << 16


@dataclass(frozen=True)
class Report:
    """Simulation result: totals (cycles, pJ, um2) and one row per layer in ``layers``.

    ``energy_pj`` = ``energy_dynamic_pj`` + ``energy_static_pj`` (hwsim.accel.cost: static
    power per area and clock energy per cycle, node-scaled; docs/cost_model.md).

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
    energy_dynamic_pj: float = math.nan  # PE events + SRAM + DRAM accesses
    energy_static_pj: float = math.nan  # leakage (logic, SRAM) + clock over the run's cycles
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
        cols = [c for c in self.layers.columns if c.startswith(("dram_", "sram_", "reg_"))]
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


MAPPINGS = ("optimal", "scalesim")
_SHARED_WEIGHT = {"gemm": True, "conv": True, "bmm": False, "attn_qk": False, "attn_pv": False}


def layer_problem(layer: Layer) -> Problem:
    """The loop-nest problem of a GEMM-like layer (attention and bmm: a weight per batch;
    a conv with geometry: its 7-dimensional conv problem)."""
    if layer.conv is not None:
        n, k, c, p, q, r, s, stride, dil, _ = layer.conv
        return conv_problem(n, k, c, p, q, r, s, stride=stride, dilation=dil, name=layer.name)
    return gemm_problem(layer.m, layer.n, layer.k, layer.batch,
                        shared_weight=_SHARED_WEIGHT[layer.kind], name=layer.name)  # fmt: skip


def _nest_for(acc: Accelerator, timing: PETiming, layer: Layer, mapping, objective: str):
    problem = layer_problem(layer)
    if layer.conv is not None:
        if isinstance(mapping, dict) and layer.name in mapping:
            return pinned_conv_nest(acc, problem, mapping[layer.name], timing.acc_bits)
        return map_conv(acc, problem, timing.dot_cycles, timing.acc_bits, objective).nest
    if isinstance(mapping, dict) and layer.name in mapping:
        return pinned_nest(acc, problem, mapping[layer.name], timing.acc_bits)
    return map_gemm(acc, problem, timing.dot_cycles, timing.acc_bits, objective).nest


def _run_layer(
    acc: Accelerator, timing: PETiming, layer: Layer, timeline: list | None,
    mapping="optimal", objective: str = "latency", prefetch: tuple[bool, float] = (False, 0.0),
) -> dict:  # fmt: skip
    if layer.kind == "elementwise":
        return simulate_elementwise(acc, layer.m, layer.inputs, layer.name, timeline,
                                    prefetch[1])  # fmt: skip
    if mapping == "scalesim":
        if acc.array != "systolic" or acc.preload_overlap:
            raise ValueError(
                "mapping='scalesim' models SCALE-Sim's plain systolic array; this accelerator "
                f"is a {acc.array} array (preload_overlap={acc.preload_overlap}): use "
                "mapping='optimal'"
            )
        row = simulate_gemm(acc, timing, layer.m, layer.n, layer.k, layer.batch, layer.name,
                            timeline)  # fmt: skip
        row["mapping"] = "scalesim"
        return row
    nest = _nest_for(acc, timing, layer, mapping, objective)
    run = simulate_conv_nest if layer.conv is not None else simulate_nest
    row = run(acc, timing, nest, timing.acc_bits, layer.name, timeline, prefetch)
    row["mapping"] = nest_summary(nest)
    return row


KV_READERS = ("attn_qk", "attn_pv")  # the attention products read K / V as second operand
_PARTS = ("dram_read_bytes", "dram_write_bytes", "sram_read_bytes", "sram_write_bytes")


def layer_accelerator(acc: Accelerator, layer: Layer, formats: dict | None) -> tuple:
    """(the accelerator as ``layer`` sees it, the operand slot holding the KV cache or None):
    per-layer format overrides first, then the KV cache in the attention products' second
    operand or in the k/v projections' output."""
    if formats:
        acc = acc.with_formats(formats)
    if layer.kind in KV_READERS:
        return acc.with_kv_in("weight"), "weight"
    if layer.kv_out:
        return acc.with_kv_in("out"), "out"
    return acc, None


def _kv_columns(row: dict, slot: str | None) -> dict:
    """Report the KV slot's traffic under ``*_kv`` (zero elsewhere)."""
    out = dict(row)
    for part in _PARTS:
        out[f"{part}_kv"] = 0.0
        if slot is not None:
            out[f"{part}_kv"] = out[f"{part}_{slot}"]
            out[f"{part}_{slot}"] = 0.0
    return out


def _layer_formats(wl: Workload, layer_formats) -> dict:
    """{layer: {operand: format}} from a dict whose values are a weight format or a dict
    (e.g. ``allocate_precision(...).choice``)."""
    if layer_formats is None:
        return {}
    if not isinstance(layer_formats, dict):
        raise ValueError(f"layer_formats must be a dict, got {type(layer_formats).__name__}")
    names = {ly.name for ly in wl.layers}
    unknown = sorted(set(layer_formats) - names)
    if unknown:
        raise ValueError(f"layer_formats names unknown layer(s) {unknown[:5]}")
    out = {}
    for name, v in layer_formats.items():
        if isinstance(v, str | int | float) and not isinstance(v, bool):
            out[name] = {"weight": v}
        elif isinstance(v, dict):
            out[name] = dict(v)
        else:
            raise ValueError(f"layer_formats[{name!r}] must be a format or a dict, got {v!r}")
    return out


PREFETCH_STALLS = ("stall_dram_bw", "stall_capacity", "stall_dependency")


def _apply_prefetch(rows: list, picked: list, cache: dict, clusters, view, variant) -> int:
    """Replace each layer row's timing by its instances' runs with inter-layer prefetch
    (:func:`~hwsim.accel.prefetch.prefetch_plan` over every instance in order; a row keeps
    per-instance means, as it is scaled by its count later). Returns instances prefetched."""
    items = []
    for layer, key in picked:
        base = cache[key]
        ci = base["cluster"]
        eff, slot = view(ci, layer)
        own_kv = slot == "weight" and any(b.name == "kv" for b in clusters[ci].buffers)
        item = PrefetchItem(
            base.get("prefetch_weight_bytes", 0.0),
            base.get("weight_tile_bytes", 0.0),
            eff.buffer("weight").size_bytes,
            (ci, "kv" if own_kv else "weight"),
        )
        items += [item] * layer.count
    plan = prefetch_plan(items)
    pos = 0
    for row, (layer, key) in zip(rows, picked, strict=True):
        runs = Counter(plan[pos : pos + layer.count])
        pos += layer.count
        if set(runs) == {(False, 0.0)}:
            continue
        total: dict = {}
        for (recv, tail), n in runs.items():
            res = cache[key] if (recv, tail) == (False, 0.0) else variant(layer, key, recv, tail)
            for c in ("cycles", "stall_cycles", *PREFETCH_STALLS, "utilization", *STATIC_COLUMNS,
                      "energy_static_pj", "energy_pj"):  # fmt: skip
                w = res["cycles"] if c == "utilization" else 1
                total[c] = total.get(c, 0.0) + n * res[c] * w
        cyc = total["cycles"]
        total["utilization"] = total["utilization"] / cyc if cyc else 0.0
        for c, v in total.items():
            row[c] = v if c == "utilization" else v / layer.count
        if layer.count == 1:
            row["cycles"] = int(row["cycles"])
            row["stall_cycles"] = int(row["stall_cycles"])
    return sum(r for r, _ in plan)


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
    mapping: str | dict = "optimal",
    objective: str = "latency",
    layer_formats: dict | None = None,
    timeline: bool = False,
    node_nm: float = 45,
    prefetch_next_layer: bool = False,
) -> Report:
    """Simulate ``workload`` on ``acc``.

    ``mapping``: ``"optimal"`` (default: the mapper's loop nest per unique layer shape, for
    ``objective`` "latency" | "energy" | "edp"), ``"scalesim"`` (SCALE-Sim's fixed fold
    orders and its traffic rules, cycle-compatible with it), or ``{layer name: LoopNest or
    its TOML/dict form}`` pinning some layers (the rest optimal). ``layer_formats``: {layer
    name: weight format, or {operand: format}} storage formats per layer (e.g.
    ``allocate_precision(...).choice``). The KV cache is its own operand: the attention
    products read K/V in ``kv`` format from the ``kv`` buffer (or the weight buffer), the k/v
    projections write it; its traffic is in the ``*_kv`` columns. ``timeline=True`` records
    every tile and transfer (use for small runs; start/end cycles are offset by the
    preceding layers; recorded without inter-layer prefetch). ``prefetch_next_layer=True``:
    each layer instance fetches the next one's first weight tile during its own last step
    when the weight buffer has room beside its own tile (always when double-buffered); the
    next instance then starts without waiting for it (cycles only: bytes and energy stay
    with the layer that uses the weights; needs ``mapping`` other than "scalesim")."""
    if isinstance(mapping, str) and mapping not in MAPPINGS:
        raise ValueError(f"mapping must be one of {MAPPINGS} or a dict of pinned layer "
                         f"mappings, got {mapping!r}")  # fmt: skip
    if not isinstance(mapping, str | dict):
        raise ValueError(f"mapping must be one of {MAPPINGS} or a dict, got {type(mapping)}")
    if objective not in OBJECTIVES:
        raise ValueError(f"objective must be one of {OBJECTIVES}, got {objective!r}")
    if not isinstance(prefetch_next_layer, bool):
        raise ValueError(f"prefetch_next_layer must be True or False, got {prefetch_next_layer!r}")
    if prefetch_next_layer and mapping == "scalesim":
        raise ValueError("prefetch_next_layer needs loop-nest mappings, not mapping='scalesim'")
    wl = _as_workload(workload)
    if isinstance(mapping, dict):
        unknown = sorted(set(mapping) - {ly.name for ly in wl.layers})
        if unknown:
            raise ValueError(f"mapping pins unknown layer(s) {unknown}")
    clusters = acc.clusters if isinstance(acc, Heterogeneous) else (acc,)
    if not all(isinstance(a, Accelerator) for a in clusters):
        raise ValueError(f"acc must be an Accelerator or Heterogeneous, got {type(acc)}")
    pinned = dict(acc.cluster_of) if isinstance(acc, Heterogeneous) else {}
    timings = [PETiming(a.pe, a.pe_params) for a in clusters]
    cache: dict[tuple, dict] = {}
    notes: list[str] = []
    rows = []
    tl_rows: list[tuple] = []
    picked: list[tuple] = []  # (layer, cache key of its chosen run)
    offset = 0
    areas = [
        array_area_um2(a, t.unit_inventory(), node_nm)
        for a, t in zip(clusters, timings, strict=True)
    ]
    chip_area = {"pe": sum(a["pe"] for a, _ in areas), "sram": sum(a["sram"] for a, _ in areas)}
    fmts = _layer_formats(wl, layer_formats)
    views: dict[tuple, tuple] = {}  # (cluster, KV slot class, formats) -> layer_accelerator

    def view(ci: int, layer: Layer) -> tuple:
        over = fmts.get(layer.name)
        key = (ci, layer.kind in KV_READERS, layer.kv_out,
               tuple(sorted(over.items())) if over else ())  # fmt: skip
        if key not in views:
            views[key] = layer_accelerator(clusters[ci], layer, over)
        return views[key]

    for layer in wl.layers:
        shape = (layer.kind, layer.m, layer.n, layer.k, layer.batch, layer.inputs, layer.kv_out,
                 layer.conv)  # fmt: skip
        if isinstance(mapping, dict) and layer.name in mapping:
            shape = (*shape, layer.name)  # a pinned mapping is its own entry
        options = [pinned[layer.name]] if layer.name in pinned else range(len(clusters))
        best = best_key = None
        for ci in options:
            eff, slot = view(ci, layer)
            key = (ci, *shape, eff.formats, eff.buffers)
            if key not in cache:
                res = _run_layer(eff, timings[ci], layer, None, mapping, objective)
                energy, note = layer_energy_pj(eff, res, node_nm)
                energy = with_level_energy(energy, level_energy_pj(eff, res, node_nm))
                res = _kv_columns(res, slot)
                if note and note not in notes:
                    notes.append(note)
                static, snote = layer_static_energy_pj(
                    clusters[ci], chip_area, res["cycles"], node_nm
                )
                if snote and snote not in notes:
                    notes.append(snote)
                total = total_energy_pj(energy, static)
                cache[key] = {**res, **energy, **static, **total, "cluster": ci}
            if best is None or cache[key]["cycles"] < best["cycles"]:
                best, best_key = cache[key], key
        if timeline:
            local: list = []
            eff, _ = view(best["cluster"], layer)
            _run_layer(eff, timings[best["cluster"]], layer, local, mapping, objective)
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
        picked.append((layer, best_key))
    if prefetch_next_layer:

        def variant(layer: Layer, key: tuple, recv: bool, tail: float) -> dict:
            vkey = (*key, "prefetch", recv, tail)
            if vkey not in cache:
                base = cache[key]
                ci = base["cluster"]
                eff, _ = view(ci, layer)
                res = _run_layer(eff, timings[ci], layer, None, mapping, objective, (recv, tail))
                static, _ = layer_static_energy_pj(clusters[ci], chip_area, res["cycles"], node_nm)
                out = {c: res[c] for c in ("cycles", "stall_cycles", *PREFETCH_STALLS)}
                busy = base["utilization"] * base["cycles"]
                out["utilization"] = busy / res["cycles"] if res["cycles"] else 0.0
                out.update(static)
                out["energy_pj"] = base["energy_dynamic_pj"] + static["energy_static_pj"]
                cache[vkey] = out
            return cache[vkey]

        received = _apply_prefetch(rows, picked, cache, clusters, view, variant)
        notes.append(f"prefetch_next_layer: {received} layer instance(s) found their first "
                     "weight tile prefetched by the one before")  # fmt: skip
    df = pd.DataFrame(rows)
    cnt = df["count"]
    prefixes = ("cycles", "compute_", "stall_", "dram_", "sram_", "reg_", "energy", "macs")
    scale = [c for c in df.columns if c.startswith(prefixes)]
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
    for _, note in areas:
        if note and note not in notes:
            notes.append(note)
    area_pe = float(sum(a["pe"] for a, _ in areas))
    area_sram = float(sum(a["sram"] for a, _ in areas))

    def total(col: str) -> float:
        return float(df[col].sum()) if df[col].notna().all() else math.nan

    energy = total("energy_pj")
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
        energy_dynamic_pj=total("energy_dynamic_pj"),
        energy_static_pj=total("energy_static_pj"),
        macs=float(df["macs"].sum()),
        peak_macs_per_cycle=max(
            a.num_pes * PEAK_K / t.dot_cycles(PEAK_K)
            for a, t in zip(clusters, timings, strict=True)
        ),
    )

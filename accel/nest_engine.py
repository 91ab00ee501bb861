"""Execute a loop-nest mapping: DRAM steps in loop order through the SimPy engine.

One *step* is one iteration of the outermost (DRAM) loops: it loads the SRAM tiles that
change (an operand's tile changes when a DRAM loop at or outside its innermost relevant loop
advances, as in :mod:`hwsim.accel.mapping.access`), runs the step's array folds, and writes
the output tile back when the next step moves to another one. Partial sums leave and
re-enter the chip at the accumulator width; each output element's last write is in the
output format. Per-step bytes sum exactly to the analytic access counts (tested).
"""

from __future__ import annotations

import math

import numpy as np

from .arch import ACCUM, Accelerator
from .engine import _groups, run_steps, timing_row
from .mapping.access import count_accesses
from .mapping.gemm_mapper import ROWS_COLS, STREAM
from .mapping.loopnest import TEMPORAL, LoopNest
from .pe_adapter import PETiming

OPERANDS = ("act", "weight", "out")


def _axis_extent_vec(axis, ext: dict) -> np.ndarray:
    """Vectorized :func:`~hwsim.accel.mapping.problem.axis_extent` (one or two terms)."""
    if len(axis) == 1:
        return ext[axis[0][0]]
    if len(axis) != 2:
        raise ValueError("axes of more than two terms are not supported by the engine")
    (d1, s), (d2, d) = axis
    g = math.gcd(s, d)
    a, b = ext[d1], ext[d2]
    return a * b - np.maximum(0, a - d // g) * np.maximum(0, b - s // g)


def _above(nest: LoopNest, level: int) -> list:
    """Temporal loops of the levels above ``level`` (outer first)."""
    return [lp for lp in nest.loops() if lp.level < level and lp.kind == TEMPORAL]


def _extents(nest: LoopNest, idx: np.ndarray, loops: list, level: int) -> dict:
    """Per-step extents {dim: [steps]} of ``level``'s tile, its start set by the loops above."""
    size = nest.problem.size
    tile = nest.tile(level) if level < len(nest.levels) else dict(size)
    ext = {}
    for d in size:
        start = np.zeros(len(idx), dtype=np.int64)
        for j, lp in enumerate(loops):
            if lp.dim == d and lp.level < level:
                start = start + idx[:, j] * lp.step
        ext[d] = np.minimum(tile[d], size[d] - start)
    return ext


def _sram(nest: LoopNest) -> int:
    names = [lv.name for lv in nest.levels]
    return names.index("sram") if "sram" in names else len(names)


def dram_steps(nest: LoopNest) -> tuple[np.ndarray, dict]:
    """(loop indices[steps, loops above the SRAM], SRAM tile extents {dim: [steps]}) in
    execution order; a step is one iteration of every loop above the SRAM level."""
    sram = _sram(nest)
    loops = _above(nest, sram)
    trips = [lp.trips for lp in loops]
    if loops:
        idx = np.indices(trips).reshape(len(trips), -1).T
    else:
        idx = np.zeros((1, 0), dtype=np.int64)
    ext = _extents(nest, idx, loops, sram)
    live = np.all([e > 0 for e in ext.values()], axis=0)  # ragged outer tiles: skip the void
    if not live.all():
        idx = idx[live]
        ext = {d: e[live] for d, e in ext.items()}
    return idx, ext


def dram_traffic(nest: LoopNest, bits: dict, acc_bits: float) -> dict:
    """Per-step DRAM bytes: {"read": {op: [steps]}, "write": {op: [steps]}}. An operand's
    DRAM tile is that of the first level below DRAM keeping it (the SRAM, or the ``accum``
    level for partial sums): it changes when a loop above that level changes at or outside
    the innermost relevant loop."""
    idx, ext = dram_steps(nest)
    loops = _above(nest, _sram(nest))
    nsteps = len(idx)
    read = {o: np.zeros(nsteps) for o in OPERANDS}
    write = {o: np.zeros(nsteps) for o in OPERANDS}
    for op in nest.problem.operands:
        kept = [li for li in nest.keeps(op.name) if li > 0]
        child = kept[0] if kept else _sram(nest)
        rel = [j for j, lp in enumerate(loops) if lp.level < child and lp.dim in op.dims
               and lp.trips > 1]  # fmt: skip
        key_cols = list(range(rel[-1] + 1)) if rel else []
        changed = np.ones(nsteps, dtype=bool)
        if key_cols and nsteps > 1:
            changed[1:] = np.any(idx[1:, key_cols] != idx[:-1, key_cols], axis=1)
        elif nsteps > 1:
            changed[1:] = False
        cext = ext if child == _sram(nest) else _extents(nest, idx, loops, child)
        elems = np.ones(nsteps, dtype=np.float64)
        for axis in op.axes:
            elems = elems * _axis_extent_vec(axis, cext)
        if op.role != "output":
            read[op.name] = np.where(changed, elems * bits[op.name] / 8, 0.0)
            continue
        # output tile visits: starts where it changes; written back before the next change
        id_cols = [j for j in key_cols if loops[j].dim in op.dims]
        tile_id = np.zeros(nsteps, dtype=np.int64)
        if id_cols:
            tile_id = np.unique(idx[:, id_cols], axis=0, return_inverse=True)[1].ravel()
        starts = np.flatnonzero(changed)
        ends = np.append(starts[1:] - 1, nsteps - 1)
        ids = tile_id[starts]
        first = np.zeros(len(starts), dtype=bool)
        first[np.unique(ids, return_index=True)[1]] = True
        last = np.zeros(len(starts), dtype=bool)
        last[len(ids) - 1 - np.unique(ids[::-1], return_index=True)[1]] = True
        e = elems[starts]
        read[op.name][starts[~first]] = e[~first] * acc_bits / 8
        write[op.name][ends] = np.where(last, e * bits["out"] / 8, e * acc_bits / 8)
    return {"read": read, "write": write, "extents": ext}


def out_sram_bits(rows: list, bits: dict, acc_bits: float) -> float:
    """Bits per output element in the SRAM: the accumulator width where partial sums meet."""
    sram = [r for r in rows if r.operand == "out" and r.level == "sram"]
    return acc_bits if sram and sram[0].updates > sram[0].first else bits["out"]


def level_columns(rows: list, bits: dict, acc_bits: float) -> dict:
    """Register-file and accumulator-buffer bytes of a nest's access counts:
    ``reg_{read,write}_bytes_{op}`` (the ``reg`` level, partial sums at ``acc_bits``) and
    ``sram_{read,write}_bytes_accum`` (the ``accum`` level, at ``acc_bits``).

    For the output held in the PE, the MAC's own read-modify-write of its accumulator is a
    PE event (``reg_write_<acc>`` in the PE models' events) and is not counted again: the
    register level counts the partial sums re-filled from above (``fills``) and read out to
    spill (``reads`` beyond the MACs' ``updates - first``)."""
    out = {f"reg_{rw}_bytes_{o}": 0.0 for rw in ("read", "write") for o in OPERANDS}
    out[f"sram_read_bytes_{ACCUM}"] = out[f"sram_write_bytes_{ACCUM}"] = 0.0
    for a in rows:
        if a.level == "reg":
            if a.operand == "out":
                r, w, b = a.reads - (a.updates - a.first), a.fills, acc_bits
            else:
                r, w, b = a.reads, a.writes, bits[a.operand]
            out[f"reg_read_bytes_{a.operand}"] += r * b / 8
            out[f"reg_write_bytes_{a.operand}"] += w * b / 8
        elif a.level == ACCUM:
            out[f"sram_read_bytes_{ACCUM}"] += a.reads * acc_bits / 8
            out[f"sram_write_bytes_{ACCUM}"] += a.writes * acc_bits / 8
    return out


def run_dram_steps(
    acc: Accelerator, nest: LoopNest, compute_steps: np.ndarray, traffic: dict, bits: dict,
    name: str = "", timeline: list | None = None, prefetch: tuple[bool, float] = (False, 0.0),
) -> tuple[dict, int]:  # fmt: skip
    """Run a nest's DRAM steps (``compute_steps`` cycles, ``traffic`` from
    :func:`dram_traffic`) through the SimPy engine, merged in order into at most
    ``acc.max_tiles`` groups: (cycle totals of ``run_steps``, groups simulated).
    ``prefetch`` = (the first weight tile is already on chip, fetched by the layer before;
    bytes of the next layer's first weight tile to fetch during the last step)."""
    reads = sum(traffic["read"].values())
    if prefetch[0]:
        reads = reads.copy()
        reads[0] -= traffic["read"]["weight"][0]
    writes = sum(traffic["write"].values())
    groups = _groups(len(compute_steps), acc.max_tiles)
    starts = np.concatenate([[0], np.cumsum(groups).astype(np.int64)])[:-1]
    compute = np.add.reduceat(compute_steps, starts)
    rd, wr = np.add.reduceat(reads, starts), np.add.reduceat(writes, starts)
    total = float(reads.sum() + writes.sum())
    compulsory = sum(nest.problem.elements(o) * bits[o] / 8 for o in OPERANDS)
    share = max(0.0, total - compulsory) / total if total else 0.0
    res = run_steps(acc, compute, rd, wr, share, name, timeline, prefetch[1])
    return res, len(groups)


def prefetch_columns(nest: LoopNest, traffic: dict, bits: dict) -> dict:
    """``prefetch_weight_bytes``: the first DRAM step's weight read (what the layer before
    may prefetch); ``weight_tile_bytes``: the weight tile the layer keeps in its buffer."""
    from .mapping.access import tile_elements

    w = nest.problem.operand("weight")
    tile = tile_elements(nest, w, _sram(nest)) if len(nest.levels) > 1 else 0
    return {
        "prefetch_weight_bytes": float(traffic["read"]["weight"][0]),
        "weight_tile_bytes": tile * bits["weight"] / 8,
    }


def simulate_nest(
    acc: Accelerator,
    timing: PETiming,
    nest: LoopNest,
    acc_bits: float,
    name: str = "",
    timeline: list | None = None,
    prefetch: tuple[bool, float] = (False, 0.0),
) -> dict:
    """One GEMM layer executed as ``nest`` (from :func:`~hwsim.accel.mapping.gemm_mapper.
    map_gemm`): cycles, stalls, traffic per operand (bytes) and PE events; ``prefetch`` as in
    :func:`run_dram_steps`."""
    df = acc.dataflow
    r, c = ROWS_COLS[df]
    s = STREAM[df]
    size = nest.problem.size
    bits = {o: acc.bits(o) for o in OPERANDS}
    tr = dram_traffic(nest, bits, acc_bits)
    ext = tr["extents"]
    folds = ext["B"] * (-(-ext[r] // acc.rows)) * (-(-ext[c] // acc.cols))
    stream = {int(t): timing.dot_cycles(int(t)) for t in np.unique(ext[s])}
    dots = np.array([stream[int(t)] for t in ext[s]], dtype=np.float64)
    compute_steps = acc.compute_cycles(folds, dots)
    res, tiles = run_dram_steps(acc, nest, compute_steps, tr, bits, name, timeline, prefetch)
    rows = count_accesses(nest)
    ob = out_sram_bits(rows, bits, acc_bits)
    m, n, k, batch = size["M"], size["N"], size["K"], size["B"]
    busy = float((ext["B"] * ext[r] * ext[c] * dots).sum())  # PE-cycles of useful work
    total_compute = int(compute_steps.sum())
    row = {
        **timing_row(res, total_compute),
        "macs": m * n * k * batch,
        "folds": int(folds.sum()),
        "tiles": tiles,
        "utilization": busy / (acc.num_pes * res["cycles"]) if res["cycles"] else 0.0,
    }
    for o in OPERANDS:
        row[f"dram_read_bytes_{o}"] = float(tr["read"][o].sum())
        row[f"dram_write_bytes_{o}"] = float(tr["write"][o].sum())
        sram = next(x for x in rows if x.operand == o and x.level == "sram")
        b = ob if o == "out" else bits[o]
        row[f"sram_read_bytes_{o}"] = sram.reads * b / 8
        row[f"sram_write_bytes_{o}"] = sram.writes * b / 8
    row.update(level_columns(rows, bits, acc_bits))
    row.update(prefetch_columns(nest, tr, bits))
    row["events"] = {e: cnt * batch for e, cnt in timing.gemm_events(m, n, k).items()}
    return row

"""The mapper: an optimal loop nest for one GEMM on a systolic accelerator.

The accelerator fixes the nest's skeleton (``gemm_nest``):

* ``dram`` keeps every operand; its loops step through SRAM tiles in the chosen order;
* ``sram`` (the per-operand buffers) keeps every operand; its loops step through array folds
  in SCALE-Sim's fold order, the fan-out below it puts the dataflow's spatial dimensions on
  rows and columns (OS: M x N, WS: K x N, IS: K x M);
* ``reg`` (one PE) keeps the stationary operand (OS: out, WS: weight, IS: act) and streams the
  dataflow's temporal dimension (OS: K, WS: M, IS: N) through the SRAM tile's whole extent.

The mapper chooses the SRAM tile (B, M, N, K) and the DRAM loop order by exhaustive,
vectorized search over candidates: multiples of the array edge times powers of two (spatial
dimensions), powers of two (others), and each whole dimension; all 24 orders. Every
candidate is scored by closed forms (DRAM bytes, compute cycles) that are exact for this
skeleton; the chosen nest is then counted by :mod:`hwsim.accel.mapping.access`.
Capacities: each operand's SRAM tile, at its storage bits (partial sums at the accumulator
width when a reduction loop runs above the SRAM), fits the buffer's usable bytes.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field

import numpy as np

from hwsim.accel.arch import ACCUM, Accelerator
from hwsim.accel.mapping.loopnest import Level, LoopNest
from hwsim.accel.mapping.problem import Problem

STREAM = {"os": "K", "ws": "M", "is": "N"}
ROWS_COLS = {"os": ("M", "N"), "ws": ("K", "N"), "is": ("K", "M")}
STATIONARY = {"os": "out", "ws": "weight", "is": "act"}
DIMS = ("B", "M", "N", "K")
OBJECTIVES = ("latency", "energy", "edp")


def fold_order(dataflow: str) -> tuple[str, ...]:
    """SCALE-Sim's fold order: OS row folds outer, WS/IS column folds outer."""
    r, c = ROWS_COLS[dataflow]
    return ("B", r, c) if dataflow == "os" else ("B", c, r)


def accum_tile(acc: Accelerator, problem: Problem, tiles: dict, order: tuple[str, ...],
               acc_bits: float | None) -> dict | None:  # fmt: skip
    """The accumulator buffer's tile {dim: extent} for SRAM ``tiles`` and DRAM ``order``: the
    output block the DRAM loops inside the reduction loop K sweep (whole along those
    dimensions), held at ``acc_bits`` so partial sums never leave the chip. None when
    there is no accumulator buffer (or ``acc_bits`` is None), when K is not split at DRAM or
    no output loop runs inside it (nothing would spill), or when the block does not fit."""
    cap = acc.accumulator_bytes
    if not cap or acc_bits is None:
        return None
    size = problem.size
    t = {d: min(int(tiles.get(d, size[d])), size[d]) for d in DIMS}
    split = {d for d in DIMS if t[d] < size[d]}
    if "K" not in split:
        return None
    outd = problem.output.dims
    inner = [d for d in order[list(order).index("K") + 1 :] if d in split and d in outd]
    if not inner:
        return None
    block = {d: size[d] if d in inner else t[d] for d in DIMS}
    if math.prod(block[d] for d in outd) * acc_bits / 8 > cap:
        return None
    return block


def gemm_nest(
    acc: Accelerator, problem: Problem, tiles: dict, order: tuple[str, ...],
    acc_bits: float | None = None,
) -> LoopNest:  # fmt: skip
    """The systolic skeleton with SRAM ``tiles`` {dim: extent} and DRAM loop ``order``; with
    ``acc_bits`` and an accumulator buffer that fits (:func:`accum_tile`), an ``accum`` level
    keeping the output sits between DRAM and SRAM, taking the DRAM loops inside K."""
    df = acc.dataflow
    r, c = ROWS_COLS[df]
    s = STREAM[df]
    size = problem.size
    sram_tile = {d: min(int(tiles.get(d, size[d])), size[d]) for d in DIMS}
    top = (Level("dram", (), tuple(order), (), ("act", "weight", "out")),)
    block = accum_tile(acc, problem, sram_tile, order, acc_bits)
    if block is not None:
        top += (Level(ACCUM, tuple(block.items()), tuple(order), (), ("out",)),)
    return LoopNest(
        problem,
        (
            *top,
            Level(
                "sram",
                tuple(sram_tile.items()),
                fold_order(df),
                ((r, acc.rows), (c, acc.cols)),
                ("act", "weight", "out"),
            ),
            Level("reg", ((s, sram_tile[s]),), (s,), (), (STATIONARY[df],)),
        ),
    )


#: trip counts for which the smallest covering tile is a candidate (balanced tiles)
BALANCED_TRIPS = 64


def _candidates(size: int, unit: int) -> np.ndarray:
    """Tile extents tried for one dimension (multiples of ``unit``, the array edge or 1):
    ``unit * 2^i``, the whole dimension, and for every trip count t <= BALANCED_TRIPS the
    smallest tile covering the dimension in t trips, ``unit * ceil(size / (unit * t))``. DRAM
    traffic depends on the trip counts only, so a balanced tile is at least as good as any
    larger tile with the same trips, in bytes and in buffer capacity."""
    vals = {size}
    v = unit
    while v < size:
        vals.add(v)
        v *= 2
    trips = np.arange(1, min(BALANCED_TRIPS, -(-size // unit)) + 1)
    vals.update(int(x) for x in np.minimum(unit * -(-size // (unit * trips)), size))
    return np.array(sorted(vals), dtype=np.int64)


def fitting_tiles(acc: Accelerator, need: dict, name: str) -> np.ndarray:
    """Mask of the candidates whose tile fits every operand's buffer (``need``: operand ->
    bytes per candidate); ValueError naming the buffer and the bytes missing if none fits."""
    fits = np.ones(len(next(iter(need.values()))), dtype=bool)
    for o, b in need.items():
        fits &= b <= acc.buffer(o).tile_bytes
    if not fits.any():
        worst = {o: float(need[o].min()) - acc.buffer(o).tile_bytes for o in need}
        o = max(worst, key=worst.get)
        raise ValueError(
            f"no mapping of {name!r} fits buffer {o!r}: the smallest tile needs "
            f"{math.ceil(need[o].min())} bytes, {acc.buffer(o).tile_bytes} usable "
            f"({math.ceil(worst[o])} bytes missing)"
        )
    return fits


@dataclass(frozen=True)
class NestChoice:
    """The mapper's result: the nest and the closed-form scores it was chosen by."""

    nest: LoopNest
    tiles: dict
    order: tuple[str, ...]
    dram_bytes: float  # bytes, all operands
    compute_cycles: int  # cycles with ideal memory
    latency_cycles: float  # max(compute, DRAM bytes / bandwidth) (cycles)
    objective: str
    candidates: int  # mappings scored
    sram_bytes: dict = field(default_factory=dict)  # operand -> tile bytes needed


def map_gemm(
    acc: Accelerator, problem: Problem, dot_cycles, acc_bits: float, objective: str = "latency"
) -> NestChoice:
    """Best SRAM tile and DRAM order for ``problem`` (a GEMM) on ``acc``.

    ``dot_cycles(t)``: the PE's exact cycles of a length-t dot product (vectorized over an
    int array is not required). ``acc_bits``: partial-sum width (bits). Raises ValueError
    naming the buffer and the bytes missing when no candidate fits.
    """
    if objective not in OBJECTIVES:
        raise ValueError(f"objective must be one of {OBJECTIVES}, got {objective!r}")
    df = acc.dataflow
    r, c = ROWS_COLS[df]
    s = STREAM[df]
    size = problem.size
    unit = {d: 1 for d in DIMS} | {r: acc.rows, c: acc.cols}
    cands = [_candidates(size[d], unit[d]) for d in DIMS]
    grid = np.meshgrid(*cands, indexing="ij")
    T = {d: g.ravel() for d, g in zip(DIMS, grid, strict=True)}
    n = {d: -(-size[d] // T[d]) for d in DIMS}  # DRAM trips
    bits = {o: acc.bits(o) for o in ("act", "weight", "out")}
    rel = {op.name: op.dims for op in problem.operands}
    elems = {o: problem.elements(o) for o in rel}
    # SRAM capacity (bytes) per operand tile; partial sums at acc_bits when K splits at DRAM
    reduce_above = n["K"] > 1
    if df != "os":  # K on the rows: partial sums meet in the SRAM across row folds
        reduce_above |= -(-T["K"] // acc.rows) > 1
    out_bits = np.where(reduce_above, acc_bits, bits["out"])
    tile_el = {
        o: np.prod([T[d] for d in DIMS if d in rel[o]], axis=0) for o in ("act", "weight", "out")
    }
    need = {
        "act": tile_el["act"] * bits["act"] / 8,
        "weight": tile_el["weight"] * bits["weight"] / 8,
        "out": tile_el["out"] * out_bits / 8,
    }
    keep = fitting_tiles(acc, need, problem.name)  # score only the tiles that fit
    T = {d: v[keep] for d, v in T.items()}
    n = {d: v[keep] for d, v in n.items()}
    need = {o: v[keep] for o, v in need.items()}
    # compute cycles: the array's timing of every stream tile's folds; exact
    folds_nonstream = size["B"] * (-(-size[r] // acc.rows)) * (-(-size[c] // acc.cols))
    uniq = np.unique(T[s])
    per_t = np.empty(len(uniq))
    for i, t in enumerate(uniq):
        full, last = divmod(size[s], int(t))
        folds = [folds_nonstream * full] + ([folds_nonstream] if last else [])
        dots = [dot_cycles(int(t))] + ([dot_cycles(last)] if last else [])
        per_t[i] = float(acc.compute_cycles(np.array(folds), np.array(dots)).sum())
    compute = per_t[np.searchsorted(uniq, T[s])]
    bw = acc.dram.bandwidth_bytes_per_cycle
    best = None
    scored = 0
    for order in itertools.permutations(DIMS):
        pos = {d: i for i, d in enumerate(order)}
        held = _in_accum(acc, problem, T, n, pos, acc_bits) if acc.accumulator_bytes else None
        dram = dram_bytes_by_order(pos, DIMS, rel, n, elems, bits, acc_bits, held)
        mem = dram / bw if bw else np.zeros_like(dram)
        lat = np.maximum(compute, mem)
        if objective == "latency":
            score = np.lexsort((dram, lat))
        elif objective == "energy":
            score = np.lexsort((lat, dram))
        else:
            score = np.argsort(lat * dram, kind="stable")
        scored += len(score)
        i = int(score[0])
        key = {"latency": (lat[i], dram[i]), "energy": (dram[i], lat[i]),
               "edp": (lat[i] * dram[i], 0.0)}[objective]  # fmt: skip
        if best is None or key < best[0]:
            best = (key, order, i, dram[i], lat[i])
    _, order, i, dram_b, lat = best
    tiles = {d: int(T[d][i]) for d in DIMS}
    used = tuple(d for d in order if n[d][i] > 1) + tuple(d for d in order if n[d][i] <= 1)
    nest = gemm_nest(acc, problem, tiles, used, acc_bits)
    return NestChoice(
        nest=nest,
        tiles=tiles,
        order=used,
        dram_bytes=float(dram_b),
        compute_cycles=int(compute[i]),
        latency_cycles=float(lat),
        objective=objective,
        candidates=scored,
        sram_bytes={o: float(need[o][i]) for o in need},
    )


def dram_bytes_by_order(pos: dict, dims, rel: dict, n: dict, sweep: dict, bits: dict,
                        acc_bits: float, held=None):  # fmt: skip
    """DRAM bytes of every candidate under the loop positions ``pos`` {dim: position, or an
    array [orders, 1] of positions} (shared by ``map_gemm``, one order at a time, and
    ``map_conv``, all orders at once): an operand's one sweep (``sweep[o]``, elements) times
    ``n[d]`` for each irrelevant split loop outside its innermost relevant split loop
    (``access``'s reuse rule); partial sums leave and re-enter at ``acc_bits`` unless
    ``held`` (a mask: kept in the accumulator buffer), the final copy at the output bits."""
    split = {d: n[d] > 1 for d in dims}
    dram = 0.0
    for o in ("act", "weight", "out"):
        istar = -1
        for d in rel[o] & set(dims):
            istar = np.maximum(istar, np.where(split[d], pos[d], -1))
        mult = 1.0
        for d in dims:
            if d not in rel[o]:
                mult = mult * np.where((pos[d] < istar) & split[d], n[d], 1)
        visits = sweep[o] * mult
        if o == "out":
            partial = visits - sweep[o]
            if held is not None:
                partial = np.where(held, 0, partial)
            dram = dram + sweep[o] * bits["out"] / 8 + 2 * partial * acc_bits / 8
        else:
            dram = dram + visits * bits[o] / 8
    return dram


def _in_accum(acc: Accelerator, problem: Problem, T: dict, n: dict, pos: dict, acc_bits):
    """Vectorized :func:`accum_tile` is not None: per candidate, the output block swept
    inside the DRAM reduction loop exists and fits the accumulator buffer."""
    outd = problem.output.dims
    inside = {d: (n[d] > 1) & (pos[d] > pos["K"]) & (n["K"] > 1) for d in outd}
    block = np.prod([np.where(inside[d], problem.size[d], T[d]) for d in outd], axis=0)
    some = np.any([inside[d] for d in outd], axis=0)
    return some & (block * acc_bits / 8 <= acc.accumulator_bytes)


def nest_summary(nest: LoopNest) -> str:
    """One line: SRAM tile and the loop order above it, e.g. ``sram B1 M256 N512 K4096; dram
    N>M`` (``; accum M`` when an accumulator level takes the loops inside K)."""
    sram = nest.index("sram")
    tile = " ".join(f"{d}{v}" for d, v in nest.tile(sram).items())
    parts = [f"sram {tile}"]
    for li in range(sram):
        loops = [lp.dim for lp in nest.loops() if lp.level == li]
        parts.append(f"{nest.levels[li].name} {'>'.join(loops) or '-'}")
    return "; ".join(parts)


def pinned_nest(acc: Accelerator, problem: Problem, spec, acc_bits: float) -> LoopNest:
    """A user's mapping of ``problem``: ``{"tiles": {dim: extent}, "order": [dims]}`` (the
    SRAM tile and the DRAM loop order, outer first) or a LoopNest of the accelerator's
    skeleton. Checked against the array and the buffers."""
    if isinstance(spec, LoopNest):
        nest = spec
        if nest.problem.size != problem.size:
            raise ValueError(f"pinned mapping is for {nest.problem.size}, the layer is "
                             f"{problem.size}")  # fmt: skip
        names = tuple(lv.name for lv in nest.levels)
        if names not in (("dram", "sram", "reg"), ("dram", ACCUM, "sram", "reg")):
            raise ValueError(f"a systolic mapping has levels ('dram', ['{ACCUM}',] 'sram', "
                             f"'reg'), got {names}")  # fmt: skip
        tiles, order = nest.tile(nest.index("sram")), nest.levels[0].order
    elif isinstance(spec, dict):
        extra = set(spec) - {"tiles", "order"}
        if extra or "tiles" not in spec:
            raise ValueError(f"a pinned mapping needs 'tiles' (and optional 'order'); "
                             f"unknown key(s) {sorted(extra)}")  # fmt: skip
        tiles = dict(spec["tiles"])
        order = tuple(spec.get("order", DIMS))
        bad = sorted(set(tiles) - set(DIMS)) + sorted(set(order) - set(DIMS))
        if bad:
            raise ValueError(f"unknown dimension(s) {bad} in pinned mapping; use {DIMS}")
    else:
        raise ValueError(f"a pinned mapping is a dict or a LoopNest, got {type(spec).__name__}")
    order = tuple(order) + tuple(d for d in DIMS if d not in order)
    want = gemm_nest(acc, problem, tiles, order, acc_bits)
    if isinstance(spec, LoopNest) and spec != want:
        raise ValueError(
            "pinned LoopNest does not follow the accelerator's skeleton "
            f"({acc.dataflow}: {ROWS_COLS[acc.dataflow]} on {acc.rows} x {acc.cols}, reg "
            f"streams {STREAM[acc.dataflow]}); pin {{'tiles', 'order'}} instead"
        )
    check_nest_fits(acc, want, acc_bits)
    return want


def check_nest_fits(acc: Accelerator, nest: LoopNest, acc_bits: float) -> None:
    """Raise ValueError naming the buffer and bytes when a tile does not fit its SRAM."""
    from hwsim.accel.mapping.access import tile_elements

    p = nest.problem
    sram = nest.index("sram")
    reduce = any(lp.dim not in p.output.dims and lp.trips > 1 for lp in nest.loops()
                 if lp.level <= sram and lp.kind == "temporal")  # fmt: skip
    for op in p.operands:
        b = acc.bits(op.name)
        if op.role == "output" and reduce:
            b = acc_bits
        need = tile_elements(nest, op, sram) * b / 8
        cap = acc.buffer(op.name).tile_bytes
        if need > cap:
            raise ValueError(
                f"mapping of {p.name!r}: the {op.name!r} tile {nest.tile(sram)} needs "
                f"{math.ceil(need)} bytes, buffer {op.name!r} has {cap} usable "
                f"({math.ceil(need - cap)} bytes missing)"
            )
    if ACCUM in (lv.name for lv in nest.levels):
        need = tile_elements(nest, p.output, nest.index(ACCUM)) * acc_bits / 8
        if need > acc.accumulator_bytes:
            raise ValueError(
                f"mapping of {p.name!r}: the {ACCUM!r} tile {nest.tile(nest.index(ACCUM))} "
                f"needs {math.ceil(need)} bytes, buffer {ACCUM!r} has {acc.accumulator_bytes} "
                f"({math.ceil(need - acc.accumulator_bytes)} bytes missing)"
            )

"""The conv mapper: an optimal loop nest for one convolution in its own 7 dimensions.

The nest has two levels (``conv_nest``): ``dram`` keeps every operand and its loops step
through SRAM tiles in the chosen order; ``sram`` (the per-operand buffers) keeps every
operand and holds one tile over (N, K, C, P, Q, R, S). The input tile is the set of distinct
*padded* input positions its sliding windows touch (padding is stored with the tensor, see
:func:`~hwsim.accel.mapping.problem.conv_problem`); a tile's halo is fetched with it, so
neighbouring tiles refetch their overlap. Partial sums leave the chip at the accumulator
width when C (or R, S) is split above the SRAM.

The array computes each step's tile in its im2col view, with the timing of the GEMM path:
``M = n_t*p_t*q_t``, ``N = k_t``, ``K = c_t*r_t*s_t`` on the dataflow's rows, columns and
stream (``gemm_mapper.ROWS_COLS``/``STREAM``), ``acc.compute_cycles`` per step.

Search space (exhaustive, vectorized over candidates): R and S stay whole in the SRAM tile
(a restriction: filters are small, and splitting them only adds halo refetches); N, K, C, P,
Q take powers of two, multiples of the array edge times powers of two, and the whole
dimension; all 120 DRAM orders of those five. Every candidate is scored by closed forms
(DRAM bytes, compute cycles) exact for this nest; the engine's per-step traffic equals
:func:`~hwsim.accel.mapping.access.count_accesses` (tested).
"""

from __future__ import annotations

import itertools
import math

import numpy as np

from hwsim.accel.arch import Accelerator
from hwsim.accel.mapping.gemm_mapper import (
    OBJECTIVES,
    ROWS_COLS,
    STREAM,
    NestChoice,
    dram_bytes_by_order,
    fitting_tiles,
)
from hwsim.accel.mapping.loopnest import Level, LoopNest
from hwsim.accel.mapping.problem import Problem

CONV_DIMS = ("N", "K", "C", "P", "Q", "R", "S")
SEARCH_DIMS = ("N", "K", "C", "P", "Q")  # R, S whole in the SRAM tile
REDUCE_DIMS = ("C", "R", "S")
# im2col view: GEMM dimension -> the conv dimensions it flattens
IM2COL = {"M": ("N", "P", "Q"), "N": ("K",), "K": ("C", "R", "S")}


def is_conv(problem: Problem) -> bool:
    """True when ``problem`` is a :func:`~hwsim.accel.mapping.problem.conv_problem`."""
    return tuple(d for d, _ in problem.dims) == CONV_DIMS


def conv_nest(problem: Problem, tiles: dict, order: tuple[str, ...]) -> LoopNest:
    """The two-level nest with SRAM ``tiles`` {dim: extent} (omitted: whole) and DRAM loop
    ``order`` (outer first; missing dimensions are appended)."""
    size = problem.size
    bad = sorted(set(tiles) - set(CONV_DIMS)) + sorted(set(order) - set(CONV_DIMS))
    if bad:
        raise ValueError(f"unknown dimension(s) {bad} in conv mapping; use {CONV_DIMS}")
    tile = {d: min(int(tiles.get(d, size[d])), size[d]) for d in CONV_DIMS}
    order = tuple(order) + tuple(d for d in CONV_DIMS if d not in order)
    everything = ("act", "weight", "out")
    return LoopNest(
        problem,
        (
            Level("dram", (), order, (), everything),
            Level("sram", tuple(tile.items()), CONV_DIMS, (), everything),
        ),
    )


def conv_strides(problem: Problem) -> tuple[int, int]:
    """(stride, dilation) of a conv problem, read from its input's row axis."""
    if not is_conv(problem):
        raise ValueError(f"not a conv problem {CONV_DIMS}: {problem.dims}")
    row_axis = dict(problem.operand("act").axes[2])
    cols = dict(problem.operand("act").axes[3])
    if (row_axis["P"], row_axis["R"]) != (cols["Q"], cols["S"]):
        raise ValueError(f"conv {problem.name!r}: rows and columns differ in stride/dilation")
    return row_axis["P"], row_axis["R"]


def window_extent(p, r: int, stride: int, dilation: int):
    """Distinct input rows touched by ``p`` outputs of an ``r``-tap window (elements;
    vectorized over p): ``axis_extent`` of ``stride*P + dilation*R``."""
    g = math.gcd(stride, dilation)
    p = np.asarray(p, dtype=np.int64)
    return p * r - np.maximum(0, p - dilation // g) * max(0, r - stride // g)


def reduce_in_sram(acc: Accelerator, c_r_s) -> np.ndarray:
    """True where partial sums of a step's tile meet in the SRAM: the reduction (im2col K
    = c_t*r_t*s_t) lies on the array rows (WS/IS) and takes more than one row fold."""
    c_r_s = np.asarray(c_r_s)
    if acc.dataflow == "os":
        return np.zeros(c_r_s.shape, dtype=bool)
    return -(-c_r_s // acc.rows) > 1


def im2col_steps(acc: Accelerator, ext: dict, dot_cycles):
    """Per-step (folds, stream cycles, useful PE positions) of the array for conv tile
    extents ``ext`` {dim: array}: the im2col GEMM view on the dataflow's skeleton."""
    view = {g: np.prod([np.asarray(ext[d]) for d in ds], axis=0) for g, ds in IM2COL.items()}
    r, c = ROWS_COLS[acc.dataflow]
    s = STREAM[acc.dataflow]
    folds = (-(-view[r] // acc.rows)) * (-(-view[c] // acc.cols))
    uniq, inv = np.unique(view[s], return_inverse=True)
    table = np.array([float(dot_cycles(int(t))) for t in uniq], dtype=np.float64)
    dots = table[inv.ravel()].reshape(np.shape(view[s]))
    return folds, dots, view[r] * view[c]


def _candidates(size: int, edge: int) -> np.ndarray:
    vals = {size}
    for unit in (1, edge):
        v = unit
        while v < size:
            vals.add(v)
            v *= 2
    return np.array(sorted(vals), dtype=np.int64)


def map_conv(
    acc: Accelerator,
    problem: Problem,
    dot_cycles,
    acc_bits: float,
    objective: str = "latency",
) -> NestChoice:
    """Best SRAM tile and DRAM order for ``problem`` (a conv_problem) on ``acc``; same
    contract and errors as ``map_gemm``."""
    if objective not in OBJECTIVES:
        raise ValueError(f"objective must be one of {OBJECTIVES}, got {objective!r}")
    stride, dilation = conv_strides(problem)
    size = problem.size
    edge = max(acc.rows, acc.cols)
    cands = [_candidates(size[d], edge) for d in SEARCH_DIMS]
    grid = np.meshgrid(*cands, indexing="ij")
    T = {d: g.ravel() for d, g in zip(SEARCH_DIMS, grid, strict=True)}
    ncand = len(T["N"])
    T["R"] = np.full(ncand, size["R"])
    T["S"] = np.full(ncand, size["S"])
    n = {d: -(-size[d] // T[d]) for d in CONV_DIMS}  # DRAM trips
    last = {d: size[d] - (n[d] - 1) * T[d] for d in CONV_DIMS}
    bits = {o: acc.bits(o) for o in ("act", "weight", "out")}

    def rows_of(p):
        return window_extent(p, size["R"], stride, dilation)

    def cols_of(q):
        return window_extent(q, size["S"], stride, dilation)

    # SRAM capacity (bytes) per operand tile; partial sums at acc_bits when they meet there
    reduce_above = (n["C"] > 1) | reduce_in_sram(acc, T["C"] * T["R"] * T["S"])
    out_bits = np.where(reduce_above, acc_bits, bits["out"])
    need = {
        "act": T["N"] * T["C"] * rows_of(T["P"]) * cols_of(T["Q"]) * bits["act"] / 8,
        "weight": T["K"] * T["C"] * T["R"] * T["S"] * bits["weight"] / 8,
        "out": T["N"] * T["K"] * T["P"] * T["Q"] * out_bits / 8,
    }
    fits = fitting_tiles(acc, need, problem.name)
    # only fitting candidates are scored further
    T, n, last = ({d: v[fits] for d, v in x.items()} for x in (T, n, last))
    need = {o: v[fits] for o, v in need.items()}
    ncand = int(fits.sum())
    compute = _compute_cycles(acc, T, n, last, dot_cycles)
    # elements moved by one sweep over an operand's relevant loops (halos once per tile)
    sum_rows = (n["P"] - 1) * rows_of(T["P"]) + rows_of(last["P"])
    sum_cols = (n["Q"] - 1) * cols_of(T["Q"]) + cols_of(last["Q"])
    sweep = {
        "act": size["N"] * size["C"] * sum_rows * sum_cols,
        "weight": np.full(ncand, problem.elements("weight")),
        "out": np.full(ncand, problem.elements("out")),
    }
    rel = {op.name: op.dims for op in problem.operands}
    bw = acc.dram.bandwidth_bytes_per_cycle
    orders = list(itertools.permutations(SEARCH_DIMS))
    # position of each dimension in each order: [orders, 1], broadcast over candidates
    pos = {d: np.array([o.index(d) for o in orders])[:, None] for d in SEARCH_DIMS}
    dram = dram_bytes_by_order(pos, SEARCH_DIMS, rel, n, sweep, bits, acc_bits)
    dram = np.broadcast_to(dram, (len(orders), ncand))
    mem = dram / bw if bw else np.zeros_like(dram)
    lat = np.maximum(compute[None, :], mem)
    # the first (order, candidate) with the least key; ties keep the earlier order, then index
    if objective == "latency":
        flat = np.where(lat == lat.min(), dram, np.inf).argmin()
    elif objective == "energy":
        flat = np.where(dram == dram.min(), lat, np.inf).argmin()
    else:
        flat = (lat * dram).argmin()
    oi, i = divmod(int(flat), ncand)
    order, dram_b, lat = orders[oi], dram[oi, i], lat[oi, i]
    scored = len(orders) * ncand
    tiles = {d: int(T[d][i]) for d in CONV_DIMS}
    used = tuple(d for d in order if n[d][i] > 1) + tuple(d for d in order if n[d][i] <= 1)
    nest = conv_nest(problem, tiles, used)
    return NestChoice(
        nest=nest,
        tiles=tiles,
        order=nest.levels[0].order,
        dram_bytes=float(dram_b),
        compute_cycles=int(compute[i]),
        latency_cycles=float(lat),
        objective=objective,
        candidates=scored,
        sram_bytes={o: float(need[o][i]) for o in need},
    )


def _compute_cycles(acc: Accelerator, T: dict, n: dict, last: dict, dot_cycles) -> np.ndarray:
    """Exact compute cycles (ideal memory) of every candidate: its steps come in at most
    2^5 tile shapes (each dimension full or ragged last); the one-off pipeline fill once."""
    base = acc.compute_cycles(np.ones(2), np.zeros(2))
    once = float(base[0] - base[1])
    total = np.zeros(len(T["N"]))
    for ragged in itertools.product((False, True), repeat=len(SEARCH_DIMS)):
        ext = {"R": T["R"], "S": T["S"]}
        count = np.ones(len(T["N"]), dtype=np.float64)
        for d, rg in zip(SEARCH_DIMS, ragged, strict=True):
            if rg:
                ext[d] = last[d]
                count = count * (last[d] < T[d])
            else:
                ext[d] = T[d]
                count = count * np.where(last[d] < T[d], n[d] - 1, n[d])
        if not count.any():
            continue
        folds, dots, _ = im2col_steps(acc, ext, dot_cycles)
        per = acc.compute_cycles(np.concatenate([[1.0], folds]), np.concatenate([[0.0], dots]))
        total += count * per[1:]
    return total + once


def conv_out_bits(acc: Accelerator, nest: LoopNest, bits_out: float, acc_bits: float) -> float:
    """Bits per output element in the SRAM: the accumulator width where partial sums meet
    (a reduction dimension split at DRAM, or split over row folds of a WS/IS array)."""
    tile = nest.tile(1)
    split = any(tile[d] < nest.problem.size[d] for d in REDUCE_DIMS)
    return acc_bits if split or reduce_in_sram(acc, tile["C"] * tile["R"] * tile["S"]) else bits_out


def check_conv_fits(acc: Accelerator, nest: LoopNest, acc_bits: float) -> None:
    """Raise ValueError naming the buffer and bytes when a conv tile does not fit its SRAM."""
    from hwsim.accel.mapping.access import tile_elements

    p = nest.problem
    for op in p.operands:
        b = acc.bits(op.name)
        if op.role == "output":
            b = conv_out_bits(acc, nest, b, acc_bits)
        need = tile_elements(nest, op, 1) * b / 8
        cap = acc.buffer(op.name).tile_bytes
        if need > cap:
            raise ValueError(
                f"mapping of {p.name!r}: the {op.name!r} tile {nest.tile(1)} needs "
                f"{math.ceil(need)} bytes, buffer {op.name!r} has {cap} usable "
                f"({math.ceil(need - cap)} bytes missing)"
            )


def pinned_conv_nest(acc: Accelerator, problem: Problem, spec, acc_bits: float) -> LoopNest:
    """A user's conv mapping ``{"tiles": {dim: extent}, "order": [dims]}`` over the conv
    dimensions (or a LoopNest of ``conv_nest``'s shape), checked against the buffers."""
    if isinstance(spec, LoopNest):
        if spec.problem.size != problem.size:
            raise ValueError(f"pinned mapping is for {spec.problem.size}, the layer is "
                             f"{problem.size}")  # fmt: skip
        tiles, order = spec.tile(1), spec.levels[0].order
        want = conv_nest(problem, tiles, order)
        if spec != want:
            raise ValueError("pinned LoopNest is not a conv nest (levels dram, sram over "
                             f"{CONV_DIMS}); pin {{'tiles', 'order'}} instead")  # fmt: skip
    elif isinstance(spec, dict):
        extra = set(spec) - {"tiles", "order"}
        if extra or "tiles" not in spec:
            raise ValueError(f"a pinned mapping needs 'tiles' (and optional 'order'); "
                             f"unknown key(s) {sorted(extra)}")  # fmt: skip
        want = conv_nest(problem, dict(spec["tiles"]), tuple(spec.get("order", CONV_DIMS)))
    else:
        raise ValueError(f"a pinned mapping is a dict or a LoopNest, got {type(spec).__name__}")
    check_conv_fits(acc, want, acc_bits)
    return want

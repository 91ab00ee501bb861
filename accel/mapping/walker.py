"""Brute-force oracle of :mod:`hwsim.accel.mapping.access`: walk every MAC of a loop nest.

The walker runs the nest literally (every loop, ragged last tiles included), records for each
MAC its coordinates, the indices of the temporal loops (its time) and of the spatial loops
(its instance), then counts accesses by following tiles through time. The schedule is
static, as a controller runs it: a level's tile of an operand is refilled whenever a loop at
or outside the innermost loop relevant to the operand advances (a run is a stretch of the
array's time with those indices fixed; an instance idle at a ragged edge receives nothing).
Each run fetches the distinct elements its MACs touch: those the walker enumerates. Only for small
problems (every MAC is a Python-level step).
"""

from __future__ import annotations

import numpy as np

from hwsim.accel.mapping.loopnest import SPATIAL, TEMPORAL, LoopNest
from hwsim.accel.mapping.problem import OUTPUT

MAX_POINTS = 200_000


def walk(nest: LoopNest) -> tuple[np.ndarray, np.ndarray]:
    """(coords[points, dims], loop indices[points, loops]) in nest order."""
    loops = nest.loops()
    dims = list(nest.problem.size)
    if nest.problem.macs > MAX_POINTS:
        raise ValueError(f"walker: {nest.problem.macs} MACs is too many (max {MAX_POINTS})")
    coords, idxs = [], []

    def rec(li: int, base: dict, extent: dict, idx: list) -> None:
        if li == len(loops):
            assert all(extent[d] == 1 for d in dims), "nest does not reach single MACs"
            coords.append([base[d] for d in dims])
            idxs.append(list(idx))
            return
        lp = loops[li]
        d = lp.dim
        j = 0
        while j * lp.step < extent[d]:
            nb = dict(base)
            ne = dict(extent)
            nb[d] = base[d] + j * lp.step
            ne[d] = min(lp.step, extent[d] - j * lp.step)
            rec(li + 1, nb, ne, [*idx, j])
            j += 1

    rec(0, dict.fromkeys(dims, 0), dict(nest.problem.size), [])
    return np.array(coords, dtype=np.int64), np.array(idxs, dtype=np.int64).reshape(len(coords), -1)


def _element_ids(nest: LoopNest, operand, coords: np.ndarray) -> np.ndarray:
    dims = list(nest.problem.size)
    cols = [sum(c * coords[:, dims.index(d)] for d, c in axis) for axis in operand.axes]
    return np.unique(np.stack(cols, axis=1), axis=0, return_inverse=True)[1].ravel()


def _runs(group: np.ndarray, time: np.ndarray, key: np.ndarray, elem: np.ndarray) -> int:
    """Sum over runs and groups of distinct elements. A run is a maximal stretch of the
    array's time (all groups together) with equal ``key``: the controller refills every
    instance when the key changes, an instance idle in a run (ragged edge) receives nothing."""
    order = np.lexsort(time.T[::-1]) if time.shape[1] else np.arange(len(group))
    k = key[order]
    change = np.ones(len(k), dtype=bool)
    change[1:] = np.any(k[1:] != k[:-1], axis=1)
    run = np.empty(len(k), dtype=np.int64)
    run[order] = np.cumsum(change)
    return len(np.unique(np.stack([group, run, elem], axis=1), axis=0))


def _key(idx: np.ndarray, cols: list[int]) -> np.ndarray:
    if not cols:
        return np.zeros((len(idx), 1), dtype=np.int64)
    return idx[:, cols]


def _group(idx: np.ndarray, cols: list[int]) -> np.ndarray:
    if not cols:
        return np.zeros(len(idx), dtype=np.int64)
    return np.unique(idx[:, cols], axis=0, return_inverse=True)[1].ravel()


def brute_force_counts(nest: LoopNest) -> dict[tuple[str, str], dict[str, int]]:
    """{(operand, level): {reads, writes, fills, updates, first}} by walking every MAC."""
    coords, idx = walk(nest)
    loops = nest.loops()
    time_cols = [i for i, lp in enumerate(loops) if lp.kind == TEMPORAL]
    time = idx[:, time_cols] if time_cols else np.zeros((len(idx), 0), dtype=np.int64)
    out: dict[tuple[str, str], dict[str, int]] = {}
    nlev = len(nest.levels)
    for op in nest.problem.operands:
        elem = _element_ids(nest, op, coords)
        keeps = nest.keeps(op.name)
        rec = {li: dict.fromkeys(("reads", "writes", "fills", "updates", "first"), 0)
               for li in keeps}  # fmt: skip

        def spatial_above(level: int) -> list[int]:
            return [i for i, lp in enumerate(loops) if lp.kind == SPATIAL and lp.level < level]

        def first(level: int, elem=elem) -> int:
            inst = _group(idx, spatial_above(level))
            return len(np.unique(np.stack([inst, elem], axis=1), axis=0))

        chain = [*keeps, None]
        for parent, child in zip(chain, chain[1:], strict=False):
            depth = nlev if child is None else child
            if child is None:
                key_cols = time_cols  # a MAC keeps nothing: every step is its own run
            else:
                # static schedule: the tile is refilled whenever a loop at or outside the
                # innermost loop relevant to the operand advances
                above = [i for i in time_cols if loops[i].level < depth]
                rel = [i for i in above if loops[i].dim in op.dims and loops[i].trips > 1]
                key_cols = [i for i in above if rel and i <= rel[-1]]
            key = _key(idx, key_cols)
            to_parent = _runs(_group(idx, spatial_above(parent)), time, key, elem)
            own = 0
            if child is not None:
                own = _runs(_group(idx, spatial_above(child)), time, key, elem)
            if op.role == OUTPUT:
                f = first(parent)
                rec[parent]["writes"] += to_parent
                rec[parent]["updates"] += to_parent
                rec[parent]["reads"] += to_parent - f
                rec[parent]["first"] = f
                if child is not None:
                    fc = first(child)
                    rec[child]["reads"] += own
                    rec[child]["writes"] += own - fc
                    rec[child]["fills"] += own - fc
            else:
                rec[parent]["reads"] += to_parent
                if child is not None:
                    rec[child]["writes"] += own
                    rec[child]["fills"] += own
        for li in keeps:
            out[(op.name, nest.levels[li].name)] = rec[li]
    return out

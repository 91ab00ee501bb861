"""Exact access counts of a loop-nest mapping (elements), per operand and level.

Semantics (Timeloop's static schedule, without sliding-window deltas): a level instance holds
one tile of an operand; the tile is (re)filled whenever a loop above the level advances that
sits at or outside the innermost loop *relevant* to the operand (one over a dimension its
projection uses, with more than one iteration). Loops irrelevant to the operand inside that
loop reuse the tile; irrelevant loops outside it re-fill it each iteration (also where a
ragged last tile leaves the relevant loop a single iteration). A fill brings the *distinct*
elements the tile touches (a convolution tile's halo is fetched with the tile; overlap with
the previous tile is not reused). Spatial fan-out: every child instance is filled with its
own tile, while its parent is read once per distinct element per step (multicast; for
partial sums, a spatial reduction). A MAC has no storage: an operand that bypasses every
level below some level is read from it at every step.

Partial sums: an output update arriving at a level is a write; it is also a read of the
previous partial sum unless it is the element's first update there. Only the outermost
level's first-and-final copy is in the output format (see :func:`count_accesses`).

These counts are the analytic model; :mod:`hwsim.accel.mapping.walker` is its brute-force
oracle, and the tests require equality.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from hwsim.accel.mapping.loopnest import SPATIAL, TEMPORAL, Loop, LoopNest
from hwsim.accel.mapping.problem import OUTPUT, Operand, axis_extent


@dataclass(frozen=True)
class OperandAccess:
    """Accesses of one operand at one level (elements, all instances of the level).

    ``reads``: elements read out of the level (to fill children, or by MACs); ``writes``:
    elements written into it (fills from the parent, or partial-sum updates from below);
    ``fills``: the part of ``writes`` that comes from the parent level; ``updates``: the part
    that comes from below (outputs only); ``first``: distinct (instance, element) pairs, the
    updates that read no previous partial sum; ``capacity``: elements of one instance's tile.
    """

    operand: str
    level: str
    reads: int
    writes: int
    fills: int
    updates: int
    first: int
    capacity: int


def _dim_points(nest: LoopNest, d: str, loops: list[Loop], counted: set[int], unit: int) -> int:
    """Distinct projections onto the counted loops over all ``unit``-sized tiles of d."""
    size = nest.problem.size[d]
    mine = [(i, lp) for i, lp in enumerate(loops) if lp.dim == d and i in counted]
    if not mine:
        return 1
    starts = np.arange(0, size, unit, dtype=np.int64)
    idx = np.stack([(starts % lp.span) // lp.step for _, lp in mine], axis=1)
    return len(np.unique(idx, axis=0))


def _axis_sum(nest: LoopNest, axis, loops: list[Loop], counted: set[int]) -> int:
    """Sum over distinct counted-loop keys of the axis' distinct values under that key."""
    size = nest.problem.size
    if len(axis) == 1:
        return size[axis[0][0]]
    dims = [d for d, _ in axis]
    grids = np.meshgrid(*[np.arange(size[d], dtype=np.int64) for d in dims], indexing="ij")
    pts = [g.ravel() for g in grids]
    value = sum(c * p for (_, c), p in zip(axis, pts, strict=True))
    cols = [value]
    for d, p in zip(dims, pts, strict=True):
        for i, lp in enumerate(loops):
            if lp.dim == d and i in counted:
                cols.append((p % lp.span) // lp.step)
    return len(np.unique(np.stack(cols, axis=1), axis=0))


def transfer(
    nest: LoopNest, operand: Operand, child: int | None, parent: int, *,
    per_instance: bool, reuse: bool,
) -> int:  # fmt: skip
    """Elements moved between ``parent`` and ``child`` (a level index, or None for the MACs).

    ``per_instance``: summed over every child instance (fills); else once per parent
    instance and step (multicast / spatial reduction). ``reuse``: the child stores the tile
    (a MAC does not).
    """
    loops = list(nest.loops())
    depth = len(nest.levels) if child is None else child
    above = [i for i, lp in enumerate(loops) if lp.level < depth]
    temporal = [i for i in above if loops[i].kind == TEMPORAL]
    relevant = operand.dims
    if reuse:
        inner = [i for i in temporal if loops[i].dim in relevant]  # (temporal: trips >= 2)
        prefix = [i for i in temporal if inner and i <= inner[-1]]
    else:
        prefix = temporal
    owner = depth if per_instance else parent
    counted = set(prefix) | {
        i for i in above if loops[i].kind == SPATIAL and loops[i].level < owner
    }
    unit = nest.child_tile(depth - 1) if child is not None else None
    total = 1
    for d in nest.problem.size:
        if d not in relevant:
            total *= _dim_points(nest, d, loops, counted, 1 if unit is None else unit[d])
    for axis in operand.axes:
        total *= _axis_sum(nest, axis, loops, counted)
    return total


def distinct_per_instance(nest: LoopNest, operand: Operand, level: int) -> int:
    """Distinct (instance of ``level``, element) pairs the whole problem touches."""
    loops = list(nest.loops())
    counted = {i for i, lp in enumerate(loops) if lp.kind == SPATIAL and lp.level < level}
    total = 1
    for d in nest.problem.size:
        if d not in operand.dims:
            total *= _dim_points(nest, d, loops, counted, nest.tile(level)[d])
    for axis in operand.axes:
        total *= _axis_sum(nest, axis, loops, counted)
    return total


def tile_elements(nest: LoopNest, operand: Operand, level: int) -> int:
    """Elements of one full tile of ``operand`` at ``level`` (count; capacity per instance)."""
    tile = nest.tile(level)
    return math.prod(axis_extent(axis, tile) for axis in operand.axes)


def count_accesses(nest: LoopNest) -> list[OperandAccess]:
    """Reads and writes of every operand at every level that keeps it, plus the MACs' reads.

    Outputs: at the outermost level, ``first`` elements are written once in the output
    format (final results); every other output access carries a partial sum at the
    accumulator width (``writes - first`` spills and ``reads`` re-fetches).
    """
    rows: list[OperandAccess] = []
    for op in nest.problem.operands:
        keeps = nest.keeps(op.name)
        out = op.role == OUTPUT
        rec = {li: {"reads": 0, "writes": 0, "fills": 0, "updates": 0, "first": 0} for li in keeps}
        chain = [*keeps, None]  # the MACs consume the innermost kept level
        for parent, child in zip(chain, chain[1:], strict=False):
            to_parent = transfer(
                nest, op, child, parent, per_instance=False, reuse=child is not None
            )
            if out:
                first = distinct_per_instance(nest, op, parent)
                rec[parent]["writes"] += to_parent
                rec[parent]["updates"] += to_parent
                rec[parent]["reads"] += to_parent - first
                rec[parent]["first"] = first
                if child is not None:
                    own = transfer(nest, op, child, parent, per_instance=True, reuse=True)
                    first_c = distinct_per_instance(nest, op, child)
                    rec[child]["reads"] += own  # spilled upwards
                    rec[child]["writes"] += own - first_c  # re-fetched partial sums
                    rec[child]["fills"] += own - first_c
            else:
                rec[parent]["reads"] += to_parent
                if child is not None:
                    own = transfer(nest, op, child, parent, per_instance=True, reuse=True)
                    rec[child]["writes"] += own
                    rec[child]["fills"] += own
        for li in keeps:
            rows.append(
                OperandAccess(
                    op.name,
                    nest.levels[li].name,
                    capacity=tile_elements(nest, op, li),
                    **rec[li],
                )
            )
    return rows

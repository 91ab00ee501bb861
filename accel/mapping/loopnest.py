"""Mappings as data: a loop nest over memory levels (Timeloop/ZigZag style).

A :class:`LoopNest` maps a :class:`~hwsim.accel.mapping.problem.Problem` onto storage levels
listed outermost first (e.g. ``dram``, ``sram``, ``reg``). Each :class:`Level` holds, per
instance, a *tile*: the extent of every dimension it covers. Below a level:

* its **temporal loops** (``order``, outer to inner) step through the child *blocks* inside
  its tile, one after another;
* its **spatial fan-out** (``spatial``) splits each block over parallel child instances
  (array rows/columns, or lanes inside a PE below the innermost level).

The child block of dimension d is ``child_tile[d] * spatial[d]`` (the innermost level's
child is one MAC, tile 1). Tiles need not divide the problem: a level's tile must be a
multiple of the child block (or cover the whole dimension), and the last tile of a
dimension is *ragged* (shorter); a loop runs only over the part that exists, never over
padding. ``keep`` lists the operands stored at a level (others bypass it); the outermost
level keeps every operand and covers the whole problem.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from hwsim.accel._checks import pos_int
from hwsim.accel.mapping.problem import Problem

TEMPORAL, SPATIAL = "temporal", "spatial"


@dataclass(frozen=True)
class Level:
    """One storage level of a mapping (extents and factors are counts of iteration points)."""

    name: str
    tile: tuple[tuple[str, int], ...] = ()  # per-instance extent; omitted dims: 1 (top: all)
    order: tuple[str, ...] = ()  # temporal loops, outer to inner
    spatial: tuple[tuple[str, int], ...] = ()  # fan-out to the level below
    keep: tuple[str, ...] = ()  # operands stored at this level


@dataclass(frozen=True)
class Loop:
    """One loop of the nest: ``idx = (i mod span) // step`` of dimension ``dim``'s index i."""

    dim: str
    level: int  # index of the level the loop belongs to (its temporal loops or its fan-out)
    kind: str  # TEMPORAL or SPATIAL
    step: int  # extent of one iteration (points)
    span: int  # extent of the enclosing tile (points)

    @property
    def trips(self) -> int:
        """Iterations of a full enclosing tile (the ragged last tile may run fewer)."""
        return -(-self.span // self.step)


@dataclass(frozen=True)
class LoopNest:
    """A validated mapping of ``problem`` onto ``levels`` (outermost first)."""

    problem: Problem
    levels: tuple[Level, ...]

    def __post_init__(self) -> None:
        _validate(self)

    # --- derived structure -------------------------------------------------------------
    def tile(self, level: int) -> dict[str, int]:
        """Per-instance extent of every dimension at ``level`` (clamped to the problem)."""
        size = self.problem.size
        given = dict(self.levels[level].tile)
        if level == 0:
            return dict(size)
        return {d: min(given.get(d, 1), size[d]) for d in size}

    def child_tile(self, level: int) -> dict[str, int]:
        """Tile of the level below ``level`` (1 everywhere below the innermost: one MAC)."""
        if level + 1 < len(self.levels):
            return self.tile(level + 1)
        return dict.fromkeys(self.problem.size, 1)

    def spatial(self, level: int) -> dict[str, int]:
        """Fan-out below ``level`` per dimension (1 where not unrolled)."""
        fan = dict.fromkeys(self.problem.size, 1)
        fan.update(self.levels[level].spatial)
        return fan

    def loops(self) -> tuple[Loop, ...]:
        """Every loop, outermost first: level 0's temporal loops, its fan-out, level 1's, ..."""
        out = []
        size = self.problem.size
        for li, lv in enumerate(self.levels):
            tile, child, fan = self.tile(li), self.child_tile(li), self.spatial(li)
            for d in lv.order:
                block = min(child[d] * fan[d], size[d])
                if tile[d] > block:
                    out.append(Loop(d, li, TEMPORAL, block, tile[d]))
            for d, f in lv.spatial:
                if f > 1:
                    out.append(Loop(d, li, SPATIAL, child[d], min(child[d] * f, size[d])))
        return tuple(out)

    def instances(self, level: int) -> int:
        """Parallel instances of ``level`` (product of the fan-outs above it)."""
        return math.prod(f for li in range(level) for _, f in self.levels[li].spatial)

    def index(self, name: str) -> int:
        """Index of the level called ``name`` (ValueError naming the levels if absent)."""
        for i, lv in enumerate(self.levels):
            if lv.name == name:
                return i
        names = [lv.name for lv in self.levels]
        raise ValueError(f"mapping has no level {name!r}; levels: {names}")

    def keeps(self, operand: str) -> tuple[int, ...]:
        """Indices of the levels storing ``operand``, outermost first."""
        return tuple(i for i, lv in enumerate(self.levels) if operand in lv.keep)

    def describe(self) -> str:
        """The nest as indented pseudo-code (``for`` temporal, ``par-for`` spatial)."""
        lines = [f"# {self.problem.name}: " + ", ".join(f"{d}={v}" for d, v in self.problem.dims)]
        depth = 0
        by_level: dict[int, list[Loop]] = {}
        for lp in self.loops():
            by_level.setdefault(lp.level, []).append(lp)
        for li, lv in enumerate(self.levels):
            keep = ", ".join(lv.keep) or "-"
            tile = " ".join(f"{d}{v}" for d, v in self.tile(li).items() if v > 1) or "1"
            lines.append("  " * depth + f"[{lv.name}] tile {tile}; keeps {keep}")
            for lp in by_level.get(li, []):
                word = "for" if lp.kind == TEMPORAL else "par-for"
                lines.append(
                    "  " * depth + f"{word} {lp.dim} in {lp.trips} x {lp.step}  ({lv.name})"
                )
                depth += 1
        lines.append("  " * depth + "mac")
        return "\n".join(lines)

    # --- TOML / dict form --------------------------------------------------------------
    def to_dict(self) -> dict:
        """Plain-data form (``[[level]]`` tables), the inverse of :func:`loopnest_from_dict`."""
        return {
            "level": [
                {
                    "name": lv.name,
                    "tile": dict(lv.tile),
                    "order": list(lv.order),
                    "spatial": dict(lv.spatial),
                    "keep": list(lv.keep),
                }
                for lv in self.levels
            ]
        }


def loopnest_from_dict(problem: Problem, data: dict) -> LoopNest:
    """Build a :class:`LoopNest` from ``{"level": [{name, tile, order, spatial, keep}, ...]}``."""
    if not isinstance(data, dict) or "level" not in data:
        raise ValueError("a mapping needs a list of [[level]] tables")
    unknown_top = set(data) - {"level"}
    if unknown_top:
        raise ValueError(f"unknown mapping key(s) {sorted(unknown_top)}; expected [[level]]")
    levels = []
    allowed = {"name", "tile", "order", "spatial", "keep"}
    for i, lv in enumerate(data["level"]):
        if not isinstance(lv, dict):
            raise ValueError(f"mapping level #{i + 1} must be a table")
        extra = set(lv) - allowed
        if extra:
            raise ValueError(f"mapping level #{i + 1}: unknown key(s) {sorted(extra)}")
        if "name" not in lv:
            raise ValueError(f"mapping level #{i + 1} needs a name")
        levels.append(
            Level(
                str(lv["name"]),
                tuple(dict(lv.get("tile", {})).items()),
                tuple(lv.get("order", ())),
                tuple(dict(lv.get("spatial", {})).items()),
                tuple(lv.get("keep", ())),
            )
        )
    return LoopNest(problem, tuple(levels))


def _validate(nest: LoopNest) -> None:
    p = nest.problem
    size = p.size
    if not nest.levels:
        raise ValueError("a mapping needs at least one level")
    names = [lv.name for lv in nest.levels]
    if len(set(names)) != len(names):
        raise ValueError(f"mapping levels must have distinct names, got {names}")
    operands = {op.name for op in p.operands}
    for li, lv in enumerate(nest.levels):
        where = f"mapping level {lv.name!r}"
        for field, pairs in (("tile", lv.tile), ("spatial", lv.spatial)):
            keys = [d for d, _ in pairs]
            if len(set(keys)) != len(keys):
                raise ValueError(f"{where}: repeated dimension in {field}")
            for d, v in pairs:
                if d not in size:
                    raise ValueError(f"{where}: unknown dimension {d!r} in {field}; "
                                     f"dimensions: {list(size)}")  # fmt: skip
                pos_int(f"{where} {field} {d}", v)
        for d in lv.order:
            if d not in size:
                raise ValueError(f"{where}: unknown dimension {d!r} in order")
        if len(set(lv.order)) != len(lv.order):
            raise ValueError(f"{where}: repeated dimension in order {list(lv.order)}")
        for o in lv.keep:
            if o not in operands:
                raise ValueError(f"{where}: unknown operand {o!r}; operands: {sorted(operands)}")
        if li == 0:
            short = {d: v for d, v in lv.tile if v < size[d]}
            if short:
                raise ValueError(
                    f"{where} is the outermost level and must cover the problem; "
                    f"tile {short} is smaller than {p.name!r} ({size})"
                )
            missing = operands - set(lv.keep)
            if missing:
                raise ValueError(f"{where} is the outermost level and must keep every operand; "
                                 f"missing {sorted(missing)}")  # fmt: skip
        tile, child, fan = nest.tile(li), nest.child_tile(li), nest.spatial(li)
        for d in size:
            block = min(child[d] * fan[d], size[d])
            if child[d] > tile[d] or block > tile[d]:
                below = nest.levels[li + 1].name if li + 1 < len(nest.levels) else "mac"
                raise ValueError(
                    f"{where}: dimension {d} block {child[d]} x {fan[d]} (level {below!r} "
                    f"tile x fan-out) exceeds this level's tile {tile[d]}"
                )
            if tile[d] % block and tile[d] != size[d]:
                raise ValueError(
                    f"{where}: dimension {d} tile {tile[d]} is not a multiple of the block "
                    f"{block} below it (nor the whole dimension {size[d]})"
                )
            if tile[d] > block and d not in lv.order:
                raise ValueError(
                    f"{where}: dimension {d} has {-(-tile[d] // block)} iterations here "
                    f"(tile {tile[d]}, block {block}) but is missing from order {list(lv.order)}"
                )

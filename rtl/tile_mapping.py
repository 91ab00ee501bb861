"""The accelerator tile's DRAM-step schedule, from the mapping `hwsim.simulate` runs.

A mapping is either ``"scalesim"`` (the simulator's fixed OS fold order: every fold is a step,
row folds outer) or a loop nest of the systolic skeleton (`hwsim.accel.mapping.gemm_mapper`):
``"optimal"`` (the mapper's nest for the layer), a `LoopNest`, a pinned spec
``{"tiles": {dim: extent}, "order": [dims]}``, or ``{layer name: one of those}`` as
``simulate`` takes it. For a nest, the tile runs one *step* per iteration of the DRAM loops
(M and N tiles, in the nest's order); which operand tiles a step loads is read from the
simulator's own per-step traffic (`hwsim.accel.nest_engine.dram_traffic`), not re-derived.
Extents are in elements.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

OS_DIMS = ("M", "N")


@dataclass(frozen=True)
class TileSchedule:
    """SRAM tile extents and the DRAM steps of a layer (extents in elements)."""

    mapping: str  # "scalesim", or the nest's one-line summary
    mt: int  # SRAM tile extent along M (a multiple of the array rows, or all of M)
    nt: int  # SRAM tile extent along N (a multiple of the array columns, or all of N)
    n_outer: bool  # the N-tile loop is outside the M-tile loop
    steps: tuple  # per DRAM step, in order: (M tile, N tile, act loaded, weight loaded)


def simulate_mapping(layer, mapping):
    """The ``mapping`` argument of ``hwsim.simulate`` that runs ``layer`` as the tile does."""
    from hwsim.accel.mapping.loopnest import LoopNest

    if isinstance(mapping, str):
        return mapping
    if isinstance(mapping, LoopNest) or (isinstance(mapping, dict) and "tiles" in mapping):
        return {layer.name: mapping}
    return mapping


def gemm_problem_of(layer):
    """The loop-nest problem of a plain GEMM layer (as ``hwsim.simulate`` builds it)."""
    from hwsim.accel.mapping.problem import gemm_problem

    return gemm_problem(layer.m, layer.n, layer.k, layer.batch, shared_weight=True,
                        name=layer.name)  # fmt: skip


def resolve_nest(acc, layer, mapping, timing, objective: str = "latency"):
    """The `LoopNest` ``simulate(acc, layer, mapping=...)`` executes, or None for
    ``"scalesim"``; ValueError naming the problem for anything else."""
    from hwsim.accel.mapping.gemm_mapper import map_gemm, pinned_nest
    from hwsim.accel.mapping.loopnest import LoopNest

    problem = gemm_problem_of(layer)
    if isinstance(mapping, str):
        if mapping == "scalesim":
            return None
        if mapping == "optimal":
            return map_gemm(acc, problem, timing.dot_cycles, timing.acc_bits, objective).nest
        raise ValueError(f"tile: mapping must be 'scalesim', 'optimal', a LoopNest or a pinned "
                         f"{{'tiles', 'order'}} spec, got {mapping!r}")  # fmt: skip
    spec = mapping
    if isinstance(mapping, dict) and "tiles" not in mapping:
        if set(mapping) != {layer.name}:
            raise ValueError(f"tile: the mapping pins layer(s) {sorted(mapping)}, the tile runs "
                             f"layer {layer.name!r}")  # fmt: skip
        spec = mapping[layer.name]
    if not isinstance(spec, LoopNest | dict):
        raise ValueError(f"tile: a pinned mapping is a dict or a LoopNest, got "
                         f"{type(spec).__name__}")  # fmt: skip
    return pinned_nest(acc, problem, spec, timing.acc_bits)


def nest_schedule(acc, nest, acc_bits: float) -> TileSchedule:
    """The tile schedule of a systolic OS ``nest``; ValueError when the tile cannot run it
    (a DRAM loop over K or B)."""
    from hwsim.accel.mapping.gemm_mapper import nest_summary
    from hwsim.accel.mapping.loopnest import TEMPORAL
    from hwsim.accel.nest_engine import dram_steps, dram_traffic

    sram = nest.index("sram")
    size, tile = nest.problem.size, nest.tile(sram)
    above = [lp for lp in nest.loops() if lp.level < sram and lp.kind == TEMPORAL]
    for lp in above:
        if lp.dim not in OS_DIMS:
            raise ValueError(
                f"tile: the mapping splits {lp.dim} at the DRAM level (SRAM tile {lp.dim}="
                f"{tile[lp.dim]} of {size[lp.dim]}): the output-stationary tile keeps each "
                "output's whole reduction in its PE and cannot spill or resume partial sums; "
                f"pin a mapping whose SRAM tile holds all of {lp.dim}"
            )
    idx, _ = dram_steps(nest)
    bits = {o: acc.bits(o) for o in ("act", "weight", "out")}
    tr = dram_traffic(nest, bits, acc_bits)
    pos = {lp.dim: j for j, lp in enumerate(above)}
    ti = idx[:, pos["M"]] if "M" in pos else np.zeros(len(idx), dtype=np.int64)
    tj = idx[:, pos["N"]] if "N" in pos else np.zeros(len(idx), dtype=np.int64)
    la, lw = tr["read"]["act"] > 0, tr["read"]["weight"] > 0
    steps = tuple(
        (int(a), int(b), bool(c), bool(d)) for a, b, c, d in zip(ti, tj, la, lw, strict=True)
    )
    n_outer = [lp.dim for lp in above][:1] == ["N"] and len(above) == 2
    return TileSchedule(nest_summary(nest), tile["M"], tile["N"], n_outer, steps)


def scalesim_schedule(rows: int, cols: int, fr: int, fc: int, whole: bool) -> TileSchedule:
    """The simulator's fixed OS order as steps of one fold: row folds outer; the act block
    loads when the column fold is 0, the weight block every fold or (``whole``: the matrix
    stays resident) only in the first row fold."""
    steps = tuple((i, j, j == 0, not whole or i == 0) for i in range(fr) for j in range(fc))
    return TileSchedule("scalesim", rows, cols, False, steps)

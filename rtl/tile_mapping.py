"""The accelerator tile's DRAM-step schedule, from the mapping `hwsim.simulate` runs.

A mapping is either ``"scalesim"`` (the simulator's fixed OS fold order: every fold is a step,
row folds outer) or a loop nest of the systolic skeleton (`hwsim.accel.mapping.gemm_mapper`):
``"optimal"`` (the mapper's nest for the layer), a `LoopNest`, a pinned spec
``{"tiles": {dim: extent}, "order": [dims]}``, or ``{layer name: one of those}`` as
``simulate`` takes it. For a nest, the tile runs one *step* per iteration of the DRAM loops
(M, N and K tiles, in any order the nest has); which operand tiles a step loads, and when
partial sums move, is read from the simulator's own per-step traffic
(`hwsim.accel.nest_engine.dram_traffic`), not re-derived.

Partial sums (a DRAM loop over K, `PSUM_MODES`): where they wait between the K tiles of one
output tile follows the simulator's access model (`hwsim.accel.mapping.access`):

* ``"pe"``: the K loop is inside every M/N DRAM loop and one SRAM tile is one array fold: the
  PE accumulators keep the partial sums across the K steps (the array is not restarted);
* ``"sram"``: the K loop is inside every M/N DRAM loop, several folds per SRAM tile: each
  fold's partial sums go to the out buffer at the accumulator width and the next K tile's
  capture adds to them;
* ``"dram"``: an M or N DRAM loop runs inside the K loop: every step writes its partial sums
  to DRAM at the accumulator width, and the next K tile of that output tile reads them back
  into the out buffer before its folds (capture adds, as for ``"sram"``).

The last write of every output element is in the output format, once. Extents are in
elements.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

OS_DIMS = ("M", "N")
WALK_DIMS = ("M", "N", "K")
#: where partial sums wait between K tiles: "none" (K whole), "pe", "sram", "dram"
PSUM_MODES = ("none", "pe", "sram", "dram")
#: per-step store kinds: no write-back, partial sums (accumulator width), final outputs
NO_STORE, STORE_PARTIAL, STORE_FINAL = 0, 1, 2


@dataclass(frozen=True)
class TileSchedule:
    """SRAM tile extents and the DRAM steps of a layer (extents in elements)."""

    mapping: str  # "scalesim", or the nest's one-line summary
    mt: int  # SRAM tile extent along M (a multiple of the array rows, or all of M)
    nt: int  # SRAM tile extent along N (a multiple of the array columns, or all of N)
    kt: int  # SRAM tile extent along K (all of K unless a DRAM loop splits it)
    order: tuple  # the DRAM loops over M/N/K tiles with more than one trip, outer first
    psum: str  # PSUM_MODES: where partial sums wait between K tiles
    #: per DRAM step, in order: (M tile, N tile, K tile, act loaded, weight loaded,
    #: partial sums read from DRAM, store kind NO_STORE / STORE_PARTIAL / STORE_FINAL)
    steps: tuple

    @property
    def n_outer(self) -> bool:
        """The N-tile loop is outside the M-tile loop."""
        o = [d for d in self.order if d in OS_DIMS]
        return o == ["N", "M"]


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


def psum_mode(order: tuple, one_fold: bool) -> str:
    """Where partial sums wait between K tiles for DRAM loops ``order`` (outer first, loops
    with one trip left out); ``one_fold``: an SRAM tile is one array fold (PSUM_MODES)."""
    if "K" not in order:
        return "none"
    if order.index("K") < max((order.index(d) for d in OS_DIMS if d in order), default=-1):
        return "dram"
    return "pe" if one_fold else "sram"


def nest_schedule(acc, nest, acc_bits: float, saturates: bool = False) -> TileSchedule:
    """The tile schedule of a systolic OS ``nest``; ValueError when the tile cannot run it
    (an accumulator-buffer level; a K split on a saturating accumulator)."""
    from hwsim.accel.arch import ACCUM
    from hwsim.accel.mapping.gemm_mapper import nest_summary
    from hwsim.accel.mapping.loopnest import TEMPORAL
    from hwsim.accel.nest_engine import dram_steps, dram_traffic

    if ACCUM in (lv.name for lv in nest.levels):
        raise ValueError(
            f"tile: the mapping keeps partial sums in an {ACCUM!r} buffer level, which the "
            "tile does not generate; use an accelerator without accumulator_bytes"
        )
    sram = nest.index("sram")
    size, tile = nest.problem.size, nest.tile(sram)
    above = [lp for lp in nest.loops() if lp.level < sram and lp.kind == TEMPORAL]
    for lp in above:
        if lp.dim not in WALK_DIMS and lp.trips > 1:
            raise ValueError(f"tile: the mapping splits {lp.dim} at the DRAM level; the tile "
                             "walks M, N and K tiles only")  # fmt: skip
    if tile["K"] < size["K"] and saturates:
        raise ValueError(
            f"tile: the mapping splits K (SRAM tile K={tile['K']} of {size['K']}) but the PE "
            "accumulator saturates: adding saturated partial sums differs from saturating "
            "once over the whole dot product; use overflow='wrap' or keep K whole"
        )
    idx, _ = dram_steps(nest)
    bits = {o: acc.bits(o) for o in ("act", "weight", "out")}
    tr = dram_traffic(nest, bits, acc_bits)
    pos = {lp.dim: j for j, lp in enumerate(above)}

    def index(d):
        return idx[:, pos[d]] if d in pos else np.zeros(len(idx), dtype=np.int64)

    ti, tj, tk = index("M"), index("N"), index("K")
    la, lw = tr["read"]["act"] > 0, tr["read"]["weight"] > 0
    lp_, wr = tr["read"]["out"] > 0, tr["write"]["out"] > 0
    last_k = tk == -(-size["K"] // tile["K"]) - 1
    store = np.where(wr, np.where(last_k, STORE_FINAL, STORE_PARTIAL), NO_STORE)
    steps = tuple(
        (int(a), int(b), int(c), bool(d), bool(e), bool(f), int(g))
        for a, b, c, d, e, f, g in zip(ti, tj, tk, la, lw, lp_, store, strict=True)
    )
    order = tuple(lp.dim for lp in above if lp.trips > 1)
    one_fold = tile["M"] <= acc.rows and tile["N"] <= acc.cols
    mode = psum_mode(order, one_fold)
    return TileSchedule(nest_summary(nest), tile["M"], tile["N"], tile["K"], order, mode, steps)


def scalesim_schedule(rows: int, cols: int, fr: int, fc: int, whole: bool) -> TileSchedule:
    """The simulator's fixed OS order as steps of one fold: row folds outer; the act block
    loads when the column fold is 0, the weight block every fold or (``whole``: the matrix
    stays resident) only in the first row fold."""
    steps = tuple((i, j, 0, j == 0, not whole or i == 0, False, STORE_FINAL)
                  for i in range(fr) for j in range(fc))  # fmt: skip
    return TileSchedule("scalesim", rows, cols, 0, ("M", "N"), "none", steps)

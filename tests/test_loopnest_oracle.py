"""Analytic loop-nest access counts == brute-force walk of every MAC (exact, random cases)."""

from __future__ import annotations

import numpy as np
import pytest

from hwsim import accel
from hwsim.accel.mapping.access import count_accesses
from hwsim.accel.mapping.gemm_mapper import DIMS, ROWS_COLS, gemm_nest
from hwsim.accel.mapping.loopnest import Level, LoopNest
from hwsim.accel.mapping.problem import axis_extent, conv_problem, gemm_problem
from hwsim.accel.mapping.walker import brute_force_counts

FIELDS = ("reads", "writes", "fills", "updates", "first")


def random_problem(rng: np.random.Generator):
    if rng.random() < 0.5:
        m, n, k = (int(x) for x in rng.integers(1, 10, 3))
        return gemm_problem(
            m, n, k, int(rng.integers(1, 3)), shared_weight=bool(rng.random() < 0.7)
        )
    stride, dil = int(rng.integers(1, 4)), int(rng.integers(1, 3))
    n, kk, c = int(rng.integers(1, 3)), int(rng.integers(1, 4)), int(rng.integers(1, 4))
    p, q = int(rng.integers(1, 6)), int(rng.integers(1, 5))
    r, s = int(rng.integers(1, 4)), int(rng.integers(1, 4))
    return conv_problem(n, kk, c, p, q, r, s, stride=stride, dilation=dil)


def random_nest(rng: np.random.Generator, prob) -> LoopNest:
    size = prob.size
    nlev = int(rng.integers(1, 5))
    names = ["dram", "sram", "reg", "lane"][:nlev]
    ops = [o.name for o in prob.operands]
    tiles = [dict() for _ in range(nlev)]
    fans = [dict() for _ in range(nlev)]
    for d, v in size.items():
        cur = 1
        for li in range(nlev - 1, -1, -1):
            f = int(rng.integers(1, 4)) if rng.random() < 0.4 else 1
            fans[li][d] = f
            block = min(cur * f, v)
            t = v if li == 0 else min(block * int(rng.integers(1, 4)), v)
            if t < v and t % block:
                t = v
            tiles[li][d] = t
            cur = t
    levels = []
    for li in range(nlev):
        order = list(size)
        rng.shuffle(order)
        keep = ops if li == 0 else [o for o in ops if rng.random() < 0.6]
        levels.append(
            Level(
                names[li],
                tuple(tiles[li].items()),
                tuple(order),
                tuple((d, f) for d, f in fans[li].items() if f > 1),
                tuple(keep),
            )
        )
    return LoopNest(prob, tuple(levels))


def check(nest: LoopNest) -> None:
    ana = {(a.operand, a.level): {f: getattr(a, f) for f in FIELDS} for a in count_accesses(nest)}
    brute = brute_force_counts(nest)
    assert ana == brute, nest.describe()


@pytest.mark.parametrize("seed", range(600))
def test_random_nests_match_walker(seed):
    rng = np.random.default_rng(seed)
    check(random_nest(rng, random_problem(rng)))


def test_axis_extent_matches_enumeration():
    for s in range(1, 5):
        for d in range(1, 5):
            for a in range(1, 7):
                for b in range(1, 7):
                    want = len({s * i + d * j for i in range(a) for j in range(b)})
                    assert axis_extent((("P", s), ("R", d)), {"P": a, "R": b}) == want


# ---- the accelerator's own nests: dram, [accum], sram (array fan-out), reg ---------------


def _skeleton(rng):
    df = str(rng.choice(["os", "ws", "is"]))
    rows, cols = (int(x) for x in rng.integers(1, 4, 2))
    acc = accel.systolic(rows, cols, dataflow=df, accumulator_bytes=int(rng.integers(8, 400)))
    m, n, k = (int(x) for x in rng.integers(1, 10, 3))
    prob = gemm_problem(m, n, k, int(rng.integers(1, 3)), shared_weight=bool(rng.random() < 0.7))
    unit = {d: 1 for d in DIMS} | dict(zip(ROWS_COLS[df], (rows, cols), strict=True))
    tiles = {}
    for d in DIMS:
        t = min(unit[d] * int(rng.integers(1, 4)), prob.size[d])
        tiles[d] = t if (t == prob.size[d] or t % unit[d] == 0) else prob.size[d]
    return acc, gemm_nest(acc, prob, tiles, tuple(rng.permutation(DIMS)), 32.0)


@pytest.mark.parametrize("seed", range(80))
def test_skeleton_with_accum_and_reg_matches_walker(seed):
    """The accelerator's nests (dram, [accum], sram, reg) counted analytically == walked."""
    acc, nest = _skeleton(np.random.default_rng(7000 + seed))
    ana = {(a.operand, a.level): {f: getattr(a, f) for f in FIELDS} for a in count_accesses(nest)}
    assert ana == brute_force_counts(nest), nest.describe()
    assert "reg" in {lv for _, lv in ana}


def test_some_random_skeletons_use_the_accumulator():
    nests = [_skeleton(np.random.default_rng(7000 + s))[1] for s in range(80)]
    names = [lv.name for nest in nests for lv in nest.levels]
    assert names.count("accum") >= 5  # the oracle test above exercises the new level

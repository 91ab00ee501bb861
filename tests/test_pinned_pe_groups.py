"""Step model vs fast path for every grouped PE with several groups (k >= 128, group 32) and
non-power-of-two FP16 scales (issue 17): the default-tier equivalence test uses k < 40 and
rarely more than one group, which let a reversed group-dequantization order through."""

from __future__ import annotations

import time

import numpy as np
import pytest
from conftest import stable_seed
from test_pe_equivalence import operands, same

import hwsim.formats as F
import hwsim.pe as pe

# (kind, params, side inputs): "scales" FP16, "scales_zeros" FP16 + zero points, "iscale" ints
GROUPED = [
    ("mixpe", {"group_size": 32}, "scales"),  # W4A8
    ("mixpe", {"group_size": 32, "w_fmt": "uint4"}, "scales_zeros"),
    ("mixpe", {"group_size": 32, "a_fmt": "fp16"}, "scales"),  # W4A16
    ("mixpe", {"group_size": 32, "a_fmt": "fp16", "w_fmt": "uint4"}, "scales_zeros"),
    ("dequant_mac", {"group_size": 32}, "scales"),
    ("dequant_mac", {"group_size": 32, "w_fmt": "uint4"}, "scales_zeros"),
    ("bitserial", {"scheme": "bitmod", "w_fmt": "int4", "group_size": 32}, "iscale"),
    ("bitserial", {"scheme": "bitmod", "w_fmt": "bitmod_fp4_er_neg", "group_size": 32}, "iscale"),
    (
        "bitserial",
        {"scheme": "bitmod", "a_fmt": "fp16", "w_fmt": "bitmod_fp3_ea_pos", "group_size": 32},
        "iscale",
    ),
]


def _side(kind_side, unit, k, rng):
    ng = -(-k // unit.cfg.group_size)
    if kind_side == "iscale":
        return {"scales": rng.integers(1, 1 << unit.cfg.scale_bits, size=ng)}
    # FP16 scales with full 10-bit mantissas (not powers of two), spread over 2^-6 .. 2^3
    s = rng.uniform(1.0, 2.0, size=ng) * np.exp2(rng.integers(-6, 3, size=ng))
    s = F.get("fp16").quantize(s)
    assert np.all(np.frexp(s)[0] != 0.5), "a scale came out a power of two"
    out = {"scales": s}
    if kind_side == "scales_zeros":
        out["zeros"] = rng.integers(0, 16, size=ng)
    return out


@pytest.mark.parametrize(("kind", "params", "side"), GROUPED, ids=lambda v: str(v))
def test_step_equals_fast_with_many_groups(kind, params, side):
    rng = np.random.default_rng(stable_seed(f"groups{kind}{params}"))
    unit = pe.get(kind, **params)
    assert unit.cfg.group_size == 32
    unit.dot(*operands(unit, 32, rng), **_side(side, unit, 32, rng))  # compile outside the clock
    t0 = time.perf_counter()
    for k in (128, 160, 256, 200):  # 4..8 groups, the last one partial for 160 and 200
        x, w = operands(unit, k, rng)
        s = _side(side, unit, k, rng)
        fast, slow = unit.dot(x, w, **s), unit.step_dot(x, w, **s)
        assert same(fast.value, slow.value), (k, fast.value, slow.value)
        assert fast.cycles == slow.cycles
        assert fast.events == slow.events
        assert fast.overflowed == slow.overflowed
    assert time.perf_counter() - t0 < 2.0 * 3  # < 2 s alone; x3 headroom on a shared machine

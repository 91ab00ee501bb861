"""Step model vs fast path for every grouped PE with several groups (k >= 128, group 32) and
non-power-of-two FP16 scales (issue 17): the default-tier equivalence test uses k < 40 and
rarely more than one group, which let a reversed group-dequantization order through."""

from __future__ import annotations

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
    # significand (1024 + j) / 1024 with j in 1..1023: exact in FP16, never a power of two
    s = (1024 + rng.integers(1, 1024, size=ng)) / 1024 * np.exp2(rng.integers(-6, 3, size=ng))
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
    for k in (128, 160, 256, 200):  # 4..8 groups, the last one partial for 160 and 200
        x, w = operands(unit, k, rng)
        s = _side(side, unit, k, rng)
        fast, slow = unit.dot(x, w, **s), unit.step_dot(x, w, **s)
        assert same(fast.value, slow.value), (k, fast.value, slow.value)
        assert fast.cycles == slow.cycles
        assert fast.events == slow.events
        assert fast.overflowed == slow.overflowed


# Cycles of a length-k dot, hand-computed from the docs/pe_models.md formulas for k that is not
# a multiple of the lanes / tile (replaces relying on dot().cycles == dot_cycles(k), which holds
# by construction).
CYCLES = [
    ("int_mac", {"lanes": 4}, None, 10, 3),  # ceil(10/4)
    ("fp_fma", {}, None, 10, 10),  # k
    ("dequant_mac", {"group_size": 4}, "scales", 10, 10),  # k
    ("bitserial", {"scheme": "stripes", "lanes": 16}, None, 20, 16),  # ceil(20/16) * 8 a-bits
    ("bitserial", {"scheme": "booth", "w_fmt": "int4", "lanes": 3}, None, 10, 8),  # 4 * ceil(4/2)
    ("bitserial", {"scheme": "booth", "w_fmt": "uint3", "lanes": 3}, None, 10, 8),  # 4 * (3+1)/2
    ("bitserial", {"scheme": "bitmod", "w_fmt": "int6"}, None, 10, 9),  # ceil(10/4) * ceil(6/2)
    ("bitserial", {"scheme": "bitmod", "w_fmt": "bitmod_fp4_ea_pos"}, None, 10, 6),  # 3 * 2 terms
    # Bit Fusion int8 x int2: (8/8)(8/2) = 4 MACs per cycle per unit: ceil(10 / 4)
    ("bitserial", {"scheme": "fusion", "a_fmt": "int8", "w_fmt": "int2", "lanes": 1}, None, 10, 3),
    ("lut", {"w_fmt": "bipolar4"}, None, 10, 12),  # ceil(10/4) * 4 weight planes
    ("shiftadd", {"lanes": 3}, None, 10, 4),  # ceil(10/3)
    ("shiftadd", {"mode": "lmul", "a_fmt": "fp16", "w_fmt": "fp16"}, None, 10, 10),  # k
    # groups of 8, 8, 4 over 4 lanes: 2 + 2 + 1 cycles, + 1 dequant tail
    ("mixpe", {"group_size": 8, "lanes": 4}, "scales", 20, 6),
    # ceil(20/8) * p * q = 3 * 2 * 3
    ("bipolar", {"a_fmt": "bipolar2", "w_fmt": "bipolar3", "lanes": 8}, None, 20, 18),
]


@pytest.mark.parametrize(("kind", "params", "side", "k", "cycles"), CYCLES, ids=lambda v: str(v))
def test_dot_cycles_hand_computed(kind, params, side, k, cycles):
    rng = np.random.default_rng(stable_seed(f"cycles{kind}{params}"))
    unit = pe.get(kind, **params)
    x, w = operands(unit, k, rng)
    s = _side(side, unit, k, rng) if side else {}
    assert unit.dot_cycles(k) == cycles
    assert unit.dot(x, w, **s).cycles == cycles
    assert unit.step_dot(x, w, **s).cycles == cycles


@pytest.mark.parametrize("k", [20, 32, 96, 100])
def test_mixpe_w4a8_against_fraction_oracle(k):
    """MixPE W4A8 by its definition, independently of both models: per group g the exact
    integer P_g = sum x (q - z_g), then out <- RNE_fp32(s_g * P_g + out), one rounding per group
    (the first group too: k <= 32 is a single group whose result must still be an FP32 value)."""
    from fractions import Fraction

    from test_pe_values import FP32, rne

    G = 32
    rng = np.random.default_rng(stable_seed(f"mixpe-oracle{k}"))
    unit = pe.get("mixpe", w_fmt="uint4", group_size=G)
    for _ in range(6):
        x = rng.integers(-128, 128, k)
        w = rng.integers(0, 16, k)
        ng = -(-k // G)
        # FP16 scales with full mantissas: s * P needs more than FP32's 24 bits
        s = F.get("fp16").quantize(rng.uniform(1.0, 2.0, ng) * np.exp2(rng.integers(-4, 4, ng)))
        z = rng.integers(0, 16, ng)
        out = Fraction(0)
        for g in range(ng):
            p = sum(int(x[i]) * (int(w[i]) - int(z[g])) for i in range(g * G, min(k, g * G + G)))
            out = rne(Fraction(float(s[g])) * p + out, *FP32)
        assert unit.dot(x, w, scales=s, zeros=z).value == float(out)
        assert unit.step_dot(x, w, scales=s, zeros=z).value == float(out)


def test_mixpe_first_group_rounding_tie_by_hand():
    """Group 0: P0 = 8 * 127 * 15 + 127 * 9 + 2 * 1 = 16385, scale 1 + 2^-10 (FP16):
    s0 * P0 = 16385 * 1025 / 1024 = 16401.0009765625, exactly half an FP32 ulp (2^-9) above
    16401, so RNE gives 16401.0 (even). Group 1 adds 2^-14 * 1, under half an ulp:
    round(16401.0 + 2^-14) = 16401.0; skipping the first rounding would give
    round(16401.0009765625 + 2^-14) = 16401.001953125."""
    unit = pe.get("mixpe", w_fmt="uint4", group_size=32)
    x = np.zeros(64, dtype=np.int64)
    w = np.zeros(64, dtype=np.int64)
    x[:10], w[:10] = [127] * 9 + [2], [15] * 8 + [9, 1]
    x[32], w[32] = 1, 1
    s = np.array([1 + 2**-10, 2**-14])
    z = np.zeros(2, dtype=np.int64)
    for k in (32, 64):
        ng = k // 32
        for r in (unit.dot(x[:k], w[:k], scales=s[:ng], zeros=z[:ng]),
                  unit.step_dot(x[:k], w[:k], scales=s[:ng], zeros=z[:ng])):  # fmt: skip
            assert r.value == 16401.0, (k, r.value)

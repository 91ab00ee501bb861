"""Float32 BitMoD FP16 kernel (pe/bitmod_f32.py, the PE path) against the int64 4-lane
kernel, the lane-generic kernel and the step model: bit-identical results on random small
GEMMs, and its fallbacks."""

from __future__ import annotations

import numpy as np
import pytest

import hwsim.formats as F
import hwsim.pe as pe
from hwsim.pe import bitmod_fp as BF
from hwsim.pe import kernels as K


def _bits_equal(a, b) -> bool:
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return a.shape == b.shape and bool(np.all(a.view(np.int64) == b.view(np.int64)))


def _operands(w_fmt, m, k, n, scaled, seed):
    """PE, FP16 activations over the whole exponent range (subnormals, which the PE
    flushes, zeros, +-65504), weights on the format's grid, integer scales (group 32)."""
    rng = np.random.default_rng(seed)
    unit = pe.get("bitserial", scheme="bitmod", a_fmt="fp16", w_fmt=w_fmt, group_size=32)
    X = F.get("fp16").quantize(rng.normal(size=(m, k)) * np.exp2(rng.integers(-30, 14, (m, k))))
    X[rng.random((m, k)) < 0.1] = 0.0
    X[0, :5], X[1, :7] = 65504.0, -65504.0
    assert np.any((X != 0) & (np.abs(X) < 2.0**-14)), "no subnormal activations drawn"
    W = rng.choice(F.get(w_fmt).grid(), size=(k, n))
    side = {"scales": rng.integers(0, 256, size=(-(-k // 32), n))} if scaled else {}
    return unit, X, W, side


def _fields(unit, X, W, side, scaled):
    Xp, Wp, s = unit._prepare(X, W, side)
    SA, EA, MA = BF.act_fields(Xp)
    TS, TE, TM, BS = BF.term_arrays(Wp, not unit.w_terms, unit._booth_arrays, unit.cpc)
    n = W.shape[1]
    sc = s["scales"].astype(np.float64) if scaled else np.ones((1, n))
    group = 32 if scaled else X.shape[1]
    return (SA, EA, MA, TS, TE, TM, BS), group, sc


@pytest.mark.parametrize(
    ("w_fmt", "m", "k", "n", "scaled"),
    [("int4", 9, 130, 70, False), ("int4", 6, 99, 40, True), ("int8", 5, 37, 300, True),
     ("bitmod_fp4_er_pos", 7, 66, 50, True), ("bitmod_fp4_er_pos", 5, 41, 30, False),
     ("bitmod_fp3_er_neg", 6, 70, 33, True), ("int6", 4, 38, 20, False)],
)  # fmt: skip
def test_f32_kernel_is_bit_identical_to_lane_kernels_and_step_model(w_fmt, m, k, n, scaled):
    """The float32 kernel (pe/bitmod_f32.py, the PE path for 4 lanes) against the int64
    4-lane kernel, the lane-generic kernel and the step model; FP16 activations with
    subnormals (flushed), zeros, +-65504; K not a multiple of 4."""
    from hwsim.pe import bitmod_f32 as B32

    unit, X, W, side = _operands(w_fmt, m, k, n, scaled, seed=3 * k + n)
    f, group, sc = _fields(unit, X, W, side, scaled)
    wu = float(unit.w_unit)
    assert B32.f32_operands(*f) is not None, "the float32 datapath must take these terms"
    got = B32.bitmod_fp_gemm_f32(*f, group, sc, scaled, wu)
    ref4 = K.bitmod_fp_gemm(*f, 4, group, sc, scaled, wu)
    seq = K._bitmod_fp_gemm_tiles(*f, 4, group, sc, scaled, wu, 0, m * -(-n // K.TILE_N),
                                  np.zeros((m, n)))  # fmt: skip
    assert _bits_equal(got, ref4)
    assert _bits_equal(got, seq)
    assert _bits_equal(unit.matmul(X, W, **side).value, got)  # the PE path runs it
    step = [unit.step_dot(X[2], W[:, j], **{key: v[:, j] for key, v in side.items()}).value
            for j in range(4)]  # fmt: skip
    assert _bits_equal(got[2, :4], step)


def test_f32_kernel_falls_back_where_float32_is_not_exact():
    """A term with man = 0 but ew != 0 (its exponent still counts in max_exp) or a bsig
    above 7 goes to the int64 kernel; results stay equal to it."""
    from hwsim.pe import bitmod_f32 as B32

    unit, X, W, side = _operands("int4", 4, 36, 20, False, seed=2)
    f, group, sc = _fields(unit, X, W, side, False)
    TE = f[4].copy()
    TE[f[5] == 0] = 3  # zero terms (man = 0) with ew = 3
    g = (*f[:4], TE, *f[5:])
    assert B32.f32_operands(*g) is None
    assert B32.f32_operands(*f[:6], np.array([0, 8])) is None
    got = B32.bitmod_fp_gemm_f32(*g, group, sc, False, 1.0)
    assert _bits_equal(got, K.bitmod_fp_gemm(*g, 4, group, sc, False, 1.0))


@pytest.mark.parametrize("w_fmt", ["bitmod_fp4_er_pos", "bitmod_fp3_er_neg", "bitmod_fp4_ea_neg"])
def test_fp_term_fields_equal_term_arrays(w_fmt):
    """The PE path's FP term decode (one table over the present magnitudes, int8) against
    `term_arrays` (np.unique and per-cycle tables, int64)."""
    unit = pe.get("bitserial", scheme="bitmod", a_fmt="fp16", w_fmt=w_fmt)
    W = np.random.default_rng(5).choice(F.get(w_fmt).grid(), size=(40, 30))
    _, Wp, _ = unit._prepare(np.zeros((1, 40)), W, {})
    ref = BF.term_arrays(Wp, False, unit._booth_arrays, unit.cpc)
    got = BF.fp_term_fields(Wp)
    for g, r in zip(got, ref[:3], strict=True):
        assert g.dtype == np.int8 and np.array_equal(g, r)
    with pytest.raises(ValueError, match="more than two set bits"):
        BF.fp_term_fields(np.array([[1, 7]]))


@pytest.mark.parametrize("top", [1024, 1 << 14])
def test_f32_kernel_group_sum_with_large_scales(top):
    """Kernel-level scales of 9+ bits (the PE itself takes 8-bit scales) take the
    round-to-odd group sum instead of the float32 addition; both equal the int64 kernel (and
    the float32 addition is chosen for small scales)."""
    from hwsim.pe import bitmod_f32 as B32

    unit, X, W, side = _operands("int4", 5, 70, 40, True, seed=top)
    f, group, _ = _fields(unit, X, W, side, True)
    sc = np.random.default_rng(top).integers(top - 64, top, size=(3, 40)).astype(np.float64)
    assert not B32._f32_products(sc, 1.0) and B32._f32_products(sc % 512, 1.0)
    for s in (sc, sc % 512):
        got = B32.bitmod_fp_gemm_f32(*f, group, s, True, 1.0)
        assert _bits_equal(got, K.bitmod_fp_gemm(*f, 4, group, s, True, 1.0))

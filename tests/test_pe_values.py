"""Exact values against integer / Fraction references, overflow, dequantization algebra."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest

import hwsim.formats as F
import hwsim.pe as pe


def rne(v: Fraction, mbits: int, emin: int, emax: int, ftz: bool = False) -> Fraction | float:
    """Independent Fraction rounding to a binary format (RNE, overflow -> inf)."""
    if v == 0:
        return Fraction(0)
    a = abs(v)
    e = a.numerator.bit_length() - a.denominator.bit_length()
    if Fraction(2) ** e > a:
        e -= 1
    q = max(e, emin) - mbits
    r = a / Fraction(2) ** q
    n = math.floor(r)
    if r - n > Fraction(1, 2) or (r - n == Fraction(1, 2) and n % 2):
        n += 1
    res = n * Fraction(2) ** q
    if res > (2 - Fraction(2) ** -mbits) * Fraction(2) ** emax:
        return math.inf if v > 0 else -math.inf
    if ftz and res < Fraction(2) ** emin:
        return Fraction(0)
    return res if v > 0 else -res


FP16 = (10, -14, 15)
FP32 = (23, -126, 127)


def f16(rng, n, spread=8):
    return F.get("fp16").quantize(rng.normal(size=n) * np.ldexp(1.0, rng.integers(-spread, 4, n)))


# ------------------------------------------------------------------------- integers
@pytest.mark.parametrize("overflow", ["wrap", "saturate"])
def test_int_mac_worst_case_accumulator(overflow):
    k, bits = 4096, 27  # int8 x int8 needs 8 + 8 + log2(4096) = 28 bits (docs/pe_models.md)
    x = np.full(k, -128)
    w = np.full(k, -128)
    ok = pe.get("int_mac", acc_bits=28, overflow=overflow).dot(x, w)
    assert ok.value == 16384 * k and not ok.overflowed
    r = pe.get("int_mac", acc_bits=bits, overflow=overflow).dot(x, w)
    assert r.overflowed
    if overflow == "wrap":
        assert r.value == (16384 * k + 2**26) % 2**27 - 2**26
    else:
        assert r.value == 2**26 - 1
    with pytest.raises(pe.PEOverflowError):
        pe.get("int_mac", acc_bits=bits, overflow="error").dot(x, w)


def test_int32_wraps_like_hardware_beyond_2_31():
    k = 140_000  # 16384 * k > 2^31
    unit = pe.get("int_mac", lanes=8)
    r = unit.dot(np.full(k, -128), np.full(k, -128))
    exact = 16384 * k
    assert r.overflowed and r.value == (exact + 2**31) % 2**32 - 2**31


def test_saturate_is_sequential_per_cycle():
    unit = pe.get("int_mac", a_fmt="int8", w_fmt="int8", acc_bits=8, overflow="saturate")
    x, w = [100, 100, -100], [1, 1, 1]
    # 100 -> 127 (saturated) -> 27: order matters, unlike the exact sum 100
    assert unit.dot(x, w).value == 27 == unit.step_dot(x, w).value


@pytest.mark.parametrize(
    ("kind", "params"),
    [
        ("int_mac", {"w_fmt": "int4", "lanes": 4}),
        ("bitserial", {"scheme": "stripes"}),
        ("bitserial", {"scheme": "booth", "w_fmt": "int5"}),
        ("bitserial", {"scheme": "fusion", "w_fmt": "int4"}),
        ("bitserial", {"scheme": "bitmod", "w_fmt": "int8"}),
        ("lut", {"a_fmt": "int8", "w_fmt": "bipolar4"}),
        ("bipolar", {"a_fmt": "int8", "w_fmt": "bipolar3"}),
        ("bipolar", {"a_fmt": "bipolar5", "w_fmt": "bipolar3"}),
    ],
)
def test_integer_pes_exact(kind, params):
    rng = np.random.default_rng(3)
    unit = pe.get(kind, **params)
    X = rng.choice(F.get(unit.cfg.a_fmt).grid(), size=(5, 300)).astype(np.int64)
    W = rng.choice(F.get(unit.cfg.w_fmt).grid(), size=(300, 6)).astype(np.int64)
    assert np.array_equal(unit.matmul(X, W).value, X @ W)
    assert unit.step_dot(X[0], W[:, 0]).value == int(X[0] @ W[:, 0])


def test_bipolar_overflow_bound():
    k, p, q = 1000, 3, 4
    unit = pe.get("bipolar", a_fmt=f"bipolar{p}", w_fmt=f"bipolar{q}", acc_bits=24)
    r = unit.dot(np.full(k, -7), np.full(k, 15))
    assert r.value == -k * 7 * 15 and abs(r.value) <= k * (2**p - 1) * (2**q - 1)


def test_bitmod_fp_weights_and_group_scales_exact():
    rng = np.random.default_rng(5)
    fmt = "bitmod_fp4_er_neg"
    unit = pe.get("bitserial", scheme="bitmod", w_fmt=fmt, group_size=16)
    x = rng.integers(-128, 128, 64)
    w = rng.choice(F.get(fmt).grid(), 64)
    s = rng.integers(0, 256, 4)
    ref = sum(Fraction(int(s[i // 16])) * int(x[i]) * Fraction(w[i]) for i in range(64))
    assert Fraction(unit.dot(x, w, scales=s).value) == ref
    plain = sum(int(a) * Fraction(b) for a, b in zip(x, w, strict=True))
    assert Fraction(unit.dot(x, w).value) == plain


def test_shiftadd_apot_exact_rational():
    rng = np.random.default_rng(6)
    unit = pe.get("shiftadd", w_fmt="apot4")
    x = rng.integers(-128, 128, 50)
    w = rng.choice(F.get("apot4").grid(), 50)
    ref = sum(int(a) * Fraction(b).limit_denominator(1000) for a, b in zip(x, w, strict=False))
    assert unit.dot(x, w).value == float(ref)


# ------------------------------------------------------------------------- floats
@pytest.mark.parametrize("fused", [True, False])
@pytest.mark.parametrize("acc", ["fp16", "fp32"])
def test_fp_fma_against_fraction_reference(fused, acc):
    rng = np.random.default_rng(11)
    unit = pe.get("fp_fma", fused=fused, acc_fmt=acc)
    spec = FP16 if acc == "fp16" else FP32
    for _ in range(20):
        x, w = f16(rng, 24), f16(rng, 24)
        ref = Fraction(0)
        for a, b in zip(x, w, strict=False):
            p = Fraction(a) * Fraction(b)
            ref = rne(p + ref, *spec) if fused else rne(rne(p, *spec) + ref, *spec)
        assert unit.dot(x, w).value == float(ref)


def test_fp_fma_is_not_numpy_float16():
    # 2048 + 1 + 1 in fp16: each +1 is a tie that rounds to even (stays 2048) sequentially
    unit = pe.get("fp_fma", fused=True, acc_fmt="fp16")
    assert unit.dot([2048.0, 1.0, 1.0], [1.0, 1.0, 1.0]).value == 2048.0
    assert pe.get("fp_fma", acc_fmt="fp32").dot([2048.0, 1.0, 1.0], [1, 1, 1]).value == 2050.0


def test_ftz_flushes_subnormals():
    tiny = 2.0**-20  # fp16 subnormal
    assert pe.get("fp_fma", ftz=True).dot([tiny], [1.0]).value == 0.0
    assert pe.get("fp_fma", ftz=False).dot([tiny], [1.0]).value == tiny


def test_lut_fp16_against_fraction_reference():
    rng = np.random.default_rng(12)
    unit = pe.get("lut", w_fmt="bipolar3")
    for _ in range(10):
        x = f16(rng, 20, spread=14)
        w = rng.choice(F.get("bipolar3").grid(), 20)
        x = np.where(np.abs(x) < 2.0**-14, 0.0, x)  # adder inputs flush anyway
        codes = ((w + 7) // 2).astype(int)
        acc = Fraction(0)
        for g in range(5):
            a = [Fraction(v) for v in x[4 * g : 4 * g + 4]]
            for b in range(3):
                signs = [1 if (codes[4 * g + j] >> b) & 1 else -1 for j in range(4)]
                e = rne(sum(s * v for s, v in zip(signs, a, strict=False)), *FP16, ftz=True)
                acc = rne(acc + e * 2**b, *FP16, ftz=True)
        assert unit.dot(x, w).value == float(acc)


# ------------------------------------------------------------------ dequantization
def _w4_case(rng, k, G, pow2: bool):
    x = rng.integers(-128, 128, k)
    w = rng.integers(0, 16, k)
    ng = -(-k // G)
    if pow2:
        s = np.ldexp(1.0, rng.integers(-8, 2, ng))
    else:
        s = F.get("fp16").quantize(rng.uniform(0.001, 0.1, ng))
    z = rng.integers(0, 16, ng)
    return x, w, s, z


def test_mixpe_group_dequant_equals_per_element_when_exact():
    rng = np.random.default_rng(21)
    G = 32
    mix = pe.get("mixpe", w_fmt="uint4", group_size=G)
    base = pe.get("dequant_mac", w_fmt="uint4", a_fmt="int8", group_size=G)
    for _ in range(20):
        x, w, s, z = _w4_case(rng, 128, G, pow2=True)
        exact = sum(
            Fraction(s[i // G]) * int(x[i]) * (int(w[i]) - int(z[i // G])) for i in range(128)
        )
        assert mix.dot(x, w, scales=s, zeros=z).value == float(exact)
        assert base.dot(x, w, scales=s, zeros=z).value == float(exact)


def test_mixpe_group_dequant_differs_measurably_otherwise():
    rng = np.random.default_rng(22)
    G = 32
    mix = pe.get("mixpe", w_fmt="uint4", group_size=G)
    base = pe.get("dequant_mac", w_fmt="uint4", a_fmt="int8", group_size=G)
    diffs = []
    for _ in range(30):
        x, w, s, z = _w4_case(rng, 256, G, pow2=False)
        exact = float(sum(Fraction(s[i // G]) * int(x[i]) * (int(w[i]) - int(z[i // G]))
                          for i in range(256)))  # fmt: skip
        a = mix.dot(x, w, scales=s, zeros=z).value
        b = base.dot(x, w, scales=s, zeros=z).value
        diffs.append(abs(a - b))
        assert abs(a - exact) <= abs(b - exact) + 1e-6 * abs(exact) + 1e-9
    assert max(diffs) > 0  # per-element rounding of (q - z) * s to fp16 shows up


def test_mixpe_does_g_times_fewer_dequant_ops():
    for G in (32, 64, 128):
        mix = pe.get("mixpe", group_size=G)
        base = pe.get("dequant_mac", group_size=G)
        k = 4096
        assert base.dequant_ops(k) == G * mix.dequant_ops(k)
        assert mix.dot_events(k)["ffma_32"] == k // G


# ------------------------------------------------------------ property-based (hypothesis)
from hypothesis import given  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

F16_BITS = st.integers(0, 0xFBFF).filter(lambda u: (u & 0x7C00) != 0x7C00)
F32S = st.floats(
    width=32, allow_nan=False, allow_infinity=False, min_value=-(2.0**100), max_value=2.0**100
)


def _f16(u: int) -> float:
    return float(np.array([u], np.uint16).view(np.float16)[0])


@given(F16_BITS, F16_BITS, F16_BITS, st.booleans(), st.booleans())
def test_fp16_fma_single_op_matches_fraction(ua, uw, uc, fused, ftz):
    a, w, c = _f16(ua), _f16(uw), _f16(uc)
    unit = pe.get("fp_fma", fused=fused, acc_fmt="fp16", ftz=ftz)
    got = unit.dot([c, a], [1.0, w]).value
    assert got == unit.step_dot([c, a], [1.0, w]).value or (math.isnan(got))

    def flush(v):
        return Fraction(0) if ftz and abs(v) < Fraction(2) ** -14 else Fraction(v)

    a_, w_, c_ = flush(a), flush(w), flush(c)
    acc = rne(c_, *FP16, ftz=ftz)
    if fused:
        ref = rne(a_ * w_ + flush(acc), *FP16, ftz=ftz)
    else:
        p = rne(a_ * w_, *FP16, ftz=ftz)
        ref = p if isinstance(p, float) else rne(flush(p) + flush(acc), *FP16, ftz=ftz)
    assert got == float(ref)


@given(F32S, F32S, F32S)
def test_fp32_fused_accumulation_matches_fraction(a, w, c):
    unit = pe.get("fp_fma", a_fmt="fp32", w_fmt="fp32", acc_fmt="fp32", fused=True)
    got = unit.dot([c, a], [1.0, w]).value
    ref = rne(Fraction(a) * Fraction(w) + Fraction(c), *FP32)
    assert got == float(ref)


@given(st.lists(st.tuples(st.integers(-128, 127), st.integers(-8, 7)), min_size=1, max_size=40),
       st.integers(6, 20), st.sampled_from(["wrap", "saturate"]))  # fmt: skip
def test_int_accumulator_semantics(pairs, acc_bits, overflow):
    x, w = zip(*pairs, strict=True)
    lo, hi = -(2 ** (acc_bits - 1)), 2 ** (acc_bits - 1) - 1
    acc, ovf = 0, False
    for a, b in pairs:
        v = acc + a * b
        if not lo <= v <= hi:
            ovf = True
            v = min(max(v, lo), hi) if overflow == "saturate" else (v - lo) % 2**acc_bits + lo
        acc = v
    r = pe.get("int_mac", w_fmt="int4", acc_bits=acc_bits, overflow=overflow).dot(x, w)
    assert (r.value, r.overflowed) == (acc, ovf)


@pytest.mark.parametrize(("ebits", "mbits"), [(5, 10), (8, 7), (4, 3), (5, 2), (8, 23), (3, 2)])
@pytest.mark.parametrize("ftz", [False, True])
def test_kernel_rounding_matches_integer_softfloat(ebits, mbits, ftz):
    from hwsim.pe import kernels as K
    from hwsim.pe import softfloat as sf

    spec = sf.ieee_spec(ebits, mbits, ftz)
    rng = np.random.default_rng(ebits * 100 + mbits)
    e = rng.integers(spec.emin - mbits - 4, spec.emax + 3, 3000)
    x = rng.uniform(1.0, 2.0, 3000) * np.ldexp(1.0, e) * rng.choice([-1.0, 1.0], 3000)
    edge = np.ldexp(1.0, e) * (1 - np.ldexp(1.0, -rng.integers(12, 53, 3000)))  # just below 2^e
    ties = np.ldexp(2 * rng.integers(1, 2**mbits, 3000) + 1.0, e - mbits - 1)  # halfway
    for arr in (x, edge, ties):
        got = K.fp_round_array(arr, spec.mbits, spec.emin, spec.max_finite, spec.ftz)
        ref = np.array([sf.fp_round(float(v), spec) for v in arr])
        assert np.array_equal(got.view(np.int64), ref.view(np.int64))


def test_bitmod_fp16_datapath_exact_for_small_integers_and_close_otherwise():
    rng = np.random.default_rng(31)
    unit = pe.get("bitserial", scheme="bitmod", a_fmt="fp16", w_fmt="bitmod_fp4_ea_neg")
    x = rng.integers(-8, 9, 64).astype(np.float64)
    w = rng.choice(F.get("bitmod_fp4_ea_neg").grid(), 64)
    assert unit.dot(x, w).value == float(np.dot(x, w))  # no bits are truncated
    x = f16(rng, 512, spread=6)
    w = rng.choice(F.get("bitmod_fp4_ea_neg").grid(), 512)
    got, exact = unit.dot(x, w).value, float(np.dot(x, w))
    assert got != exact  # truncating aligners and a 15-bit accumulator mantissa
    assert abs(got - exact) <= 2.0**-8 * float(np.abs(x) @ np.abs(w))


def test_bitmod_int_scales_equal_per_element_dequant():
    rng = np.random.default_rng(32)
    G = 16
    unit = pe.get("bitserial", scheme="bitmod", w_fmt="int4", group_size=G)
    x, w = rng.integers(-128, 128, 64), rng.integers(-8, 8, 64)
    s = rng.integers(0, 256, 4)
    per_element = pe.get("int_mac", w_fmt="int12").dot(x, w * np.repeat(s, G))
    assert unit.dot(x, w, scales=s).value == per_element.value

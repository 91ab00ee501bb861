"""The fast-path building blocks against their references: one-pass operand validation,
branch-free rounding, round-to-odd sums, index/term kernels, tiled FP GEMMs."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest
from conftest import stable_seed

import hwsim.formats as F
import hwsim.pe as pe
from hwsim.pe import kernels as K
from hwsim.pe import softfloat as sf
from hwsim.pe.operands import PEError, _check_reference, check, resolve, validate


def _outcome(fn, *args):
    try:
        return "ok", fn(*args)
    except PEError as exc:
        return "error", str(exc)


def _bits_equal(a, b) -> bool:
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return a.shape == b.shape and bool(np.all(a.view(np.int64) == b.view(np.int64)))


FORMATS = ["int4", "uint4", "int8", "int2", "bipolar3", "bipolar4", "pot4", "apot4", "pot4_nz"]
DTYPES = [np.float64, np.float32, np.int64, np.int8, np.int16, np.uint8, np.uint64, np.float16]


@pytest.mark.parametrize("fmt", FORMATS)
def test_check_matches_reference_randomized(fmt):
    """check/validate reject exactly what the reference check rejects, with the same
    message (first offending element), for many dtypes, layouts and kinds of bad value."""
    rng = np.random.default_rng(stable_seed(fmt))
    op = resolve(fmt)
    grid = F.get(fmt).grid()
    for trial in range(300):
        shape = tuple(int(v) for v in rng.integers(1, 7, size=int(rng.integers(1, 4))))
        a = rng.choice(grid, size=shape).astype(np.float64)
        n_bad = int(rng.integers(0, 4)) if trial % 3 else 0
        flat = a.reshape(-1)
        for _ in range(n_bad):
            i = int(rng.integers(0, flat.size))
            flat[i] = rng.choice(
                [0.5, 2.0, -2.0, 1e9, -1e9, 16.0, -9.0, 0.1, np.nan, np.inf, -np.inf, 3.0, -0.0]
            )
        dt = DTYPES[trial % len(DTYPES)]
        if np.dtype(dt).kind in "iu":
            if not np.all(np.isfinite(a)) or np.any(a != np.floor(a)):
                continue
            if np.dtype(dt).kind == "u" and np.any(a < 0):
                continue
            info = np.iinfo(dt)
            if a.min() < info.min or a.max() > info.max:
                continue
        with np.errstate(all="ignore"):
            arr = a.astype(dt)
        if trial % 4 == 1 and arr.ndim >= 2:
            arr = np.swapaxes(arr, 0, 1)  # non-C layouts
        elif trial % 4 == 2:
            arr = arr[..., ::2] if arr.shape[-1] > 1 else arr
        ref = _outcome(_check_reference, "PE 't'", "w", op, arr)
        got = _outcome(check, "PE 't'", "w", op, arr)
        assert ref[0] == got[0], (fmt, arr, ref, got)
        if ref[0] == "error":
            assert ref[1] == got[1]
            assert _outcome(validate, "PE 't'", "w", op, arr) == ref
        else:
            assert _bits_equal(ref[1], got[1])
            v, mx = validate("PE 't'", "w", op, arr)
            assert _bits_equal(np.asarray(v, dtype=np.float64) + 0.0, ref[1])
            assert mx == float(np.abs(ref[1]).max(initial=0.0))


def test_check_dtype_and_bool_and_empty():
    op = resolve("int4")
    with pytest.raises(PEError, match="must be real numbers"):
        check("PE 't'", "x", op, np.array(["a"]))
    assert _bits_equal(check("PE 't'", "x", op, np.array([True, False])), [1.0, 0.0])
    assert check("PE 't'", "x", op, np.zeros((0, 3))).shape == (0, 3)
    big = np.array([2**62 + 1], dtype=np.int64)
    assert _outcome(check, "PE 't'", "x", op, big) == _outcome(
        _check_reference, "PE 't'", "x", op, big
    )


def _sf_round(v: float, spec) -> float:
    try:
        return sf.fp_round(v, spec)
    except OverflowError:  # rounded magnitude >= 2^1024 > max_finite: +-inf
        return math.copysign(math.inf, v)


def _round_specs():
    out = []
    for eb, mb in [(5, 10), (8, 23), (8, 7), (4, 3), (5, 2), (3, 2), (2, 1), (11, 23), (11, 4)]:
        for ftz in (False, True):
            out.append(sf.ieee_spec(eb, mb, ftz))
    return out


@pytest.mark.parametrize("spec", _round_specs(), ids=lambda s: f"{s.name}{'ftz' * s.ftz}")
def test_round_fast_matches_softfloat(spec):
    rng = np.random.default_rng(spec.mbits * 1000 + spec.emin % 997)
    n = 2000
    e = rng.integers(max(spec.emin - spec.mbits - 4, -1070), min(spec.emax + 3, 1023), n)
    x = rng.uniform(1.0, 2.0, n) * np.ldexp(1.0, e) * rng.choice([-1.0, 1.0], n)
    edge = np.ldexp(1.0, e) * (1 - np.ldexp(1.0, -rng.integers(12, 53, n)))
    ties = np.ldexp(
        2 * rng.integers(1, 2**spec.mbits, n) + 1.0, np.minimum(e, 1000) - spec.mbits - 1
    )
    huge = np.ldexp(rng.uniform(1.0, 2.0, 50), rng.integers(960, 1024, 50))
    special = np.array([0.0, -0.0, np.inf, -np.inf, 5e-324, -5e-324, 2.0**-1022, 1.7e308])
    for arr in (x, edge, ties, huge, special):
        arr = arr[np.isfinite(arr)] if arr is not special else arr
        got = K.fp_round_array(arr, spec.mbits, spec.emin, spec.max_finite, spec.ftz)
        ref = np.array([_sf_round(float(v), spec) for v in arr])
        assert _bits_equal(got, ref)
    nan = K.fp_round_array(np.array([np.nan]), spec.mbits, spec.emin, spec.max_finite, spec.ftz)
    assert math.isnan(nan[0])


def _round_to_odd(a: float, b: float) -> float:
    """Fraction reference: a + b rounded to odd in float64 (truncate, then set the last
    significand bit if inexact)."""
    v = Fraction(a) + Fraction(b)
    if v == 0:
        return a + b
    t = float(v)  # RN; step toward zero if it overshot
    if abs(Fraction(t)) > abs(v):
        t = math.nextafter(t, 0.0)
    if Fraction(t) == v:
        return t
    if np.float64(t).view(np.int64) & 1:
        return t
    return math.nextafter(t, math.copysign(math.inf, t))


def test_sum_to_odd_matches_fraction_reference():
    rng = np.random.default_rng(99)
    n = 3000
    a = rng.normal(size=n) * np.ldexp(1.0, rng.integers(-80, 80, n))
    b = rng.normal(size=n) * np.ldexp(1.0, rng.integers(-80, 80, n))
    a[::7] = -b[::7]
    a[::11] = 0.0
    b[::13] = -0.0
    a[::17] = np.ldexp(1.0, rng.integers(-60, 60, a[::17].size))
    b[::19] = np.ldexp(1.0, rng.integers(-60, 60, b[::19].size)) * -1e-17
    for x, y in zip(a, b, strict=True):
        got = K.sum_to_odd(float(x), float(y))
        assert _bits_equal(got, _round_to_odd(float(x), float(y))), (x, y)
        assert _bits_equal(got, K.sum_to_odd(float(y), float(x)))
    assert _bits_equal(K.sum_to_odd(-0.0, -0.0), -0.0)
    assert _bits_equal(K.sum_to_odd(-0.0, 0.0), 0.0)
    assert K.sum_to_odd(math.inf, 1.0) == math.inf
    assert math.isnan(K.sum_to_odd(math.inf, -math.inf))


@pytest.mark.parametrize(("bits", "tile_k"), [(2, 4), (3, 3), (4, 4), (5, 8), (1, 1)])
def test_lut_indices_match_numpy(bits, tile_k):
    rng = np.random.default_rng(bits * 10 + tile_k)
    W = rng.choice(F.get(f"bipolar{bits}").grid(), size=(int(rng.integers(1, 40)), 7))
    k, N = W.shape
    G = -(-k // tile_k)
    u = ((W + (1 << bits) - 1) // 2).astype(np.int64)
    u = np.pad(u, ((0, G * tile_k - k), (0, 0))).reshape(G, tile_k, N)
    b = (u[None] >> np.arange(bits)[:, None, None, None]) & 1
    ref = (b << np.arange(tile_k)[None, None, :, None]).sum(axis=2)
    assert np.array_equal(K.lut_indices(W, bits, tile_k), ref)


@pytest.mark.parametrize(("fmt", "signed"), [("int4", True), ("int8", True), ("uint3", False)])
def test_booth_terms_match_booth_digits(fmt, signed):
    from hwsim.pe.bitserial import booth_digits

    rng = np.random.default_rng(5)
    bits = F.get(fmt).bits
    W = rng.choice(F.get(fmt).grid(), size=(9, 6)).astype(np.int64)
    n = len(booth_digits(0, bits, signed))
    s, e, m = K.booth_terms(W, n)
    for i in range(9):
        for j in range(6):
            for c, d in enumerate(booth_digits(int(W[i, j]), bits, signed)):
                assert (s[c, i, j], e[c, i, j], m[c, i, j]) == (d < 0, abs(d) == 2, d != 0)


TILED = [  # FP datapaths whose kernels are tiled over outputs (tiles of 8 x 256)
    ("fp_fma", {"acc_fmt": "fp32"}, None),
    ("fp_fma", {"ftz": True, "w_fmt": "int4"}, None),
    ("shiftadd", {"mode": "lmul", "a_fmt": "fp16", "w_fmt": "fp16"}, None),
    ("shiftadd", {"a_fmt": "fp16", "w_fmt": "pot5", "acc_fmt": "fp16"}, None),
    ("dequant_mac", {"group_size": 4}, "scales"),
    ("lut", {"w_fmt": "bipolar3"}, None),
    ("bitserial", {"scheme": "bitmod", "a_fmt": "fp16", "w_fmt": "int4", "group_size": 4}, "i"),
    ("mixpe", {"group_size": 4, "a_fmt": "fp16", "w_fmt": "uint4"}, "scales"),
    ("mixpe", {"group_size": 4}, "scales"),
]


@pytest.mark.parametrize(("kind", "params", "side"), TILED, ids=lambda v: str(v))
def test_tiled_matmul_equals_dots(kind, params, side):
    """Across tile boundaries (M = 10 > 8, N = 260 > 256) every GEMM output equals the
    same dot product computed alone."""
    from test_pe_equivalence import operands, same

    rng = np.random.default_rng(17)
    unit = pe.get(kind, **params)
    m, n, k = 10, 260, 9
    X, W = operands(unit, k, rng, (m, k), (k, n))
    s = {}
    if side == "scales":
        ng = -(-k // unit.cfg.group_size)
        s = {"scales": F.get("fp16").quantize(rng.uniform(2**-6, 4.0, size=(ng, n)))}
    elif side == "i":
        ng = -(-k // unit.cfg.group_size)
        s = {"scales": rng.integers(0, 256, size=(ng, n))}
    res = unit.matmul(X, W, **s)
    cols = list(range(0, n, 7)) + [255, 256, 259]
    for i in range(m):
        for j in cols:
            d = unit.dot(X[i], W[:, j], **{key: v[:, j] for key, v in s.items()})
            assert same(res.value[i, j], d.value), (i, j)


def test_integer_paths_accept_any_integer_dtype():
    rng = np.random.default_rng(8)
    X = rng.integers(-128, 128, size=(5, 70))
    W = rng.integers(-8, 8, size=(70, 300))
    ref = X @ W
    for kind, params in [
        ("int_mac", {"w_fmt": "int4"}),
        ("bitserial", {"scheme": "booth", "w_fmt": "int4"}),
        ("lut", {"a_fmt": "int8", "w_fmt": "bipolar4"}),
        ("shiftadd", {"w_fmt": "pot4"}),
    ]:
        unit = pe.get(kind, **params)
        Wk = W if kind != "lut" else 2 * (W // 2) + 1
        Wk = Wk if kind != "shiftadd" else np.ldexp(1.0, -(np.abs(W) % 7)) * np.sign(W)
        out = unit.matmul(X.astype(np.float64), Wk).value
        for dx, dw in [(np.int8, np.int8), (np.int16, np.float32), (np.float64, np.float64)]:
            if kind == "shiftadd" and np.dtype(dw).kind != "f":
                continue
            got = unit.matmul(X.astype(dx), Wk.astype(dw)).value
            assert _bits_equal(got, out) and got.dtype == out.dtype
        if kind == "int_mac":
            assert np.array_equal(out, ref)


def _fp16_add_all(a, b, max_finite, tiny):
    import numba

    @numba.njit
    def run(a, b, mf, ti):
        out = np.empty((a.size, b.size), dtype=np.float32)
        for i in range(a.size):
            for j in range(b.size):
                out[i, j] = K.fp16_add_f32(a[i], b[j], mf, ti)
        return out

    return run(a, b, np.float32(max_finite), np.float32(tiny))


@pytest.mark.parametrize("ftz", [True, False])
def test_fp16_add_in_float32_is_the_correctly_rounded_fp16_sum(ftz):
    """The LUT FP16 kernel's adder (float32 sum, Veltkamp split to 11 bits) against numpy's
    float16 rounding of the exact float64 sum: every finite FP16 value a (subnormals too)
    with b from every exponent, both signs, near-ties and the overflow boundary."""
    allh = np.arange(1 << 16, dtype=np.uint16).view(np.float16)
    a = allh[np.isfinite(allh)].astype(np.float32)
    rng = np.random.default_rng(16)
    b = np.concatenate([
        rng.choice(a, 200), np.ldexp(np.float32(1.0), np.arange(-24, 16)).astype(np.float32),
        np.float32([65504.0, -65504.0, 2.0**-14, 3 * 2.0**-24, 0.0, -0.0, 1.0 + 2.0**-10]),
    ])  # fmt: skip
    tiny = 2.0**-14 if ftz else 0.0
    if ftz:  # the kernel's accumulator and entries are never subnormal with FTZ
        a = a[(np.abs(a) >= tiny) | (a == 0)]
        b = b[(np.abs(b) >= tiny) | (b == 0)]
    got = _fp16_add_all(a, b, 65504.0, tiny).astype(np.float64)
    exact = a.astype(np.float64)[:, None] + b.astype(np.float64)[None, :]  # exact
    with np.errstate(over="ignore"):  # sums beyond FP16's range round to +-inf
        ref = exact.astype(np.float16).astype(np.float64)
    if ftz:
        ref = np.where(np.abs(ref) < tiny, np.copysign(0.0, ref), ref)
    assert _bits_equal(got, ref)
    assert np.isinf(_fp16_add_all(np.float32([65504.0]), np.float32([16.0]), 65504.0, tiny))


def test_lut_fp16_tiles_cross_row_and_column_tiles():
    """The LUT FP16 kernel's output tiles (256 rows x 8 columns): outputs on both sides of
    each boundary equal the dot product computed alone, which equals the step model."""
    from test_pe_equivalence import operands, same

    rng = np.random.default_rng(18)
    unit = pe.get("lut", w_fmt="bipolar3")
    m, n, k = 260, 10, 13
    X, W = operands(unit, k, rng, (m, k), (k, n))
    res = unit.matmul(X, W).value
    for i in (0, 255, 256, 259):
        for j in (0, 7, 8, 9):
            assert same(res[i, j], unit.dot(X[i], W[:, j]).value), (i, j)
    assert same(res[256, 8], unit.step_dot(X[256], W[:, 8]).value)


@pytest.mark.parametrize(
    ("w_fmt", "m", "k", "n", "scaled"),
    [("int4", 37, 130, 300, False), ("int4", 20, 259, 70, True),
     ("bitmod_fp4_er_pos", 9, 64, 260, True), ("int8", 11, 67, 33, False)],
)  # fmt: skip
def test_bitmod_fp16_vectorized_kernel_equals_the_sequential_one(w_fmt, m, k, n, scaled):
    """The 4-lane kernel (computed normalising shift, K padded to 4, SIMD over n) against
    the lane-generic kernel (search loop, no padding), with FP16 activations over the whole
    exponent range, +-65504 runs and integer scales, K not a multiple of 4."""
    from hwsim.pe import bitmod_fp as BF

    rng = np.random.default_rng(k)
    unit = pe.get("bitserial", scheme="bitmod", a_fmt="fp16", w_fmt=w_fmt, group_size=32)
    X = F.get("fp16").quantize(rng.normal(size=(m, k)) * np.exp2(rng.integers(-24, 14, (m, k))))
    X[0, :5], X[1, :7] = 65504.0, -65504.0
    W = rng.choice(F.get(w_fmt).grid(), size=(k, n))
    side = {"scales": rng.integers(0, 256, size=(-(-k // 32), n))} if scaled else {}
    got = unit.matmul(X, W, **side).value
    Xp, Wp, s = unit._prepare(X, W, side)
    SA, EA, MA = BF.act_fields(Xp)
    TS, TE, TM, BS = BF.term_arrays(Wp, not unit.w_terms, unit._booth_arrays, unit.cpc)
    sc = s["scales"].astype(np.float64) if scaled else np.ones((1, n))
    args = (SA, EA, MA, TS, TE, TM, BS, 4, 32 if scaled else k, sc, scaled, float(unit.w_unit))
    ref = K._bitmod_fp_gemm_tiles(*args, 0, m * -(-n // K.TILE_N), np.zeros((m, n)))
    assert _bits_equal(got, ref)
    assert _bits_equal(got[3, :5], [unit.step_dot(X[3], W[:, j], **{
        key: v[:, j] for key, v in side.items()}).value for j in range(5)])  # fmt: skip

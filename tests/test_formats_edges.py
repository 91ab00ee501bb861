"""Exact edge cases of the element and block formats (issue 12), each against an exact
reference (Fraction / integer arithmetic / counting oracles), never the code under test."""

import math
import struct
from fractions import Fraction

import numpy as np
import pytest

import hwsim.formats as F

MODES = ("rne", "rna", "rtz", "floor", "ceil")


def round_fraction(f: Fraction, mode: str) -> int:
    """Exact rounding of a rational to an integer."""
    fl = math.floor(f)
    frac = f - fl
    if mode == "floor":
        return fl
    if mode == "ceil":
        return math.ceil(f)
    if mode == "rtz":
        return math.trunc(f)
    if mode == "rna":
        return math.floor(abs(f) + Fraction(1, 2)) * (1 if f >= 0 else -1)
    if frac != Fraction(1, 2):
        return fl + (1 if frac > Fraction(1, 2) else 0)
    return fl + (fl % 2)


def ulps_around(v: float, k: int = 2) -> list[float]:
    """v and the k float64 neighbours on either side."""
    out, lo, hi = [v], v, v
    for _ in range(k):
        lo, hi = math.nextafter(lo, -math.inf), math.nextafter(hi, math.inf)
        out += [lo, hi]
    return out


# --- 1. integer saturation ------------------------------------------------------------------
HUGE = [1e300, -1e300, math.inf, -math.inf, 2.0**63, -(2.0**63), 2.0**64, -(2.0**64), 1e19]


@pytest.mark.parametrize("signed", [True, False])
@pytest.mark.parametrize("mode", [*MODES, "stochastic"])
def test_int_saturates_for_every_magnitude_width_and_mode(signed, mode):
    """Pins: |x * 2^frac| >= 2^63 gave the most negative code with rna/rtz/floor/ceil (the
    numba rounding helper converted to int64 before saturating; int2.encode(1e300) was -2)."""
    x = np.array(HUGE)
    for bits in range(1, 33):
        fmt = F.get("int", bits=bits, signed=signed, rounding=mode, seed=0)
        qmax = (1 << (bits - 1)) - 1 if signed else (1 << bits) - 1
        qmin = -(1 << (bits - 1)) if signed else 0
        ref = [qmax if v > 0 else qmin for v in HUGE]
        for dt in (np.float64, np.float32):
            xs = x.astype(dt) if dt is np.float64 else np.clip(x, -3e38, 3e38).astype(dt)
            got = fmt.decode(fmt.encode(xs)).tolist()
            assert got == ref, (bits, signed, mode, dt)
            assert fmt.quantize(xs).tolist() == ref, (bits, signed, mode, dt)


def test_scaled_int_saturates_huge_inputs():
    """Pins: a scaled INT8 with rtz returned -4.32e40 for quantize([[1e300, 1, 1, 1]]) (the
    same int64 overflow in the block kernel); the block saturates to +127 * the largest fp32
    scale."""
    for mode in MODES:
        fmt = F.get("scaled", element=F.get("int8_sym", rounding=mode), block="tensor")
        q = fmt.quantize(np.array([[1e300, 1.0, 1.0, 1.0]]))
        assert q[0, 0] == 127 * float(np.finfo(np.float32).max), mode


# --- 2. zero points: round(x / s) + z ---------------------------------------------------------
@pytest.mark.parametrize("mode", MODES)
def test_asymmetric_int_rounds_before_adding_the_zero_point(mode):
    """Pins: the minmax quantizers computed round(x/s + z) instead of round(x/s) + z (AWQ,
    GPTQ, BitMoD and the kernel's docstring); with rtz ~half of the codes differed."""
    rng = np.random.default_rng(3)
    x = rng.normal(0.3, 1.0, (16, 64))
    x[:, :8] = np.linspace(-3, 3, 8)
    # s = (4 - -3.5) / 15 = 0.5 and z = 7 (odd): x / s = +-0.5, +-1.5, 2.5 are ties
    x[0, :16] = [-3.5, 4.0, 0.25, -0.25, 0.75, -0.75, 1.25, 0.0] + [0.5] * 8
    fmt = F.get("uint4_g128_asym", block=16, element=F.get("uint4", rounding=mode))
    qt = fmt.encode(x, axis=-1)
    s = np.repeat(fmt.scale_values(qt), 16, axis=-1)
    z = np.repeat(qt.zero_points, 16, axis=-1)
    ref = [
        [min(15, max(0, round_fraction(Fraction(float(xv) / float(sv)), mode) + int(zv)))
         for xv, sv, zv in zip(xr, sr, zr, strict=True)]
        for xr, sr, zr in zip(x, s, z, strict=True)
    ]  # fmt: skip
    assert qt.codes.tolist() == ref
    gen = fmt._encode_generic(x, -1)  # the numpy path (stochastic, integer input) agrees
    assert gen.codes.tolist() == ref
    assert np.array_equal(fmt.quantize(x), (np.asarray(ref) - z) * s)


# --- 3. bipolar-INT: one exact rounding ------------------------------------------------------
def bipolar_ref(x: float, bits: int, mode: str) -> int:
    """Code u = round((x + 2^n - 1) / 2) in exact arithmetic, clamped to 0 .. 2^n - 1."""
    top = (1 << bits) - 1
    if math.isinf(x):
        return top if x > 0 else 0
    return min(top, max(0, round_fraction((Fraction(x) + top) / 2, mode)))


@pytest.mark.parametrize("mode", MODES)
def test_bipolar_rounds_once_exactly(mode):
    """Pins: encode computed rint(fl(x + 2^n - 1) / 2): inputs one ulp from an even integer
    went to the wrong odd neighbour and bipolar1.quantize(1e-17) was -1."""
    rng = np.random.default_rng(5)
    for bits in (1, 2, 3, 4, 8, 16, 32):
        top = (1 << bits) - 1
        if bits <= 8:  # every integer: odd ones are levels, even ones decision points
            edges = [float(e) for e in range(-top - 3, top + 4)]
        else:
            edges = [float(e) for e in (-top - 1, -top + 1, -2, 0, 2, top - 1, top + 1)]
        xs = [v for e in edges for v in ulps_around(e)]
        xs += [1e-17, -1e-17, 5e-324, -5e-324, 0.0, -0.0, 1e300, -1e300, math.inf, -math.inf]
        xs += list(rng.uniform(-top - 2, top + 2, 300))
        fmt = (
            F.get(f"bipolar{bits}", rounding=mode)
            if bits <= 8
            else F.get("bipolar1", bits=bits, rounding=mode)
        )
        got = fmt.encode(np.array(xs)).tolist()
        assert got == [bipolar_ref(v, bits, mode) for v in xs], (bits, mode)
    assert F.get("bipolar1").quantize(1e-17) == 1.0
    assert F.get("bipolar1").quantize(-1e-17) == -1.0


# --- 4. NF4 against the bitsandbytes float32 kernel ------------------------------------------
def f32(v: float) -> float:
    return struct.unpack("f", struct.pack("f", v))[0]


def test_nf4_float32_input_uses_float32_thresholds():
    """Pins: the thresholds were compared in float64, so six float32 inputs landed one code
    higher than in bitsandbytes' dQuantizeNF4 (float32 x > float32 literal), e.g.
    float32(-0.8480964) gave code 1 instead of 0."""
    cuts = sorted(F.presets.NF4_THRESHOLDS)
    t32 = [f32(t) for t in cuts]
    xs = []
    for t in t32:  # each float32 threshold and 3 float32 neighbours either side
        lo = hi = np.float32(t)
        xs.append(float(lo))
        for _ in range(3):
            lo, hi = np.nextafter(lo, np.float32(-2)), np.nextafter(hi, np.float32(2))
            xs += [float(lo), float(hi)]
    xs += [f32(v) for v in np.random.default_rng(1).uniform(-1.1, 1.1, 20000)]
    x32 = np.array(xs, dtype=np.float32)
    ref = [sum(v > t for t in t32) for v in xs]  # the kernel's comparisons, as a count
    assert F.get("nf4").encode(x32).tolist() == ref
    assert F.get("nf4").encode(np.float32(-0.8480964)).item() == 0
    # float64 input is compared with the float64 literals (docs/formats.md)
    x64 = np.array(xs)
    assert F.get("nf4").encode(x64).tolist() == [sum(v > t for t in cuts) for v in xs]


# --- 5. exact nearest-level decisions in codebooks -------------------------------------------
def nearest_ref(x: float, values: list[float], tie: str) -> float:
    """Nearest value by exact distances; ties by ``tie``."""
    fx = Fraction(x)
    d = [abs(Fraction(v) - fx) for v in values]
    best = min(d)
    cands = sorted(v for v, dv in zip(values, d, strict=True) if dv == best)
    if len(cands) == 1:
        return cands[0]
    lo, hi = cands
    pick = {"lower": lo, "upper": hi, "toward_zero": lo if x > 0 else hi}
    return pick.get(tie, hi if x > 0 else lo)


CODEBOOKS = [
    F.get("apot3"),
    F.get("apot4"),
    F.get("apot5"),
    F.get("pot4"),
    F.get("codebook", table=(-0.7, -0.3, 0.1, 0.45)),
    *[F.get("codebook", table=(-1.0, -1 / 3, 0.1, 2 / 3), tie=t) for t in F.codebook.TIES],
]


@pytest.mark.parametrize("fmt", CODEBOOKS, ids=lambda f: f"{f.name}-{f.tie}")
def test_codebook_midpoint_decisions_are_exact(fmt):
    """Pins: midpoints of non-dyadic levels were rounded to float64, so inputs within an ulp
    of them went to the farther level (apot4: 0.15000000000000002 -> 0.1)."""
    g = sorted(set(fmt.grid().tolist()))
    xs = [v for a, b in zip(g[:-1], g[1:], strict=True) for v in ulps_around(a / 2 + b / 2, 3)]
    got = fmt.quantize(np.array(xs)).tolist()
    assert got == [nearest_ref(v, g, fmt.tie) for v in xs]
    if fmt.name == "apot4":
        assert fmt.quantize(0.15000000000000002) == 0.2


def test_pot_log_domain_thresholds_are_exact_geometric_means():
    """Pins: log-domain (DeepShift) cuts were sqrt(a*b) rounded to nearest, which can sit on
    the wrong side of the irrational geometric mean; decisions compare x^2 with a*b."""
    fmt = F.get("pot4", domain="log")
    g = [v for v in sorted(set(fmt.grid().tolist())) if v > 0]
    xs = [s * v for a, b in zip(g[:-1], g[1:], strict=True)
          for v in ulps_around(math.sqrt(a * b), 3) for s in (1, -1)]  # fmt: skip

    def ref(x):
        a = max(v for v in g if v <= abs(x))
        b = min(v for v in g if v > a)
        m = b if Fraction(abs(x)) ** 2 > Fraction(a) * Fraction(b) else a
        return math.copysign(m, x)

    assert fmt.quantize(np.array(xs)).tolist() == [ref(v) for v in xs]


# --- 7. API edges ------------------------------------------------------------------------------
BLOCK_FORMATS = ["mxfp4", "mxint8", "mxfp8_e4m3", "nvfp4", "nvfp4_2level", "bfp8", "int4_g128",
                 "uint4_g128_asym", "int8_tensor", "int8_channel", "nf4_b64", "bitmod_fp4",
                 "ternary_absmean"]  # fmt: skip


@pytest.mark.parametrize("name", BLOCK_FORMATS)
def test_block_formats_accept_empty_input(name):
    """Pins: an empty tensor failed inside numpy's reshape (reshape(-1, 0)); now the codes and
    the dequantized values are empty arrays of the input's shape, no scale bits for an empty
    blocked axis."""
    fmt = F.get(name)
    for shape in [(0,), (0, 32), (4, 0), (2, 0, 3)]:
        for dt in (np.float32, np.float64, np.int32):
            x = np.zeros(shape, dt)
            qt = fmt.encode(x, axis=-1)
            assert qt.codes.shape == shape and qt.dequantize().shape == shape
            assert fmt.quantize(x, axis=-1).shape == shape
    assert fmt.encode(np.zeros((4, 0)), axis=-1).storage_bits() == (
        32 if name in ("int8_tensor", "ternary_absmean", "nvfp4_2level") else 0
    )  # per-tensor scales exist once, even for no elements


def test_numpy_integer_parameters_are_accepted_bools_and_floats_refused():
    """Pins: numpy integer sizes were refused as 'not a positive int' (NVFP4 block, BitMoD
    group size) or kept as numpy scalars; bools slipped through as 0/1."""
    i = np.int64
    assert F.get("int", bits=i(5)).bits == 5 and type(F.get("int", bits=i(5)).bits) is int
    assert F.get("minifloat", ebits=np.int32(4), mbits=np.uint8(3)).max_value == 240.0
    assert type(F.get("nvfp4", block=i(16)).block) is int
    assert type(F.get("bitmod_fp4", group_size=i(64)).group_size) is int
    sc = F.get("scaled", element="int8_sym", block=i(64))
    assert sc.bits_per_element() == 8 + 32 / 64
    assert F.get("mx", element="fp4_e2m1", block=np.int16(32)).quantize(np.ones(40)).shape == (40,)
    assert F.pack(np.arange(4), i(2)).size == 1
    for bad in (True, 4.0, "4"):
        with pytest.raises(F.FormatError, match="bits must be an integer"):
            F.get("int", bits=bad)
    for bad in (True, np.bool_(True), 16.0):
        with pytest.raises(F.FormatError, match="block must be a positive int"):
            F.get("nvfp4", block=bad)
        with pytest.raises(F.FormatError, match="block must be a positive int"):
            F.get("scaled", element="int8_sym", block=bad)


def test_bipolar_stochastic_rounding_uses_the_exact_fraction():
    """Stochastic bipolar rounding goes up with probability frac((x + 2^n - 1) / 2), decided
    exactly against the documented uniform variates (53-bit, fresh seeded generator)."""
    x = np.array([1e-17, -1e-17, 0.5, -2.5, 2.0**-40, 3.999999999999999, -6.75, 0.0] * 50)
    fmt = F.get("bipolar3", rounding="stochastic", seed=11)
    r = np.random.default_rng(11).random(x.size)
    ref = []
    for v, rv in zip(x.tolist(), r.tolist(), strict=True):
        u = (Fraction(v) + 7) / 2
        up = Fraction(rv) < u - math.floor(u)
        ref.append(min(7, max(0, math.floor(u) + up)))
    assert fmt.encode(x).tolist() == ref

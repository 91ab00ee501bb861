"""Integer, bipolar-INT, ternary/binary, power-of-two, APoT, NF4 and BitMoD element formats."""

from fractions import Fraction

import ml_dtypes
import numpy as np
import pytest

import hwsim.formats as F


# --- integers -----------------------------------------------------------------------------
@pytest.mark.parametrize("n", range(2, 9))
def test_int_presets_decode_every_code_as_twos_complement(n):
    fmt = F.get(f"int{n}")
    codes = np.arange(1 << n)
    ref = [c - (1 << n) if c >= 1 << (n - 1) else c for c in range(1 << n)]
    assert fmt.decode(codes).tolist() == ref
    assert F.get(f"uint{n}").decode(codes).tolist() == list(range(1 << n))
    assert fmt.encode(np.array(ref, dtype=np.float64)).tolist() == codes.tolist()


def test_int_rounding_modes_against_fraction_reference():
    rng = np.random.default_rng(0)
    x = np.concatenate(
        [rng.uniform(-9, 9, 2000), np.arange(-8.5, 8.6, 0.5), [0.49999999999999994, -0.5]]
    )
    import math

    def ref(v, mode):
        f = Fraction(v)
        fl = math.floor(f)
        frac = f - fl
        if mode == "floor":
            r = fl
        elif mode == "ceil":
            r = math.ceil(f)
        elif mode == "rtz":
            r = math.trunc(f)
        elif mode == "rna":
            r = math.floor(abs(f) + Fraction(1, 2)) * (1 if f >= 0 else -1)
        else:
            r = fl + (1 if frac > Fraction(1, 2) or (frac == Fraction(1, 2) and fl % 2) else 0)
        return max(-8, min(7, r))

    for mode in ("rne", "rna", "rtz", "floor", "ceil"):
        q = F.get("int4", rounding=mode).decode(F.get("int4", rounding=mode).encode(x))
        assert q.tolist() == [ref(float(v), mode) for v in x], mode


def test_int_overflow_policies_and_ml_dtypes_int4_cast():
    x = np.array([2.5, -1.7, 7.6, 8.0, 9.0, 16.0, -9.0], dtype=np.float32)
    wrap = F.get("int4", rounding="rtz", overflow="wrap")
    # truncate, then wrap mod 16 (hand-computed: 8 -> -8, 9 -> -7, 16 -> 0, -9 -> 7)
    assert wrap.decode(wrap.encode(x)).tolist() == [2, -1, 7, -8, -7, 0, 7]
    inside = x[np.abs(x) < 8]  # ml_dtypes >= 0.7 no longer wraps out-of-range casts
    assert wrap.quantize(inside).tolist() == inside.astype(ml_dtypes.int4).astype(int).tolist()
    assert F.get("int4").quantize(x).tolist() == [2, -2, 7, 7, 7, 7, -8]
    assert F.get("int4_sym").quantize([-9.0]).tolist() == [-7]
    with pytest.raises(F.FormatError, match="outside the integer range"):
        F.get("int4", overflow="error").encode([8.0])
    with pytest.raises(F.FormatError, match="unused in the restricted range"):
        F.get("int8_sym").decode([0x80])
    with pytest.raises(F.FormatError, match="NaN"):
        F.get("int8").encode([np.nan])
    big = np.array([2**62 + 1, -(2**62)], dtype=np.int64)
    assert F.get("int32").encode(big).tolist() == [2**31 - 1, 2**31]
    assert F.get("int32", overflow="wrap").decode(
        F.get("int32", overflow="wrap").encode(big)
    ).tolist() == [1, 0]  # noqa: E501


def test_fixed_point_integers():
    q8 = F.get("int", bits=8, frac_bits=6, symmetric=True)
    assert q8.max_value == 127 / 64
    assert q8.quantize([1.0, 0.5 / 64, 1.5 / 64, 3.0]).tolist() == [1.0, 0.0, 2 / 64, 127 / 64]


# --- bipolar-INT --------------------------------------------------------------------------
@pytest.mark.parametrize("n", range(1, 9))
def test_bipolar_values_are_bit_weighted_sums(n):
    fmt = F.get(f"bipolar{n}")
    for u in range(1 << n):
        bits = [(u >> i) & 1 for i in range(n)]
        assert fmt.decode([u])[0] == sum((2 * b - 1) * 2**i for i, b in enumerate(bits))
    assert fmt.grid().tolist() == list(range(-(2**n) + 1, 2**n, 2))


@pytest.mark.parametrize("n", range(1, 9))
def test_bipolar_int_conversion_is_lossless(n):
    q = np.arange(-(2 ** (n - 1)), 2 ** (n - 1))
    u = F.int_to_bipolar(q, n)
    assert F.get(f"bipolar{n}").decode(u).tolist() == (2 * q + 1).tolist()
    assert F.bipolar_to_int(u, n).tolist() == q.tolist()
    # the bipolar pattern is the two's-complement pattern with the MSB flipped
    assert (u ^ (1 << (n - 1))).tolist() == (q & ((1 << n) - 1)).tolist()
    s, z = 0.125, 0.375  # binary fractions: both sides exact
    s2, z2 = F.bipolar_affine(s, z)
    assert np.array_equal(s2 * (2 * q + 1) + z2, s * q + z)


def test_bipolar_rounding_and_bit_plane_identity():
    fmt = F.get("bipolar3")
    # ties (even integers) go to the even code u: 2 -> u=4.5 -> 4 -> 1; 4 -> u=5.5 -> 6 -> 5
    assert fmt.quantize([0.0, 2.0, 0.9, -100, 4.0]).tolist() == [1.0, 1.0, 1.0, -7.0, 5.0]
    rng = np.random.default_rng(1)
    w = rng.integers(0, 8, 256)  # 3-bit bipolar codes
    a = rng.integers(0, 4, 256)  # 2-bit bipolar codes
    exact = int(fmt.decode(w) @ F.get("bipolar2").decode(a))
    acc = 0
    for i in range(3):
        for j in range(2):
            wi, aj = (w >> i) & 1, (a >> j) & 1
            acc += 2 ** (i + j) * (256 - 2 * int(np.sum(wi ^ aj)))  # +-1 dot via XOR-popcount
    assert acc == exact


# --- codebooks ----------------------------------------------------------------------------
def test_ternary_and_binary():
    assert F.get("ternary").quantize([-3, -0.5, 0.5, 0.51, 2]).tolist() == [-1, 0, 0, 1, 1]
    assert F.get("binary").quantize([-0.1, 0.0, 3]).tolist() == [-1, 1, 1]
    assert F.get("binary", sign_of_zero=-1).quantize([0.0]).tolist() == [-1]
    w = np.array([[0.5, -1.0, 0.02, 0.3], [0.1, 0.2, -0.05, 0.0]])
    gamma = float(np.float32(np.abs(w).mean()))  # the scale is stored as fp32
    expected = np.clip(np.rint(w * (1 / gamma)), -1, 1) * gamma
    assert np.array_equal(F.get("ternary_absmean").quantize(w), expected)


def test_nf4_table_thresholds_and_ties():
    nf4 = F.get("nf4")
    assert nf4.values().tolist() == list(F.presets.NF4_VALUES)
    cuts = np.asarray(F.presets.NF4_THRESHOLDS)
    mids = (np.asarray(F.presets.NF4_VALUES)[:-1] + np.asarray(F.presets.NF4_VALUES)[1:]) / 2
    assert np.all(np.abs(cuts - mids) < 1e-7)  # literal thresholds are the midpoints (+-1 ulp)
    assert nf4.encode(cuts).tolist() == list(range(15))  # on a threshold -> lower code
    assert nf4.encode(np.nextafter(cuts, 2)).tolist() == list(range(1, 16))


def test_pot_and_apot_level_sets():
    assert F.get("pot4").grid().tolist() == sorted(
        {s * 2.0**k for k in range(-6, 1) for s in (1, -1)} | {0.0}
    )  # noqa: E501
    nz = F.get("pot4_nz").grid()
    assert 0 not in nz and nz.size == 16 and nz.max() == 1 and nz.min() == -1
    assert F.get("pot4", domain="log").quantize([0.74]).tolist() == [1.0]  # log2 rounds up
    assert F.get("pot4").quantize([0.74]).tolist() == [0.5]  # linear rounds down
    apot = F.get("apot4")
    assert apot.grid()[apot.grid() >= 0].tolist() == [0, 0.1, 0.2, 0.3, 0.4, 0.6, 0.8, 1.0]
    # B=4 level set equals all sums of one term from each base set, normalised
    a = [0, 2**-1, 2**-3, 2**-5]
    b = [0, 2**-2, 2**-4, 2**-6]
    sums = sorted({Fraction(x) + Fraction(y) for x in a for y in b})
    assert [float(s / sums[-1]) for s in sums] == [
        float(Fraction(v)) for v in F.presets.APOT_LEVELS[4]
    ]


def test_bitmod_types_have_the_special_value_in_the_minus_zero_slot():
    t = F.get("bitmod_fp4_er_pos")
    assert t.decode([8])[0] == 5.0
    assert sorted(t.grid().tolist()) == sorted(
        {0, 0.5, 1, 1.5, 2, 3, 4, 6, -0.5, -1, -1.5, -2, -3, -4, -6, 5}
    )
    assert F.get("bitmod_fp3_ea_neg").decode([4])[0] == -6.0
    # ties go toward -inf, as the reference (x <= mid -> lower)
    assert t.quantize([0.75, -0.75]).tolist() == [0.5, -1.0]


def test_codebook_errors():
    with pytest.raises(F.FormatError, match="power-of-two size"):
        F.get("codebook", table=(0, 1, 2))
    with pytest.raises(F.FormatError, match="NaN"):
        F.get("nf4").encode([np.nan])
    with pytest.raises(F.FormatError, match="tie"):
        F.get("codebook", table=(0, 1), tie="nearest")


def test_parametric_names():
    e2m2 = F.get("e2m2")
    assert e2m2.bits == 5 and e2m2.max_value == 7.0 and e2m2.specials == "none"
    g = F.get("int5_g32")
    assert g.element.qmin == -15 and g.block == 32 and g.scale_format.name == "fp16"
    x = np.random.default_rng(0).standard_normal((2, 64))
    assert np.array_equal(g.quantize(x), F.get("scaled", element="int5_sym", block=32,
                                                scale_format="fp16").quantize(x))  # fmt: skip
    with pytest.raises(F.FormatError, match="unknown format 'mxfp4_g32'"):
        F.get("mxfp4_g32")

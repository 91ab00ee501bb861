"""Block formats: OCP MX rules, NVFP4 recipe, BFP, scaled INT granularities, BitMoD, packing."""

from fractions import Fraction

import numpy as np
import pytest
from conftest import stable_seed

import hwsim.formats as F

MX = ["mxfp8_e4m3", "mxfp8_e5m2", "mxfp6_e3m2", "mxfp6_e2m3", "mxfp4", "mxint8"]
EMAX = {
    "mxfp8_e4m3": 8,
    "mxfp8_e5m2": 15,
    "mxfp6_e3m2": 4,
    "mxfp6_e2m3": 2,
    "mxfp4": 2,
    "mxint8": 0,
}  # noqa: E501


def mx_reference_block(block: np.ndarray, name: str) -> np.ndarray:
    """OCP MX v1.0 by the rules, in exact arithmetic: X = floor(log2 amax) - emax (clamped to
    [-127, 127]), elements = RNE of x / 2^X to the element grid with saturation."""
    amax = max(abs(Fraction(float(v))) for v in block)
    if amax == 0:
        x_exp = -127
    else:
        e = 0
        while Fraction(2) ** (e + 1) <= amax:
            e += 1
        while Fraction(2) ** e > amax:
            e -= 1
        x_exp = max(-127, min(127, e - EMAX[name]))
    scale = Fraction(2) ** x_exp
    elem = F.get(name).element
    grid = [Fraction(float(g)) for g in elem.grid()]
    out = []
    for v in block:
        t = Fraction(float(v)) / scale
        t = max(grid[0], min(grid[-1], t))
        best = min(grid, key=lambda g: (abs(g - t), 0))
        ties = [g for g in grid if abs(g - t) == abs(best - t)]
        if len(ties) > 1:  # RNE: the grid value whose code is even
            ties.sort(key=lambda g: int(elem.encode(np.array([float(g)]))[0]) % 2)
            best = ties[0]
        out.append(float(best * scale))
    return np.array(out)


@pytest.mark.parametrize("name", MX)
def test_mx_matches_rule_derived_reference(name):
    rng = np.random.default_rng(stable_seed(name, 100))
    blocks = [
        rng.standard_normal(32) * 10.0 ** rng.integers(-3, 4),
        np.r_[rng.standard_normal(31), 15.999999],
        np.r_[np.full(31, 0.001), 957.0],
        np.zeros(32),
        rng.standard_normal(32) * 2.0**-130,
        np.r_[rng.integers(-8, 8, 31) * 0.5, 2.0**20],
    ]
    fmt = F.get(name)
    for b in blocks:
        assert np.array_equal(fmt.quantize(b), mx_reference_block(b, name)), (name, b[:4])


def test_mx_spec_vectors():
    q = F.get("mxfp8_e4m3").encode(np.r_[957.0, np.zeros(31)])
    assert q.scales.ravel().tolist() == [128] and q.dequantize()[0] == 896.0  # FLOOR clamps
    assert F.get("mxfp4").quantize(np.r_[2.5, 0.25, 5.0, 6.0]).tolist() == [2, 0, 4, 6]
    x = np.r_[150.0, np.zeros(31)]
    for mode, byte in [("floor", 126), ("rceil", 126), ("ceil", 127)]:
        assert F.get("mxfp8_e4m3", scale_mode=mode).encode(x).scales.ravel().tolist() == [byte]
    assert F.get("mxfp8_e4m3").encode(np.zeros(32)).scales.ravel().tolist() == [0]
    mxint8 = F.get("mxint8").quantize(np.r_[1.0, 0.49999997 / 64, -2.0 + 2**-10, np.zeros(29)])
    assert mxint8[:2].tolist() == [1.0, 0.0] and -2.0 not in mxint8


def test_mx_rceil_is_the_smallest_sufficient_power():
    rng = np.random.default_rng(2)
    fmt = F.get("mxfp6_e2m3", scale_mode="rceil")
    amax = np.concatenate(
        [
            rng.uniform(0.1, 1e4, 2000),
            7.5 * 2.0 ** np.arange(-20, 20),
            7.5 * 2.0 ** np.arange(-20, 20) * (1 + 2**-40),
        ]  # noqa: E501
    )
    blocks = np.zeros((amax.size, 32))
    blocks[:, 0] = amax
    x_exp = F.get("e8m0").exponent_of(fmt.encode(blocks).scales[:, 0])
    for a, k in zip(amax, x_exp, strict=True):
        assert Fraction(2) ** int(k) * Fraction(15, 2) >= Fraction(float(a))
        assert Fraction(2) ** int(k - 1) * Fraction(15, 2) < Fraction(float(a))


def test_mx_nonfinite_blocks_get_the_nan_scale():
    x = np.r_[np.nan, np.ones(31), np.ones(32)]
    q = F.get("mxfp4").encode(x)
    assert q.scales.ravel().tolist()[0] == 255
    deq = q.dequantize()
    assert np.isnan(deq[:32]).all() and np.all(deq[32:] == 1.0)
    assert np.isnan(F.get("mxfp8_e5m2").quantize(np.r_[np.inf, np.ones(3)])).all()


def test_nvfp4_reference_recipe_vectors():
    fmt = F.get("nvfp4")
    b = np.array([6, 3, 2.5, 1.25, 0.75, 0.25, -6, -5, 0, 1, 4, 5.5, -0.1, 0.3, 2, -3.5])
    q = fmt.encode(b)
    assert q.scales.ravel().tolist() == [0x38]
    assert q.codes.tolist() == [7, 5, 4, 2, 2, 0, 15, 14, 0, 2, 6, 7, 8, 1, 4, 14]
    assert q.dequantize().tolist() == [6, 3, 2, 1, 1, 0, -6, -4, 0, 1, 4, 6, -0.0, 0.5, 2, -4]
    ones = fmt.encode(np.ones(16))
    assert ones.scales.ravel().tolist() == [35] and np.all(ones.dequantize() == 1.03125)
    seven = fmt.encode(np.r_[7.0, 1.0, np.zeros(14)])
    assert seven.scales.ravel().tolist() == [57]
    assert seven.dequantize()[:2].tolist() == [6.75, 1.125]
    assert fmt.encode(np.zeros(16)).scales.ravel().tolist() == [0x08]
    two = F.get("nvfp4_2level")
    x = np.zeros(32)
    x[:3] = [100, 50, 3.0]
    q2 = two.encode(x)
    assert q2.scales.ravel()[0] == 126
    assert np.float32(q2.extra["tensor_scale"]) == np.float32(100) / np.float32(2688)
    d = q2.dequantize()
    assert np.float32(d[0]) == 100 and np.float32(d[1]) == 50 and d[2] == 0


def test_bfp_generalizes_mxint8_and_conventions_differ():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((4, 96)) * 3
    bfp = F.get("bfp", block=32, mantissa_bits=8, exp_bits=8)
    assert np.array_equal(bfp.quantize(x), F.get("mxint8").quantize(x))
    frac = F.get("bfp", block=32, mantissa_bits=8, binary_point="0.m")
    assert np.array_equal(frac.quantize(x), F.get("mxint8").quantize(x))  # same step size
    small = F.get("bfp", block=4, mantissa_bits=4, exp_bits=3)  # exponent range [-3, 3]
    # X clamps to 3: step 2^(3-2) = 2, 100 saturates to 7 steps, 3 -> 1.5 steps -> 2 (RNE)
    assert small.quantize(np.array([100.0, 3, 1, 0])).tolist() == [14.0, 4.0, 0.0, 0.0]


def test_scaled_int_granularities_and_asymmetric_zero_points():
    rng = np.random.default_rng(4)
    w = rng.standard_normal((8, 256))
    g = F.get("int4_g128")
    q = g.encode(w, axis=-1)
    assert q.scales.shape == (8, 2)
    s = F.get("fp16").decode(q.scales)
    expect = s.repeat(128, axis=1) * np.clip(np.rint(w / s.repeat(128, axis=1)), -7, 7)
    assert np.array_equal(q.dequantize(), expect)
    ch = F.get("int8_channel").encode(w, axis=1)
    assert ch.scales.shape == (8, 1)
    t = F.get("int8_tensor").encode(w)
    assert t.scales.shape == (1, 1)
    a = F.get("uint4_g128_asym").encode(w + 0.5)
    lo = np.minimum((w + 0.5).reshape(8, 2, 128).min(-1), 0)
    sv = F.get("fp16").decode(a.scales)
    assert np.array_equal(a.zero_points, np.clip(np.rint(-lo / sv), 0, 15).astype(np.int64))
    assert np.max(np.abs(a.dequantize() - (w + 0.5))) <= sv.max() / 2 + 1e-12


def test_block_axis_partial_blocks_and_storage_bits():
    rng = np.random.default_rng(5)
    x = rng.standard_normal((34, 5))
    fmt = F.get("mxfp4")
    q = fmt.encode(x, axis=0)
    assert q.scales.shape == (2, 5)
    # the partial block (rows 32, 33) is scaled on its own, like zero padding
    pad = np.zeros((64, 5))
    pad[:34] = x
    assert np.array_equal(q.dequantize(), fmt.quantize(pad, axis=0)[:34])
    assert np.array_equal(fmt.quantize(x.T, axis=-1), q.dequantize().T)
    assert q.storage_bits() == 34 * 5 * 4 + 2 * 5 * 8
    assert fmt.bits_per_element() == 4.25
    assert F.get("nvfp4").bits_per_element() == 4.5
    with pytest.raises(F.FormatError, match="not a multiple of the block size 32"):
        F.get("mxfp4", partial="error").encode(x, axis=0)
    with pytest.raises(F.FormatError, match="axis 2 is out of range"):
        fmt.encode(x, axis=2)
    with pytest.raises(F.FormatError, match="scalar"):
        fmt.encode(1.0)


def test_bitmod_per_group_type_selection():
    rng = np.random.default_rng(6)
    w = rng.standard_normal((4, 64))
    w[0] = np.abs(w[0])  # skewed positive
    w[1] = -np.abs(w[1])
    fmt = F.get("bitmod_fp4", group_size=32)
    q = fmt.encode(w)
    types = fmt.types
    for r in range(4):
        for gi in range(2):
            blk = w[r, gi * 32 : (gi + 1) * 32]
            errs = []
            for t in types:
                s = fmt.scale_format.quantize(
                    np.clip(np.abs(blk).max() / np.abs(t.grid()).max(), 1e-5, 1e4)
                )  # noqa: E501
                errs.append(np.mean((t.quantize(blk / s) * s - blk) ** 2))
            assert q.extra["types"][r, gi] == int(np.argmin(errs))  # argmin keeps the first
    assert types[q.extra["types"][0, 0]].name.endswith("pos")
    assert types[q.extra["types"][1, 0]].name.endswith("neg")
    deq = q.dequantize()
    assert np.all(np.abs(deq - w) <= np.abs(w).max())
    assert fmt.storage_bits((4, 64)) == 4 * 64 * 4 + 8 * (16 + 2)


@pytest.mark.parametrize("bits", [1, 2, 3, 4, 5, 6, 8, 12, 16, 32])
@pytest.mark.parametrize("order", ["lsb_first", "msb_first"])
def test_pack_unpack_roundtrip(bits, order):
    rng = np.random.default_rng(bits)
    codes = rng.integers(0, 1 << bits, 37, dtype=np.uint64)
    packed = F.pack(codes, bits, order)
    assert packed.dtype == np.uint8 and packed.size == F.packed_bytes(37, bits)
    assert F.unpack(packed, bits, 37, order).tolist() == codes.tolist()


def test_nibble_order_is_documented_behaviour():
    assert F.pack([0x1, 0x2], 4).tolist() == [0x21]  # element 0 in the low nibble (torchao)
    assert F.pack([0x1, 0x2], 4, order="msb_first").tolist() == [0x12]  # bitsandbytes
    with pytest.raises(F.FormatError, match="outside the 4-bit code range"):
        F.pack([16], 4)


def _hard_blocks(seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((6, 96)) * np.exp2(rng.integers(-12, 12, (6, 1)))
    x[0, :32] = np.arange(32) * 0.25 - 4  # ties everywhere
    x[1, :32] = 2.0**-135 * np.arange(32)  # float subnormal block
    x[2, 5] = -0.0
    x[3, :32] = 0.0
    return x


@pytest.mark.parametrize("name", MX + ["bfp8", "bfp4"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.float16])
def test_fused_pow2_kernel_equals_generic_path(name, dtype):
    fmt = F.get(name)
    for mode in ("floor", "ceil", "rceil") if name.startswith("mx") else ("floor",):
        f = F.get(name, scale_mode=mode) if name.startswith("mx") else fmt
        with np.errstate(over="ignore"):
            x = _hard_blocks(1).astype(dtype)
        x[4, 40] = np.nan
        for axis in (-1, 0):
            fast = f.encode(x, axis)
            slow = f._encode_generic(x, axis)
            assert np.array_equal(fast.codes, slow.codes), (name, mode, axis)
            assert np.array_equal(fast.scales, slow.scales), (name, mode, axis)
            assert np.array_equal(f.quantize(x, axis), slow.dequantize(), equal_nan=True)


def test_fused_nvfp4_kernel_equals_numpy_recipe():
    for fmt in (F.get("nvfp4"), F.get("nvfp4_2level")):
        x = _hard_blocks(2)
        for axis in (-1, 0):
            fast, slow = fmt.encode(x, axis), fmt.encode_reference(x, axis)
            assert np.array_equal(fast.codes, slow.codes)
            assert np.array_equal(fast.scales, slow.scales)
            assert np.array_equal(fmt.quantize(x, axis), slow.dequantize())


@pytest.mark.parametrize(
    "name", ["int4_g128", "uint4_g128_asym", "int8_channel", "int8_tensor", "ternary_absmean"]
)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_fused_scaled_int_kernel_equals_generic_path(name, dtype):
    rng = np.random.default_rng(8)
    x = (rng.standard_normal((5, 300)) * np.exp2(rng.integers(-8, 8, (5, 1)))).astype(dtype)
    x[0, :10] = 0.0
    fmt = F.get(name)
    for rounding in ("rne", "rna", "rtz", "floor", "ceil"):
        el = (
            F.get(fmt.element.name, rounding=rounding)
            if fmt.element.name != "ternary"
            else (F.get("ternary", rounding=rounding))
        )
        f = F.ScaledFormat(
            el,
            **{
                k: getattr(fmt, k)
                for k in ("block", "rule", "scale_format", "scale_op", "compute_dtype", "min_scale")
            },
        )
        for axis in (-1, 0):
            fast, slow = f.encode(x, axis), f._encode_generic(x, axis)
            assert np.array_equal(fast.codes, slow.codes), (name, rounding, axis)
            assert np.array_equal(fast.scales, slow.scales)
            if slow.zero_points is not None:
                assert np.array_equal(fast.zero_points, slow.zero_points)
            assert np.array_equal(f.quantize(x, axis), slow.dequantize())
    with pytest.raises(F.FormatError, match="non-finite"):
        fmt.encode(np.r_[1.0, np.nan])

"""Quantized GEMMs: exact reference kernels, operand splitting, PE execution semantics."""

from fractions import Fraction

import numpy as np
import pytest

import hwsim.formats as F
import hwsim.pe as hpe
from hwsim.accuracy.qgemm import (
    GemmStats,
    QGemmError,
    exact_gemm,
    exact_scaled_sum,
    parse_layer_formats,
    pe_matmul,
    pe_spec,
    quantize_rows,
)

RNG = np.random.default_rng(7)
X = RNG.standard_normal((12, 96)) * 3
W_ROWS = RNG.standard_normal((10, 96))  # N x K (weights in row form, W^T)


def fraction_gemm(a, b):
    return [[float(sum(Fraction(a[i, k]) * Fraction(b[k, j]) for k in range(a.shape[1])))
             for j in range(b.shape[1])] for i in range(a.shape[0])]  # fmt: skip


def test_exact_gemm_is_correctly_rounded_on_random_floats():
    a = RNG.standard_normal((6, 40)) * np.exp2(RNG.integers(-30, 30, (6, 40)))
    b = RNG.standard_normal((40, 5))
    assert exact_gemm(a, b).tolist() == fraction_gemm(a, b)


def test_exact_scaled_sum_is_correctly_rounded_including_huge_integers():
    P = RNG.integers(-(2**61), 2**61, (4, 3, 2))
    sx = RNG.standard_normal((4, 3))
    sw = RNG.standard_normal((4, 2)).astype(np.float32).astype(np.float64)
    got = exact_scaled_sum(P, sx, sw)
    want = [[float(sum(Fraction(sx[g, m]) * Fraction(sw[g, n]) * int(P[g, m, n])
                       for g in range(4))) for n in range(2)] for m in range(3)]  # fmt: skip
    assert got.tolist() == want


@pytest.mark.parametrize(
    "fmt", ["int8_channel", "int8_tensor", "int4_g128", "uint4_g128_asym", "mxfp4", "mxint8",
            "bfp8", "nvfp4", "nvfp4_2level", "nf4_b64", "fp8_e4m3", "int8"],
)  # fmt: skip
def test_split_reproduces_the_format_quantizer(fmt):
    q = quantize_rows(fmt, X)
    f = F.get(fmt)
    want = f.quantize(X, axis=-1) if getattr(f, "is_block", False) else f.quantize(X)
    assert np.array_equal(q.values, want)
    zexp = 0 if q.zeros is None else np.repeat(q.zeros, q.block, axis=1)[:, : X.shape[1]]
    assert np.array_equal((q.elements - zexp) * np.repeat(q.scales, q.block, 1)[:, :96], want)


ONE_PASS = [
    "int8_channel", "int8_tensor", "int4_g128", "int4_g64", "uint4_g128_asym", "int3_g128",
    "ternary_absmean", "nvint4",
    F.ScaledFormat(F.get("int8_sym"), block="channel", name="int8_row"),
    F.ScaledFormat(F.get("int4_sym"), block=40, name="int4_b40_recip32",
                   scale_op="mul_recip", compute_dtype="float32"),
]  # fmt: skip


@pytest.mark.parametrize("fmt", ONE_PASS, ids=lambda f: getattr(f, "name", f))
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_one_pass_integer_split_equals_the_generic_split(fmt, dtype, monkeypatch):
    """quantize_rows' one-pass kernel (elements and values written together) gives the same
    operand as decoding the codes and checking the element x scale split."""
    x = (X * np.linspace(0.01, 40, 96)).astype(dtype)  # partial last block for block=40
    fast = quantize_rows(fmt, x)
    monkeypatch.setattr(F.ScaledFormat, "encode_elements", lambda *a, **k: None)
    slow = quantize_rows(fmt, x)
    assert fast.elements is not None and fast.values.dtype == np.float64
    for field in ("values", "elements", "scales", "zeros"):
        a, b = getattr(fast, field), getattr(slow, field)
        assert (a is None and b is None) or (a.dtype == b.dtype and np.array_equal(a, b)), field
    for field in ("fmt", "block", "element", "scale_format"):
        assert getattr(fast, field) == getattr(slow, field), field


PAIRS = [("int8_channel", "int8_channel"), ("int8_g128", "int8_g128"),
         ("int8_tensor", "uint4_g128_asym"), ("int8_channel", "int4_g128"),
         ("mxint8", "bfp8"), ("int8_g32", "int4_g128")]  # fmt: skip


@pytest.mark.parametrize("af, wf", PAIRS)
def test_exact_int_pe_equals_the_reference_bit_for_bit(af, wf):
    xq, wq = quantize_rows(af, X), quantize_rows(wf, W_ROWS)
    ref = exact_gemm(xq.values, wq.values.T)
    for kind, params in (("int_mac", {}), ("int_mac", {"lanes": 8}), ("bitserial", {})):
        y = pe_matmul(xq, wq, pe_spec(kind, params))
        assert np.array_equal(y, ref), (kind, params)


def _spread_weights():
    """Weights whose column 0 has group scales 2^30 apart (the fold's bound fails there),
    a zero row of activations and a column of zero weights (signed zeros)."""
    w = W_ROWS.copy()
    w[0, :32] *= 2.0**30
    w[1] = 0.0
    x = X.copy()
    x[2] = 0.0
    return x, w


@pytest.mark.parametrize(
    "af, wf, params",
    [("int8_channel", "int4_g32", {}), ("int8_channel", "uint4_g128_asym", {}),
     ("int8", "int4_g32", {"lanes": 4}), ("int8_tensor", "int8_g32", {}),
     ("int8_g32", "int4_g32", {}),  # activation groups: never folded
     ("int8_channel", "int4_g32", {"acc_bits": 12}),  # can overflow: never folded
     ("int8_channel", F.ScaledFormat(F.get("int4_sym"), block=32, name="g32_fp32"), {})],
)  # fmt: skip
def test_folded_gemm_equals_the_segmented_route_bit_for_bit(af, wf, params):
    """pe_matmul's one-GEMM fold (weight scales folded in, where the PE's segment sums are
    exact and the bound holds) gives the segmented route's floats, signed zeros and stats;
    columns that fail the bound (column 0 here) take the segmented route."""
    from hwsim.accuracy.llm.model import resolve_format

    x, w = _spread_weights()
    wf = resolve_format(wf) if isinstance(wf, str) else wf  # fp32 scales: column 0 unfolded
    xq, wq = quantize_rows(resolve_format(af), x), quantize_rows(wf, w)
    spec = pe_spec("int_mac", params)
    s1, s2 = GemmStats(), GemmStats()
    a = pe_matmul(xq, wq, spec, stats=s1)
    b = pe_matmul(xq, wq, spec, stats=s2, fold=False)
    assert np.array_equal(a, b) and np.array_equal(np.signbit(a), np.signbit(b))
    assert (s1.pe_cycles, s1.overflowed) == (s2.pe_cycles, s2.overflowed)
    if "acc_bits" not in params:
        assert np.array_equal(a, exact_gemm(xq.values, wq.values.T))


def test_fold_bound_sends_wide_scale_columns_to_the_segmented_route(monkeypatch):
    import hwsim.accuracy.qgemm as Q

    x, w = _spread_weights()
    g32 = F.ScaledFormat(F.get("int4_sym"), block=32, name="int4_g32_fp32")  # fp32 scales
    assert g32.scale_format.name == "fp32"
    xq, wq = quantize_rows("int8_channel", x), quantize_rows(g32, w)
    seen = []
    real = Q._segmented
    monkeypatch.setattr(Q, "_segmented", lambda *a: seen.append(a[2].shape) or real(*a))
    pe_matmul(xq, wq, pe_spec("int_mac"))
    assert seen == [(96, 1)]  # only column 0 (scales 2^30 apart) left the fold


@pytest.mark.parametrize(
    "af, wf, acc", [("int8_channel", "int8_channel", 14), ("int8_g32", "int4_g128", 10)]
)
def test_narrow_accumulator_wraps_each_segment_partial(af, wf, acc):
    # Independent model: the exact integer partial of every scale segment wrapped to
    # acc_bits (two's complement), then scaled and summed exactly (Fractions).
    xq, wq = quantize_rows(af, X), quantize_rows(wf, W_ROWS)
    stats = GemmStats()
    y = pe_matmul(xq, wq, pe_spec("int_mac", {"acc_bits": acc}), "t", stats)
    assert stats.overflowed == ["t"]
    g = np.gcd(xq.block, wq.block)
    want = np.empty_like(y)
    for m in range(X.shape[0]):
        for n in range(W_ROWS.shape[0]):
            total = Fraction(0)
            for s0 in range(0, X.shape[1], g):
                p = sum(int(xq.elements[m, k]) * int(wq.elements[n, k])
                        for k in range(s0, s0 + g))  # fmt: skip
                p = (p + 2 ** (acc - 1)) % 2**acc - 2 ** (acc - 1)
                total += (Fraction(xq.scales[m, s0 // xq.block])
                          * Fraction(wq.scales[n, s0 // wq.block]) * p)  # fmt: skip
            want[m, n] = float(total)
    assert np.array_equal(y, want)
    ref = exact_gemm(xq.values, wq.values.T)
    assert np.abs(y - ref).max() > 1e-3 * np.abs(ref).max()


def test_fp16_accumulator_matches_the_step_model_and_differs_from_fp32():
    xq, wq = quantize_rows("fp16", X[:3] / 4), quantize_rows("fp16", W_ROWS[:2])
    y16 = pe_matmul(xq, wq, pe_spec("fp_fma", {"acc_fmt": "fp16"}))
    unit = hpe.get("fp_fma", acc_fmt="fp16")
    steps = [[unit.step_dot(xq.elements[m], wq.elements[n]).value for n in range(2)]
             for m in range(3)]  # fmt: skip
    assert y16.tolist() == steps
    y32 = pe_matmul(xq, wq, pe_spec("fp_fma", '{"acc_fmt": "fp32"}'))
    ref = exact_gemm(xq.values, wq.values.T)
    assert np.abs(y16 - ref).max() > 10 * np.abs(y32 - ref).max()


def test_scaled_pes_take_the_group_scales():
    xq, wq = quantize_rows("int8_channel", X), quantize_rows("int4_g32", W_ROWS)
    y = pe_matmul(xq, wq, pe_spec("mixpe"))
    unit = hpe.get("mixpe", group_size=32)
    r = unit.matmul(xq.elements, wq.elements.T, scales=wq.scales.T)
    assert np.array_equal(y, xq.scales[:, :1] * r.value)
    ref = exact_gemm(xq.values, wq.values.T)
    assert np.allclose(y, ref, rtol=1e-6, atol=1e-6 * np.abs(ref).max())
    d = pe_matmul(quantize_rows("fp16", X), wq, pe_spec("dequant_mac"))
    assert np.allclose(d, X @ wq.values.T, rtol=0.05, atol=0.05 * np.abs(ref).max())


def test_errors_name_the_problem():
    xq, wq = quantize_rows("mxfp8_e4m3", X), quantize_rows("mxfp4", W_ROWS)
    with pytest.raises(QGemmError, match=r"int_mac cannot execute .*'fp_fma'"):
        pe_matmul(xq, wq, pe_spec("int_mac"))
    with pytest.raises(QGemmError, match="activation format is None"):
        pe_matmul(quantize_rows(None, X), wq, pe_spec("fp_fma"))
    with pytest.raises(QGemmError, match="per-token or per-tensor"):
        pe_matmul(xq, quantize_rows("int4_g32", W_ROWS), pe_spec("mixpe"))
    with pytest.raises(QGemmError, match="no single element format"):
        pe_matmul(quantize_rows("int8_channel", X), quantize_rows("bitmod_fp4", W_ROWS),
                  pe_spec("int_mac"))  # fmt: skip
    with pytest.raises(QGemmError, match="unknown PE kind"):
        pe_spec("tpu")
    with pytest.raises(QGemmError, match="not valid JSON"):
        pe_spec("int_mac", "{acc_bits: 16")
    with pytest.raises(QGemmError, match="unknown layer 'fc3'"):
        parse_layer_formats({"fc3": ["int8", "int8"]}, ["fc1", "fc2"])
    assert parse_layer_formats('{"fc1": ["int4_g128", "none"]}', ["fc1"]) == {
        "fc1": ("int4_g128", None)
    }

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

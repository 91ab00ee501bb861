"""Step model vs fast path, for every PE kind: value (bit for bit), cycles, events."""

from __future__ import annotations

import zlib

import numpy as np
import pytest

import hwsim.formats as F
import hwsim.pe as pe


def sample(fmt: str, size, rng, spread: int = 6) -> np.ndarray:
    """Random values of an element format (floats: wide exponent spread, zeros, ties)."""
    f = F.get(fmt)
    if isinstance(f, F.MinifloatFormat):
        x = rng.normal(size=size) * np.ldexp(1.0, rng.integers(-spread, spread, size=size))
        x = np.where(rng.random(size) < 0.05, 0.0, x)
        return f.quantize(x.astype(np.float32))
    return rng.choice(f.grid(), size=size)


def same(a, b) -> bool:
    """Bit-identical values (NaN == NaN, -0 != +0)."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return a.shape == b.shape and bool(np.all(a.view(np.int64) == b.view(np.int64)))


# (kind, params, side-input maker or None)
CASES = [
    ("int_mac", {}, None),
    ("int_mac", {"a_fmt": "int8", "w_fmt": "int4", "lanes": 4}, None),
    ("int_mac", {"a_fmt": "uint8", "w_fmt": "int2", "lanes": 3, "acc_bits": 12}, None),
    ("int_mac", {"w_fmt": "int4", "lanes": 2, "acc_bits": 10, "overflow": "saturate"}, None),
    ("fp_fma", {}, None),
    ("fp_fma", {"fused": True, "acc_fmt": "fp32"}, None),
    ("fp_fma", {"acc_fmt": "fp32"}, None),
    ("fp_fma", {"ftz": True, "fused": True}, None),
    ("fp_fma", {"a_fmt": "bf16", "w_fmt": "bf16", "acc_fmt": "fp32", "ftz": True}, None),
    ("fp_fma", {"a_fmt": "fp8_e4m3", "w_fmt": "fp8_e5m2", "acc_fmt": "fp16"}, None),
    ("dequant_mac", {"group_size": 8}, "scales"),
    ("dequant_mac", {"group_size": 4, "w_fmt": "uint4", "fused": False}, "scales_zeros"),
    ("dequant_mac", {"group_size": 5, "w_fmt": "fp4_e2m1", "a_fmt": "int8"}, "scales"),
    ("bitserial", {"scheme": "stripes"}, None),
    ("bitserial", {"scheme": "stripes", "a_fmt": "uint4", "w_fmt": "int8", "lanes": 3}, None),
    ("bitserial", {"scheme": "booth", "w_fmt": "int4"}, None),
    ("bitserial", {"scheme": "booth", "w_fmt": "uint3", "lanes": 5}, None),
    ("bitserial", {"scheme": "booth", "w_fmt": "int8", "acc_bits": 12}, None),
    ("bitserial", {"scheme": "bitmod", "w_fmt": "int6"}, None),
    ("bitserial", {"scheme": "bitmod", "w_fmt": "bitmod_fp4_ea_pos"}, None),
    ("bitserial", {"scheme": "bitmod", "w_fmt": "bitmod_fp3_er_neg", "group_size": 8}, "iscale"),
    ("bitserial", {"scheme": "bitmod", "a_fmt": "fp16", "w_fmt": "int4"}, None),
    ("bitserial", {"scheme": "bitmod", "a_fmt": "fp16", "w_fmt": "bitmod_fp4_ea_pos"}, None),
    (
        "bitserial",
        {"scheme": "bitmod", "a_fmt": "fp16", "w_fmt": "bitmod_fp4_er_neg", "group_size": 8},
        "iscale",
    ),
    (
        "bitserial",
        {"scheme": "bitmod", "a_fmt": "fp16", "w_fmt": "int8", "group_size": 4, "lanes": 2},
        "iscale",
    ),
    ("bitserial", {"scheme": "fusion", "a_fmt": "int8", "w_fmt": "int2"}, None),
    ("bitserial", {"scheme": "fusion", "a_fmt": "uint4", "w_fmt": "int4", "lanes": 2}, None),
    ("lut", {}, None),
    ("lut", {"w_fmt": "bipolar4", "ftz": False}, None),
    ("lut", {"a_fmt": "int8", "w_fmt": "bipolar3", "tile_k": 3}, None),
    ("lut", {"a_fmt": "int8", "w_fmt": "bipolar2", "acc_bits": 10}, None),
    ("shiftadd", {}, None),
    ("shiftadd", {"w_fmt": "pot4_nz", "lanes": 3}, None),
    ("shiftadd", {"w_fmt": "apot4"}, None),
    ("shiftadd", {"a_fmt": "fp16", "w_fmt": "pot5", "acc_fmt": "fp16"}, None),
    ("shiftadd", {"mode": "lmul", "a_fmt": "fp16", "w_fmt": "fp16"}, None),
    ("shiftadd", {"mode": "lmul", "a_fmt": "fp8_e4m3", "w_fmt": "fp8_e4m3"}, None),
    ("mixpe", {"group_size": 8}, "scales"),
    ("mixpe", {"group_size": 8, "w_fmt": "uint4", "lanes": 4}, "scales_zeros"),
    ("mixpe", {"group_size": 6, "acc_bits": 12, "overflow": "saturate"}, "scales"),
    ("mixpe", {"group_size": 8, "a_fmt": "fp16", "w_fmt": "uint4"}, "scales_zeros"),
    ("bipolar", {}, None),
    ("bipolar", {"a_fmt": "bipolar2", "w_fmt": "bipolar3", "lanes": 8}, None),
    ("bipolar", {"a_fmt": "int4", "w_fmt": "bipolar2", "lanes": 16, "acc_bits": 9}, None),
]


def make_side(kind_side, unit, k, rng, n: int = 1):
    if kind_side is None:
        return {}
    G = unit.cfg.group_size
    ng = -(-k // G)
    if kind_side == "iscale":
        return {"scales": rng.integers(0, 1 << unit.cfg.scale_bits, size=(ng, n))}
    out = {"scales": F.get("fp16").quantize(rng.uniform(2**-10, 4.0, size=(ng, n)))}
    if kind_side == "scales_zeros":
        out["zeros"] = rng.integers(0, 16, size=(ng, n))
    return out


def squeeze(side):
    return {k: v[:, 0] for k, v in side.items()}


def operands(unit, k, rng, shape_x=None, shape_w=None):
    c = unit.cfg
    x = sample(c.a_fmt, shape_x or k, rng)
    w = sample(c.w_fmt, shape_w or k, rng)
    if getattr(c, "mode", "") == "lmul":
        w = sample(c.w_fmt, shape_w or k, rng, spread=2)
    return x, w


@pytest.mark.parametrize(("kind", "params", "side"), CASES, ids=lambda v: str(v))
def test_step_equals_fast(kind, params, side):
    rng = np.random.default_rng(zlib.crc32(f"{kind}{params}".encode()))
    unit = pe.get(kind, **params)
    for _ in range(12):
        k = int(rng.integers(1, 40))
        x, w = operands(unit, k, rng)
        s = squeeze(make_side(side, unit, k, rng))
        fast, slow = unit.dot(x, w, **s), unit.step_dot(x, w, **s)
        assert same(fast.value, slow.value), (k, fast, slow)
        assert fast.cycles == slow.cycles
        assert fast.events == slow.events
        assert fast.overflowed == slow.overflowed
        if not s:
            assert unit.dot_cycles(k) == slow.cycles
            assert unit.dot_events(k) == slow.events


@pytest.mark.parametrize(("kind", "params", "side"), CASES, ids=lambda v: str(v))
def test_matmul_equals_dots(kind, params, side):
    rng = np.random.default_rng(7)
    unit = pe.get(kind, **params)
    m, n, k = 3, 4, int(rng.integers(1, 30))
    X, W = operands(unit, k, rng, (m, k), (k, n))
    s = make_side(side, unit, k, rng, n)
    res = unit.matmul(X, W, **s)
    assert res.value.shape == (m, n)
    for i in range(m):
        for j in range(n):
            d = unit.dot(X[i], W[:, j], **{key: v[:, j] for key, v in s.items()})
            assert same(res.value[i, j], d.value)
    if not s:
        assert res.cycles == unit.matmul_cycles(m, n, k)


def test_trace_exposes_state():
    unit = pe.get("bitserial", scheme="booth", w_fmt="int4", lanes=2)
    states = list(unit.step_trace([3, -5, 7], [-8, 7, 1]))
    assert [s["cycle"] for s in states] == list(range(len(states)))
    assert all({"acc", "valid", "done", "events"} <= set(s) for s in states)
    assert [s["done"] for s in states] == [False] * (len(states) - 1) + [True]
    assert states[-1]["result"] == 3 * -8 + -5 * 7 + 7 * 1


@pytest.mark.slow
@pytest.mark.parametrize(("kind", "params", "side"), CASES, ids=lambda v: str(v))
def test_step_equals_fast_long(kind, params, side):
    rng = np.random.default_rng(zlib.crc32(f"long{kind}{params}".encode()))
    unit = pe.get(kind, **params)
    for _ in range(200):
        k = int(rng.integers(1, 300))
        x, w = operands(unit, k, rng)
        s = squeeze(make_side(side, unit, k, rng))
        fast, slow = unit.dot(x, w, **s), unit.step_dot(x, w, **s)
        assert same(fast.value, slow.value) and fast.cycles == slow.cycles
        assert fast.events == slow.events


# Cases where finite operands can drive the accumulator to NaN: an overflowed (+-inf)
# accumulator meets an overflowed product / table entry / shifted term of the other sign.
NAN_REACHABLE = [
    ("fp_fma", {"a_fmt": "bf16", "w_fmt": "bf16", "acc_fmt": "fp32", "ftz": True}),
    ("fp_fma", {"fused": False, "acc_fmt": "fp16"}),
    ("lut", {}),  # FP16 table entries overflow to inf in the precompute
    ("shiftadd", {"mode": "lmul", "a_fmt": "fp16", "w_fmt": "fp16"}),
]


def _extremes_then_ordinary(fmt: str, k: int, rng) -> np.ndarray:
    """k values of `fmt`: the first half from its largest magnitudes (random signs), the
    rest ordinary values, so that finite MACs follow an inf / NaN accumulator."""
    g = np.unique(np.abs(F.get(fmt).grid()))
    big = rng.choice(g[-3:], size=k) * rng.choice([-1.0, 1.0], size=k)
    return np.where(np.arange(k) < k // 2, big, sample(fmt, k, rng, spread=2))


@pytest.mark.parametrize(("kind", "params"), NAN_REACHABLE, ids=lambda v: str(v))
def test_step_equals_fast_through_inf_and_nan(kind, params):
    """Extreme operands overflow to inf and then NaN mid-dot; the step model keeps going
    (it used to raise on a NaN accumulator) and agrees with the fast path: the same bits,
    or NaN on both sides (NaN sign/payload are unspecified)."""
    rng = np.random.default_rng(zlib.crc32(f"nan{kind}{params}".encode()))
    unit = pe.get(kind, **params)
    nans = 0
    for _ in range(60):
        k = int(rng.integers(4, 24))
        x = _extremes_then_ordinary(unit.cfg.a_fmt, k, rng)
        w = _extremes_then_ordinary(unit.cfg.w_fmt, k, rng)
        fast, slow = unit.dot(x, w), unit.step_dot(x, w)
        both_nan = np.isnan(fast.value) and np.isnan(slow.value)
        assert both_nan or same(fast.value, slow.value), (k, x, w, fast, slow)
        assert fast.cycles == slow.cycles and fast.events == slow.events
        nans += both_nan
    assert nans > 0, "no dot product reached NaN: the case no longer tests NaN propagation"

"""Contract, errors, cycle formulas, event-name grammar, paper trends."""

from __future__ import annotations

import re

import numpy as np
import pytest

import hwsim.pe as pe

KINDS = {"int_mac", "fp_fma", "dequant_mac", "bitserial", "lut", "shiftadd", "mixpe", "bipolar"}
EVENT = re.compile(
    r"^((mul)_\d+x\d+|(add|shift|mux|and|xor|popcount|lut_read|lut_write|reg_write|cmp)_\d+"
    r"|(fmul|fadd|ffma)_(\d+|bf16))$"
)


def test_kinds_and_get():
    assert set(pe.kinds()) >= KINDS
    for kind in pe.kinds():
        unit = pe.get(kind)
        r = unit.dot(*_default_operands(unit, 9))
        assert isinstance(r.cycles, int) and r.cycles == unit.dot_cycles(9)
        assert all(EVENT.match(n) and isinstance(v, int) and v > 0 for n, v in r.events.items())
        assert unit.dot_events(9) == r.events


def _default_operands(unit, k):
    import hwsim.formats as F

    rng = np.random.default_rng(0)
    c = unit.cfg
    return (
        F.get(c.a_fmt).quantize(rng.normal(size=k)) if "fp" in c.a_fmt or "bf" in c.a_fmt
        else rng.choice(F.get(c.a_fmt).grid(), k),
        rng.choice(F.get(c.w_fmt).grid(), k) if "fp" not in c.w_fmt
        else F.get(c.w_fmt).quantize(rng.normal(size=k)),
    )  # fmt: skip


def test_unknown_kind_and_parameter():
    with pytest.raises(ValueError, match="unknown PE kind 'nope'"):
        pe.get("nope")
    with pytest.raises(ValueError, match="unknown parameter.*'lane'"):
        pe.get("int_mac", lane=4)
    with pytest.raises(ValueError, match="scheme must be one of"):
        pe.get("bitserial", scheme="loom")
    with pytest.raises(ValueError, match="acc_bits"):
        pe.get("int_mac", acc_bits=0)
    with pytest.raises(ValueError, match="bipolar"):
        pe.get("lut", w_fmt="int4")


def test_non_representable_operands_are_named():
    unit = pe.get("int_mac", a_fmt="int8", w_fmt="int4")
    with pytest.raises(ValueError, match=r"PE 'int_mac': operand w element 8\.0"):
        unit.dot([1, 2], [1, 8])
    with pytest.raises(ValueError, match=r"operand x .* not representable in int8"):
        unit.dot([1.5, 2], [1, 1])
    with pytest.raises(ValueError, match="operand x"):
        pe.get("fp_fma").dot([0.1], [1.0])  # 0.1 is not an fp16 value
    with pytest.raises(ValueError, match="odd"):
        pe.get("bipolar").dot([2], [1])
    with pytest.raises(ValueError, match="scales must have shape"):
        pe.get("mixpe", group_size=4).dot([1] * 8, [1] * 8, scales=[1.0])
    with pytest.raises(ValueError, match="unexpected operand"):
        pe.get("int_mac").dot([1], [1], scales=[1.0])


@pytest.mark.parametrize("bits", [2, 3, 4, 5, 6, 7, 8])
def test_bitserial_cycle_formulas(bits):
    k = 100
    booth = pe.get("bitserial", scheme="booth", w_fmt=f"int{bits}", lanes=4)
    assert booth.dot_cycles(k) == 25 * -(-bits // 2)  # ceil(b/2) per digit (Chen et al., HPCA 2025)
    stripes = pe.get("bitserial", scheme="stripes", a_fmt=f"int{bits}", lanes=16)
    assert stripes.dot_cycles(k) == 7 * bits  # Pa per brick (Judd et al., MICRO 2016)
    lut = pe.get("lut", w_fmt=f"bipolar{bits}")
    assert lut.dot_cycles(k) == 25 * bits
    assert lut.matmul_cycles(4, 128, 8) == 2 * 2 * 2 * bits  # B per M x N x K tile


def test_other_cycle_formulas():
    assert pe.get("bitserial", scheme="bitmod", w_fmt="bitmod_fp4_ea_neg").dot_cycles(128) == 64
    assert pe.get("bitserial", scheme="bitmod", w_fmt="int8").dot_cycles(128) == 128
    bm = pe.get("bitserial", scheme="bitmod", w_fmt="bitmod_fp3_er_pos")
    assert bm.dot_cycles(256, scaled=True) == 128 + 8  # hidden dequant, 8-cycle tail
    assert bm.dot_cycles(8, scaled=True) == 4 + 8
    fu = pe.get("bitserial", scheme="fusion", a_fmt="int8", w_fmt="int2")
    assert fu.dot_cycles(100) == 25  # 4 MACs per cycle at 8b x 2b (Sharma et al., ISCA 2018)
    assert pe.get("bitserial", scheme="fusion", a_fmt="int2", w_fmt="int2").dot_cycles(32) == 2
    assert pe.get("bipolar", a_fmt="bipolar3", w_fmt="bipolar2").dot_cycles(300) == 3 * 6
    assert pe.get("mixpe", group_size=128).dot_cycles(4096) == 4096 + 1
    assert pe.get("int_mac", lanes=4).matmul_cycles(2, 3, 10) == 18


def test_cycles_linear_in_weight_bits():
    for make in (
        lambda b: pe.get("bitserial", scheme="booth", w_fmt=f"int{b}"),
        lambda b: pe.get("lut", w_fmt=f"bipolar{b}"),
        lambda b: pe.get("bipolar", a_fmt="bipolar4", w_fmt=f"bipolar{b}"),
    ):
        c = [make(b).dot_cycles(4096) for b in (2, 4, 8)]
        assert c[1] == 2 * c[0] and c[2] == 2 * c[1]


def test_dot_cycles_data_independent():
    rng = np.random.default_rng(1)
    unit = pe.get("bitserial", scheme="stripes")
    for _ in range(5):
        x = rng.integers(-128, 128, 50) * (rng.random(50) < 0.5)
        assert unit.dot(x, rng.integers(-8, 8, 50)).cycles == unit.dot_cycles(50)


@pytest.mark.parametrize("fmt", ["e2m1", "e5m2", "e3m2"])
def test_parametric_minifloat_operands_take_their_whole_value_set(fmt):
    """Parametric names (no specials: OCP-style value sets) are checked against the named
    format itself, including its largest finite value."""
    import hwsim.formats as F

    top = float(F.get(fmt).max_value)
    u = pe.get("fp_fma", a_fmt=fmt, w_fmt=fmt, acc_fmt="fp32")
    r = u.matmul(np.array([[top, -top]]), np.array([[1.0], [1.0]]))
    assert r.value[0, 0] == 0.0

"""Integer paths the numba fast path bypasses: non-finite input, stochastic rounding, the
``error`` / ``zero`` NaN and overflow policies, and both saturation bounds of every width
(issue 17: ``int4.quantize([-inf])`` must be -8, the hand-derived -2^(n-1))."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

import hwsim.formats as F
from hwsim.formats.base import FormatError

WIDTHS = list(range(1, 33))


def _bounds(bits, signed=True, symmetric=False):
    """(qmin, qmax) written out: signed [-2^(n-1) (+1 if symmetric), 2^(n-1) - 1]."""
    if not signed:
        return 0, 2**bits - 1
    return -(2 ** (bits - 1)) + (1 if symmetric else 0), 2 ** (bits - 1) - 1


CASES = [(b, True, False) for b in WIDTHS] + [(b, False, False) for b in WIDTHS]
CASES += [(b, True, True) for b in (2, 3, 4, 8, 16)]


@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")
@pytest.mark.parametrize(("bits", "signed", "symmetric"), CASES)
def test_saturation_bounds_on_every_path(bits, signed, symmetric):
    lo, hi = _bounds(bits, signed, symmetric)
    big = 2.0**40  # beyond every width's range, far below the int64 limit
    mk = dict(bits=bits, signed=signed, symmetric=symmetric)
    f = F.IntFormat(**mk)
    # finite input (fast path) and non-finite input (numpy path)
    assert f.to_int(np.array([-big, big])).tolist() == [lo, hi]
    assert f.quantize(np.array([-big, big])).tolist() == [lo, hi]
    assert f.quantize(np.array([-np.inf, np.inf])).tolist() == [lo, hi]
    assert f.quantize(np.array([-np.inf, 1.0, np.inf])).tolist() == [lo, min(1, hi), hi]
    # stochastic rounding
    s = F.IntFormat(**mk, rounding="stochastic", seed=3)
    assert s.quantize(np.array([-big, -np.inf, big, np.inf])).tolist() == [lo, lo, hi, hi]
    # NaN -> 0 policy keeps the bounds of the other elements
    z = F.IntFormat(**mk, nan="zero")
    assert z.quantize(np.array([np.nan, -np.inf, np.inf])).tolist() == [0, lo, hi]
    # overflow="error": the bounds themselves pass, one step beyond raises naming the range
    e = F.IntFormat(**mk, overflow="error")
    assert e.quantize(np.array([float(lo), float(hi)])).tolist() == [lo, hi]
    for bad in (lo - 1, hi + 1):
        with pytest.raises(FormatError, match=rf"\[{lo}, {hi}\]"):
            e.quantize(np.array([float(bad)]))
    # codes of the bounds round-trip through decode
    codes = f.encode(np.array([float(lo), float(hi)]))
    assert f.decode(codes).tolist() == [lo, hi]


def test_int4_minus_inf_is_minus_eight():
    assert F.get("int4").quantize(np.array([-np.inf])).tolist() == [-8.0]
    assert F.get("int8").quantize(np.array([-np.inf, -1e9])).tolist() == [-128.0, -128.0]


def test_nan_policies():
    with pytest.raises(FormatError, match="NaN input .*flat index 1"):
        F.IntFormat(8).quantize(np.array([1.0, np.nan]))
    assert F.IntFormat(8, nan="zero").quantize(np.array([np.nan, 2.6])).tolist() == [0.0, 3.0]


def test_stochastic_rounding_is_unbiased_and_stays_on_neighbours():
    # 0.25 rounds to 1 with probability 1/4 and to 0 otherwise; -2.75 to -3 w.p. 3/4
    s = F.IntFormat(8, rounding="stochastic", seed=11)
    q = s.to_int(np.full(40_000, 0.25))
    assert set(np.unique(q).tolist()) == {0, 1}
    assert q.mean() == pytest.approx(0.25, abs=0.01)
    q = s.to_int(np.full(40_000, -2.75))
    assert set(np.unique(q).tolist()) == {-3, -2}
    assert q.mean() == pytest.approx(-2.75, abs=0.01)
    # grid points are never moved
    assert s.to_int(np.array([-128.0, -3.0, 0.0, 127.0])).tolist() == [-128, -3, 0, 127]


def test_fixed_point_saturation_bounds():
    # int8 with 6 fraction bits (MXINT8 element): range [-128/64, 127/64] = [-2, 1.984375]
    f = F.IntFormat(8, frac_bits=6)
    assert f.quantize(np.array([-np.inf, -5.0, 5.0, np.inf])).tolist() == [
        -2.0,
        -2.0,
        1.984375,
        1.984375,
    ]


def test_wrap_of_integer_input():
    # two's-complement wrap of int64 input (the integer path, not the float path):
    #   200 - 256 = -56, -200 + 256 = 56, -129 + 256 = 127, 128 - 256 = -128; in range unchanged
    f = F.IntFormat(8, overflow="wrap")
    x = np.array([200, -200, -129, 128, -1, -128, 127], dtype=np.int64)
    assert f.quantize(x).tolist() == [-56, 56, 127, -128, -1, -128, 127]
    # unsigned 4-bit: 17 -> 1, -1 -> 15
    assert F.IntFormat(4, signed=False, overflow="wrap").quantize(np.array([17, -1])).tolist() == [
        1,
        15,
    ]


@pytest.mark.parametrize(("mode", "offset"), [("floor", 0), ("ceil", 1), ("rceil", 0)])
def test_mx_scale_of_exact_ties_on_both_paths(mode, offset):
    # mxfp6_e2m3: max element 7.5 = 1.875 * 2^2 (emax_elem 2). A block max of exactly
    # 7.5 * 2^k needs X = k: floor(log2) - 2 = (k + 2) - 2 = k; rceil: smallest X with
    # amax <= 2^X * 7.5 = k; ceil(log2) - 2 = (k + 3) - 2 = k + 1. The numba kernel serves
    # nonfinite="nan_scale"; with nonfinite="error" the numpy path computes the scales.
    fast = F.get("mxfp6_e2m3", scale_mode=mode)
    generic = dataclasses.replace(fast, nonfinite="error")
    assert generic._pow2_kernel_args is None  # really the other path
    ks = np.arange(-6, 7)
    blocks = np.zeros((ks.size, 32))
    blocks[:, 0] = 7.5 * 2.0**ks
    blocks[:, 1] = -1.5 * 2.0**ks
    for fmt in (fast, generic):
        x_exp = F.get("e8m0").exponent_of(fmt.encode(blocks).scales[:, 0])
        assert x_exp.tolist() == (ks + offset).tolist(), fmt

"""Batched per-segment PE GEMMs (``ProcessingElement.matmul_segments``) and the row-scaled
exact epilogue of the PE path (``qgemm.exact_scaled_sum`` with one scale per row)."""

from fractions import Fraction

import numpy as np
import pytest

import hwsim.pe as hpe
from hwsim.accuracy.qgemm import exact_scaled_sum
from hwsim.pe import PEError, PEOverflowError

RNG = np.random.default_rng(61)


def per_segment_calls(unit, X, W, g):
    """The oracle: one ``matmul`` per K segment, stacked; cycles and events summed."""
    vals, cycles, events, ovf = [], 0, {}, False
    for s0 in range(0, X.shape[1], g):
        r = unit.matmul(X[:, s0 : s0 + g], W[s0 : s0 + g])
        vals.append(np.asarray(r.value, dtype=np.float64))
        cycles += r.cycles
        for k, v in r.events.items():
            events[k] = events.get(k, 0) + v
        ovf |= r.overflowed
    return np.stack(vals), cycles, events, ovf


CASES = [  # (kind, params, activation range, weight values)
    ("int_mac", {"a_fmt": "int8", "w_fmt": "int4"}, 127, np.arange(-8, 8)),
    ("int_mac", {"a_fmt": "int8", "w_fmt": "int4", "lanes": 4}, 127, np.arange(-8, 8)),
    ("int_mac", {"a_fmt": "int8", "w_fmt": "int4", "acc_bits": 12}, 127, np.arange(-8, 8)),
    ("int_mac", {"a_fmt": "int8", "w_fmt": "int4", "acc_bits": 12, "overflow": "saturate"},
     127, np.arange(-8, 8)),
    ("bitserial", {"scheme": "booth", "w_fmt": "int4"}, 127, np.arange(-8, 8)),
    ("bitserial", {"scheme": "fusion", "w_fmt": "int4", "acc_bits": 14}, 127, np.arange(-8, 8)),
    ("bipolar", {"a_fmt": "int8", "w_fmt": "bipolar2"}, 127, np.array([-3, -1, 1, 3])),
    ("shiftadd", {"w_fmt": "pot4"}, 127, None),  # no batched route: the default loop
    ("fp_fma", {"acc_fmt": "fp16"}, None, None),
]  # fmt: skip


@pytest.mark.parametrize("kind, params, amax, wvals", CASES, ids=lambda v: str(v)[:40])
@pytest.mark.parametrize("m, k, n, g", [(5, 200, 7, 64), (3, 96, 4, 32), (4, 50, 3, 64)])
def test_matmul_segments_equals_one_matmul_per_segment(kind, params, amax, wvals, m, k, n, g):
    unit = hpe.get(kind, **params)
    if amax is None:  # FP16 activations and weights
        X = RNG.standard_normal((m, k)).astype(np.float16).astype(np.float64)
        W = RNG.standard_normal((k, n)).astype(np.float16).astype(np.float64)
    else:
        X = RNG.integers(-amax, amax + 1, (m, k)).astype(np.float64)
        X[0, :g] = amax  # a long run of large products: narrow accumulators overflow
        if wvals is None:
            import hwsim.formats as F

            wvals = F.get(params["w_fmt"]).grid()
        W = RNG.choice(wvals, (k, n)).astype(np.float64)
        W[:g, 0] = wvals.max()
    want, cycles, events, ovf = per_segment_calls(unit, X, W, g)
    r = unit.matmul_segments(X, W, g)
    got = np.asarray(r.value, dtype=np.float64)
    assert got.shape == (-(-k // g), m, n)
    assert np.array_equal(got, want)
    assert (r.cycles, r.events, r.overflowed) == (cycles, events, ovf)
    if params.get("acc_bits") == 12:
        assert ovf  # the test exercises the wrap / saturate branch


def test_matmul_segments_checks_its_input():
    unit = hpe.get("int_mac", a_fmt="int8", w_fmt="int4", acc_bits=8, overflow="error")
    X, W = np.full((2, 8), 100.0), np.full((8, 2), 7.0)
    with pytest.raises(PEOverflowError, match="overflowed"):
        unit.matmul_segments(X, W, 4)
    with pytest.raises(PEError, match="segment"):
        unit.matmul_segments(X, W, 0)
    with pytest.raises(PEError, match="not representable"):
        unit.matmul_segments(X * 2, W, 4)  # 200 is no int8 value


def fraction_scaled_sum(P, sx, sw):
    G, M, N = P.shape
    P, sx, sw = P.tolist(), sx.tolist(), sw.tolist()  # Python floats / ints: exact
    return [[float(sum(Fraction(sx[g][m]) * Fraction(sw[g][n]) * Fraction(P[g][m][n])
                       for g in range(G))) for n in range(N)] for m in range(M)]  # fmt: skip


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64])
def test_row_scaled_epilogue_is_correctly_rounded(dtype):
    G, M, N = 9, 6, 5
    P = RNG.integers(-(2**20), 2**20, (G, M, N)).astype(dtype)
    sx = np.repeat(RNG.standard_normal((1, M)), G, axis=0)  # one scale per row: fast route
    sw = RNG.standard_normal((G, N)).astype(np.float16).astype(np.float64)
    sw[:, 1] *= np.exp2(RNG.integers(-60, 60, G))  # spread exponents: bound fails, fallback
    sx[:, 2] = 0.0  # a zero row scale: fallback
    got = exact_scaled_sum(P, sx, sw)
    assert got.tolist() == fraction_scaled_sum(P, sx, sw)


def test_row_scaled_epilogue_falls_back_on_fractions_and_non_finite_values():
    G, M, N = 4, 3, 3
    P = RNG.integers(-1000, 1000, (G, M, N)).astype(np.float64)
    P[1, 0, 0] += 0.375  # not an integer: the fast route's quantum does not hold
    sx = np.repeat(RNG.standard_normal((1, M)) ** 2 + 0.5, G, axis=0)
    sw = RNG.standard_normal((G, N))  # full 53-bit significands
    assert exact_scaled_sum(P, sx, sw).tolist() == fraction_scaled_sum(P, sx, sw)
    P[2, 1, 1] = np.inf
    out = exact_scaled_sum(P, sx, sw)
    assert not np.isfinite(out[1, 1]) and np.isfinite(np.delete(out.ravel(), 4)).all()


@pytest.mark.parametrize("kind, params, amax, wvals", CASES[:-1], ids=lambda v: str(v)[:40])
@pytest.mark.parametrize("m, k, n, g", [(5, 200, 7, 64), (4, 50, 3, 64)])
def test_segments_exact_claims_hold(kind, params, amax, wvals, m, k, n, g):
    """A PE that claims exact segment sums (``segments_exact``) returns the exact integer
    dot product of every segment; int_mac claims it unless its accumulator can overflow."""
    unit = hpe.get(kind, **params)
    if wvals is None:
        import hwsim.formats as F

        wvals = F.get(params["w_fmt"]).grid()
    X = RNG.integers(-amax, amax + 1, (m, k)).astype(np.float64)
    W = RNG.choice(wvals, (k, n)).astype(np.float64)
    claim = unit.segments_exact(X, W, g)
    exact = np.stack([X[:, s : s + g].astype(np.int64) @ W[s : s + g].astype(np.int64)
                      for s in range(0, k, g)])  # fmt: skip
    if claim:
        r = unit.matmul_segments(X, W, g)
        assert np.array_equal(np.asarray(r.value, dtype=np.float64), exact) and not r.overflowed
    if kind in ("int_mac", "bipolar"):  # the integer-accumulator datapath as it is
        narrow = params.get("acc_bits", 32) < 16  # 64 * 127 * 8 >= 2^11 overflows 12 bits
        assert claim == (not narrow)


def test_segments_exact_validates_like_matmul():
    unit = hpe.get("int_mac", a_fmt="int8", w_fmt="int4")
    with pytest.raises(PEError, match="segment length"):
        unit.segments_exact(np.ones((2, 4)), np.ones((4, 3)), 0)
    with pytest.raises(PEError):
        unit.segments_exact(np.full((2, 4), 0.5), np.ones((4, 3)), 2)  # not int8 values

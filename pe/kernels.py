"""Fast paths: numba kernels and exact BLAS shortcuts shared by the PE models.

Integer kernels accumulate per `lanes`-wide chunk (one adder-tree output per cycle) into an
accumulator of `acc_bits` bits with wrap or saturate, exactly as the step models do.
Floating-point kernels run the sequential accumulation of a dot product with the correctly
rounded operations of `softfloat` (RNE, optional FTZ): each sum is formed in float64 with
round-to-odd (TwoSum error term as sticky bit), which makes the final rounding to a format of
at most 51 significand bits exact (Boldo and Melquiond, "Emulation of FMA and correctly
rounded sums: proved algorithms using rounding to odd", IEEE TC 2008).
"""

from __future__ import annotations

import math

import numba
import numpy as np

WRAP, SATURATE = 0, 1
F32_MAX = float(np.finfo(np.float32).max)
F32_MIN_NORMAL = 2.0**-126
POW2_OFFSET = 1074
POW2 = np.ldexp(1.0, np.arange(-1074, 1024))  # exact powers of two, 2^-1074 .. 2^1023
TWO52 = 2.0**52


def acc_range(acc_bits: int) -> tuple[int, int]:
    """Two's complement range of an `acc_bits`-bit accumulator."""
    return -(1 << (acc_bits - 1)), (1 << (acc_bits - 1)) - 1


def wrap_array(v: np.ndarray, acc_bits: int) -> np.ndarray:
    """Two's complement wrap of int64 values to `acc_bits` bits."""
    lo, _ = acc_range(acc_bits)
    return (v - lo) % (1 << acc_bits) + lo


@numba.njit(cache=True)
def _wrap(v, lo, bits):
    span = np.int64(1) << bits
    return (v - lo) % span + lo


@numba.njit(cache=True)
def int_gemm(X, W, lanes, acc_bits, mode):
    """Y = X @ W with chunked accumulation; returns (Y int64, overflowed bool)."""
    M, K = X.shape
    N = W.shape[1]
    lo = -(np.int64(1) << (acc_bits - 1))
    hi = -lo - 1
    out = np.zeros((M, N), dtype=np.int64)
    ovf = False
    for m in range(M):
        for n in range(N):
            acc = np.int64(0)
            for c0 in range(0, K, lanes):
                s = np.int64(0)
                for k in range(c0, min(c0 + lanes, K)):
                    s += X[m, k] * W[k, n]
                acc += s
                if acc < lo or acc > hi:
                    ovf = True
                    if mode == WRAP:
                        acc = _wrap(acc, lo, acc_bits)
                    else:
                        acc = hi if acc > hi else lo
            out[m, n] = acc
    return out, ovf


@numba.njit(cache=True)
def int_accumulate(P, acc_bits, mode):
    """Sequential accumulation of chunk sums P[..., c] (int64, last axis = cycles)."""
    R, C = P.shape
    lo = -(np.int64(1) << (acc_bits - 1))
    hi = -lo - 1
    out = np.zeros(R, dtype=np.int64)
    ovf = False
    for r in range(R):
        acc = np.int64(0)
        for c in range(C):
            acc += P[r, c]
            if acc < lo or acc > hi:
                ovf = True
                if mode == WRAP:
                    acc = _wrap(acc, lo, acc_bits)
                else:
                    acc = hi if acc > hi else lo
        out[r] = acc
    return out, ovf


def blas_exact(X: np.ndarray, W: np.ndarray, as_float: bool = False) -> np.ndarray:
    """X @ W for integer-valued float64 operands whose partial sums stay below 2^53: exact
    in any summation order; cast to int64 unless `as_float`."""
    Y = X @ W
    return Y if as_float else Y.astype(np.int64)


def exact_int_matmul(
    X: np.ndarray, W: np.ndarray, lanes: int, acc_bits: int, mode: int, as_float: bool = False
):
    """Integer GEMM with accumulator semantics; BLAS when no partial sum can overflow.

    float64 BLAS is exact here because every partial sum is an integer below 2^53 in
    magnitude, whatever order the library sums in; the accumulator then never leaves its
    range, so wrap and saturate are the identity. Returns (values, overflowed); values are
    int64 (or exact float64 if `as_float`).
    """
    X = np.asarray(X, dtype=np.float64)
    W = np.asarray(W, dtype=np.float64)
    K = X.shape[1]
    bound = K * (np.abs(X).max(initial=0.0)) * (np.abs(W).max(initial=0.0))
    if bound < min(2.0 ** (acc_bits - 1), 2.0**53):
        return blas_exact(X, W, as_float), False
    v, ovf = int_gemm(X.astype(np.int64), W.astype(np.int64), lanes, acc_bits, mode)
    return (v.astype(np.float64) if as_float else v), ovf


# ----------------------------------------------------------------------------- floats
@numba.njit(cache=True)
def round_fp(x, mbits, emin, max_finite, ftz):
    """Round float64 `x` to a binary format with RNE (overflow -> inf, FTZ optional)."""
    if x == 0.0 or not math.isfinite(x):
        return x
    if mbits == 23 and emin == -126 and max_finite == F32_MAX:
        # binary32: the hardware float64 -> float32 conversion is IEEE RNE with gradual
        # underflow and overflow to inf, i.e. this very rounding; FTZ applied after it
        r = float(np.float32(x))
        if ftz and abs(r) < F32_MIN_NORMAL:
            r = math.copysign(0.0, x)
        return r
    ax = abs(x)
    if mbits <= 22 and F32_MIN_NORMAL <= ax < 2.0**127:
        # leading-one exponent from the float32 bits: exact, or one too large when ax is
        # within 2^-25 (relative) below a power of two, where both quanta round to it
        e = ((np.float32(ax).view(np.int32) >> 23) & 0xFF) - 127
    else:
        _, e1 = math.frexp(ax)  # ax in [2^(e1-1), 2^e1)
        e = e1 - 1
    q = max(e, emin) - mbits
    if -1000 <= q <= 960:
        y = ax * POW2[-q + POW2_OFFSET]  # exact power-of-two scaling, y < 2^(mbits + 2)
        f = (y + TWO52) - TWO52  # float64 add rounds y to an integer, ties to even
        r = f * POW2[q + POW2_OFFSET]
    else:
        y = math.ldexp(ax, -q)
        f = math.floor(y)
        d = y - f
        if d > 0.5 or (d == 0.5 and f % 2.0 == 1.0):
            f += 1.0
        r = math.ldexp(f, q)
    if r > max_finite:
        r = math.inf
    elif ftz and r < math.ldexp(1.0, emin):
        r = 0.0
    return math.copysign(r, x)


@numba.njit(cache=True)
def sum_to_odd(a, b):
    """a + b in float64 rounded to odd (exact if representable; sticky last bit otherwise)."""
    s = a + b
    if not math.isfinite(s) or s == 0.0:
        if s == 0.0 and a == 0.0 and b == 0.0:
            return a + b
        return s
    bb = s - a
    err = (a - (s - bb)) + (b - bb)
    if err == 0.0:
        return s
    m, e = math.frexp(abs(s))
    isig = math.ldexp(m, 53)
    if isig % 2.0 == 1.0:
        return s
    toward_zero = (err < 0.0) != (s < 0.0)
    step = math.ldexp(1.0, e - 54) if (toward_zero and m == 0.5) else math.ldexp(1.0, e - 53)
    return s - math.copysign(step, s) if toward_zero else s + math.copysign(step, s)


@numba.njit(cache=True)
def flush(x, tiny, ftz):
    """Denormals-are-zero for an adder input (tiny = smallest normal, 2^emin)."""
    if ftz and x != 0.0 and abs(x) < tiny:
        return math.copysign(0.0, x)
    return x


@numba.njit(cache=True)
def lmul(x, w, ebits, mbits, bias, l_bits):
    """L-Mul (arXiv 2410.00907): integer add of the (exponent|mantissa) fields of x and w.

    Field sum minus offset (bias << m) - (2^m >> l); subnormal inputs and results flush to
    zero; a result exponent field of all ones or more saturates to +-inf.
    """
    if x == 0.0 or w == 0.0:
        return 0.0 * (-1.0 if (x < 0.0) != (w < 0.0) else 1.0)
    emin = 1 - bias
    if abs(x) < math.ldexp(1.0, emin) or abs(w) < math.ldexp(1.0, emin):
        return 0.0
    _, ex = math.frexp(abs(x))
    _, ew = math.frexp(abs(w))
    fx = np.int64((ex - 1 + bias) << mbits) + np.int64(
        math.ldexp(abs(x), mbits - (ex - 1)) - math.ldexp(1.0, mbits)
    )
    fw = np.int64((ew - 1 + bias) << mbits) + np.int64(
        math.ldexp(abs(w), mbits - (ew - 1)) - math.ldexp(1.0, mbits)
    )
    offset = (np.int64(bias) << mbits) - ((np.int64(1) << mbits) >> l_bits)
    r = fx + fw - offset
    sign = -1.0 if (x < 0.0) != (w < 0.0) else 1.0
    efield = r >> mbits
    if efield <= 0:
        return 0.0 * sign
    if efield >= (1 << ebits) - 1:
        return math.inf * sign
    frac = r & ((np.int64(1) << mbits) - 1)
    return sign * math.ldexp(1.0 + math.ldexp(float(frac), -mbits), int(efield) - bias)


@numba.njit(cache=True)
def fp_gemm(X, W, mult, fused, pspec, aspec, lspec):
    """Sequential FP dot products Y[m, n] = acc over k of X[m, k] * W[k, n].

    mult: 0 exact product (rounded to pspec unless fused), 1 L-Mul with lspec,
    2 power-of-two weight by exponent add (exact; flush below 2^emin, inf above max).
    pspec/aspec: (mbits, emin, max_finite, ftz) of the product / accumulator format.
    lspec: (ebits, mbits, bias, l) for L-Mul.
    """
    M, K = X.shape
    N = W.shape[1]
    out = np.zeros((M, N))
    pm, pe, pmax, pftz = int(pspec[0]), int(pspec[1]), pspec[2], pspec[3] != 0.0
    am, ae, amax, aftz = int(aspec[0]), int(aspec[1]), aspec[2], aspec[3] != 0.0
    atiny, ptiny = math.ldexp(1.0, ae), math.ldexp(1.0, pe)
    for m in range(M):
        for n in range(N):
            acc = 0.0
            for k in range(K):
                if mult == 1:
                    p = lmul(X[m, k], W[k, n], int(lspec[0]), int(lspec[1]), int(lspec[2]),
                             int(lspec[3]))  # fmt: skip
                elif mult == 2:  # exponent add: exact, flush below 2^pe, inf above pmax
                    p = X[m, k] * W[k, n]
                    if abs(p) < ptiny:
                        p = math.copysign(0.0, p)
                    elif abs(p) > pmax:
                        p = math.copysign(math.inf, p)
                else:
                    p = X[m, k] * W[k, n]
                    if not fused:
                        p = round_fp(p, pm, pe, pmax, pftz)
                if mult != 0 or not fused:
                    p = flush(p, atiny, aftz)
                acc = round_fp(sum_to_odd(p, flush(acc, atiny, aftz)), am, ae, amax, aftz)
            out[m, n] = acc
    return out


@numba.njit(cache=True)
def fp_round_array(x, mbits, emin, max_finite, ftz):
    """Vectorised `round_fp` over a flat float64 array."""
    out = np.empty_like(x)
    for i in range(x.size):
        out[i] = round_fp(x[i], mbits, emin, max_finite, ftz)
    return out


def group_partials(X, W, group: int, lanes: int, acc_bits: int, mode: int):
    """Per-group integer partial sums P[g, m, n] = sum over k in group g of X[m,k] W[k,n],
    each group accumulated from zero in `lanes`-wide chunks at `acc_bits` (wrap/saturate).
    Returns (P (ng, M, N) integer values, exact float64 or int64; overflowed)."""
    X = np.asarray(X, dtype=np.float64)
    W = np.asarray(W, dtype=np.float64)
    M, Kd = X.shape
    N = W.shape[1]
    ng = -(-Kd // group)
    bound = min(group, Kd) * np.abs(X).max(initial=0.0) * np.abs(W).max(initial=0.0)
    if bound < min(2.0 ** (acc_bits - 1), 2.0**53):  # exact in float64 BLAS
        out = np.empty((ng, M, N))
        full = Kd // group
        if full:
            Xg = X[:, : full * group].reshape(M, full, group).transpose(1, 0, 2)
            np.matmul(Xg, W[: full * group].reshape(full, group, N), out=out[:full])
        if full < ng:
            np.matmul(X[:, full * group :], W[full * group :], out=out[full])
        return out, False
    out = np.empty((ng, M, N), dtype=np.int64)
    ovf = False
    for g in range(ng):  # loop over groups only; the kernel loops over MACs
        sl = slice(g * group, min((g + 1) * group, Kd))
        out[g], o = int_gemm(
            np.ascontiguousarray(X[:, sl]).astype(np.int64),
            np.ascontiguousarray(W[sl]).astype(np.int64), lanes, acc_bits, mode,
        )  # fmt: skip
        ovf |= o
    return out, ovf


def pipeline_end(stage_a_ends: np.ndarray, b_cycles: int) -> int:
    """Finish cycle of a 2-stage pipeline: job g leaves stage A at stage_a_ends[g], then
    needs `b_cycles` of a single stage-B unit (FIFO, unbounded buffer)."""
    n = len(stage_a_ends)
    if n == 0:
        return 0
    return int(np.max(stage_a_ends + (n - np.arange(n)) * b_cycles))


# ------------------------------------------------------------- kernels of specific PEs
# (kept in this module: numba's on-disk cache only tracks the defining file)
@numba.njit(cache=True)
def lut_fp_gemm(T, idx, nbits, mbits, emin, max_finite, ftz):
    """T: (M, G, 2^K) full tables (FP16 values); idx: (B, G, N) indices."""
    M, G, _ = T.shape
    N = idx.shape[2]
    tiny = math.ldexp(1.0, emin)
    out = np.zeros((M, N))
    for m in range(M):
        for n in range(N):
            acc = 0.0
            for g in range(G):
                for b in range(nbits):
                    e = T[m, g, idx[b, g, n]] * float(1 << b)
                    if abs(e) > max_finite:
                        e = math.copysign(math.inf, e)
                    s = sum_to_odd(flush(acc, tiny, ftz), e)
                    acc = round_fp(s, mbits, emin, max_finite, ftz)
            out[m, n] = acc
    return out


@numba.njit(cache=True)
def lut_int_gemm(T, idx, nbits, acc_bits, mode):
    M, G, _ = T.shape
    N = idx.shape[2]
    lo = -(np.int64(1) << (acc_bits - 1))
    hi = -lo - 1
    out = np.zeros((M, N), dtype=np.int64)
    ovf = False
    for m in range(M):
        for n in range(N):
            acc = np.int64(0)
            for g in range(G):
                for b in range(nbits):
                    acc += T[m, g, idx[b, g, n]] << b
                    if acc < lo or acc > hi:
                        ovf = True
                        if mode == WRAP:
                            acc = (acc - lo) % (np.int64(1) << acc_bits) + lo
                        else:
                            acc = hi if acc > hi else lo
            out[m, n] = acc
    return out, ovf


def dequant_accumulate(C, S, aspec):
    """out[m, n] = sequential over g of round(S[g, n] * C[g, m, n] + out) (one rounding each;
    S * C must be exact in float64). The first group starts from +0, so its step is one
    rounding of the exact product; for binary32 without FTZ that is numpy's IEEE
    float64 -> float32 cast (the same RNE operation), done vectorised."""
    if aspec[0] == 23 and aspec[1] == -126 and aspec[3] == 0.0:
        prod = S[0][None, :] * C[0]
        first = prod.astype(np.float32).astype(np.float64)
        first[prod == 0.0] = 0.0  # an exact zero sum (-0 + +0) is +0 under RNE
        if C.shape[0] == 1:
            return first
        return _dequant_accumulate(C, S, aspec, first, 1)
    return _dequant_accumulate(C, S, aspec, np.zeros(C.shape[1:]), 0)


@numba.njit(cache=True)
def _dequant_accumulate(C, S, aspec, out, g_start):
    G, M, N = C.shape
    am, ae, amax, aftz = int(aspec[0]), int(aspec[1]), aspec[2], aspec[3] != 0.0
    tiny = math.ldexp(1.0, ae)
    for m in range(M):
        for n in range(N):
            acc = out[m, n]
            for g in range(g_start, G):
                s = sum_to_odd(S[g, n] * C[g, m, n], flush(acc, tiny, aftz))
                acc = round_fp(s, am, ae, amax, aftz)
            out[m, n] = acc
    return out


@numba.njit(cache=True)
def group_fp_gemm(X, Q, S, group, aspec):
    """Per group: P = fp-sum of X * Q (products exact), then out = round(S * P + out)."""
    M, Kd = X.shape
    N = Q.shape[1]
    am, ae, amax, aftz = int(aspec[0]), int(aspec[1]), aspec[2], aspec[3] != 0.0
    tiny = math.ldexp(1.0, ae)
    out = np.zeros((M, N))
    for m in range(M):
        for n in range(N):
            acc = 0.0
            for g0 in range(0, Kd, group):
                p = 0.0
                for k in range(g0, min(g0 + group, Kd)):
                    prod = flush(X[m, k] * Q[k, n], tiny, aftz)
                    p = round_fp(sum_to_odd(prod, flush(p, tiny, aftz)), am, ae, amax, aftz)
                s = S[g0 // group, n]
                t = sum_to_odd(s * flush(p, tiny, aftz), flush(acc, tiny, aftz))
                acc = round_fp(t, am, ae, amax, aftz)
            out[m, n] = acc
    return out


@numba.njit(cache=True)
def bitmod_fp_gemm(SA, EA, MA, TS, TE, TM, BS, lanes, group, scales, has_scales, unit):
    """BitMoD FP16-activation datapath (see bitmod_fp.py): exp_match, truncating bs_mul,
    grp_accum with alignment to the larger exponent, per-group dequant + FP32 sum."""
    M, Kd = SA.shape
    T = TS.shape[0]
    N = TS.shape[2]
    lim = np.int64(1) << 14
    out = np.zeros((M, N))
    for m in range(M):
        for n in range(N):
            res = 0.0
            for g0 in range(0, Kd, group):
                g1 = min(g0 + group, Kd)
                man = np.int64(0)
                exp = np.int64(0)
                for c0 in range(g0, g1, lanes):
                    c1 = min(c0 + lanes, g1)
                    for j in range(T):
                        mx = np.int64(-1)
                        for k in range(c0, c1):
                            v = EA[m, k] + TE[j, k, n]
                            if v > mx:
                                mx = v
                        tot = np.int64(0)
                        for k in range(c0, c1):
                            delta = mx - (EA[m, k] + TE[j, k, n])
                            al = ((MA[m, k] * TM[j, k, n]) << 3) >> delta
                            tot += -al if (SA[m, k] ^ TS[j, k, n]) else al
                        E = mx if mx > exp else exp
                        total = ((tot << BS[j]) >> (E - mx)) + (man >> (E - exp))
                        s = 0
                        while not (-lim <= (total >> s) < lim):
                            s += 1
                        man = total >> s
                        exp = E + s
                gv = float(man) * math.ldexp(unit, int(exp) - 28)
                if has_scales:
                    gv *= scales[g0 // group, n]
                    res = round_fp(sum_to_odd(gv, res), 23, -126, F32_MAX, False)
                else:
                    res = gv
            out[m, n] = res
    return out

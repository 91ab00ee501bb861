"""BitMoD 4-lane FP16-activation datapath (see bitmod_fp.py) in exact float32 arithmetic:
the same operations as `kernels._bitmod_fp4_tiles`, 16 outputs per AVX-512 vector instead
of 8, bit-identical results.

Every quantity of the datapath is an integer below 2^24 or a power of two, so float32
holds it exactly and the operations below are exact:

* exponents become powers of two: Ea = 2^ea per activation, 2^ew per term; 2^v_i =
  Ea_i * 2^ew_i and 2^max_exp = max_i 2^v_i (exact products and max of powers of two).
* the aligned lane value floor((ma * man) << 3 >> delta), negated if sign_a xor sign_w, is
  trunc(Pa_i * Wt_i * 2^-max_exp) with Pa = +-(ma << 3) * 2^ea and Wt = +-man * 2^ew: the
  product is +-(ma * man * 8) * 2^v_i (< 2^14 * 2^34, 14 significant bits), the scaling by a
  power of two is exact, and truncation toward zero of the signed value equals negating the
  floor of its magnitude. 2^ew of a term is max(|Wt|, 1): this needs ew = 0 wherever
  man = 0 (true for Booth digits and the FP term schedule; checked, else the int64 kernel).
* grp_accum: with the accumulator (man, 2^exp), E = max(2^max_exp, 2^exp) and
  total = floor(bs_out * 2^bsig * 2^max_exp / E) + floor(man * 2^exp / E), each an exact
  power-of-two scaling of an integer followed by an exact floor; |total| < 2^16 * 2^7 +
  2^14 < 2^24 for bsig <= 7 (checked). np.floor / np.trunc of float32 compile to vector
  rounding instructions (int32 round trips instead cost ~1.7x).
* normalise: s = max(0, bitlen(u) - 14) with u = max(total, -total - 1) as in the int64
  kernel; 2^(bitlen(u) - 1) is u with its significand bits cleared, so 2^s =
  max(that * 2^-13, 1); man = floor(total * 2^-s), 2^exp = E * 2^s.
* 1 / 2^k of a normal power of two is the bit pattern 0x7F000000 - bits(2^k) (no divide).

The group epilogue is the int64 kernel's: man * 2^(exp - 28) * unit in float64 (with
man + 0.0, so a -0.0 float mantissa reads as the integer 0), times the scale, FP32 sum.
"""

from __future__ import annotations

import math

import numba
import numpy as np

from hwsim.formats.jitcache import njit_cached
from hwsim.pe import kernels as K

F32_TM, F32_TN = 8, 256  # output tile: rows x columns
MAX_BSIG = 7  # bit significance per term cycle up to which |total| < 2^24 (exact)
_ONE = np.float32(1.0)
_P2M13 = np.float32(2.0**-13)
_RECIP = np.int32(0x7F000000)  # 1 / 2^k = pattern _RECIP - pattern(2^k), normal 2^k
_EXP_MASK = np.int32(0x7F800000)


@njit_cached(inline="always", error_model="numpy")
def _recip_pow2(x):
    """1 / x for a normal float32 power of two x (exact, no division)."""
    return np.int32(_RECIP - np.float32(x).view(np.int32)).view(np.float32)


@njit_cached(inline="always", error_model="numpy")
def _floor(y):
    """floor of a float32 (exact)."""
    return np.floor(y)


@njit_cached(error_model="numpy")
def _bitmod_f32_tiles(EAP, PA, WT, BSP, Kd, group, scales, has_scales, unit, t_lo, t_hi, out):
    """Output tiles t_lo <= t < t_hi (F32_TM x F32_TN) of the 4-lane BitMoD FP16 GEMM.
    EAP, PA: float32 (M, Kp) 2^ea and +-(ma << 3) * 2^ea; WT: float32 (T, Kp, N)
    +-man * 2^ew; BSP: float32 (T,) 2^bsig; Kp = K padded to a multiple of 4 with zero
    activations (2^0, 0) and zero terms (0). has_scales: 0 none, 1 scales (round-to-odd
    sum + `round_fast`), 2 scales whose products are float32 values (`_f32_products`)."""
    M = PA.shape[0]
    T = WT.shape[0]
    N = WT.shape[2]
    f32_tiny = math.ldexp(1.0, -126)
    grid = math.ldexp(unit, -28)
    n_nt = (N + F32_TN - 1) // F32_TN
    man = np.zeros((F32_TM, F32_TN), dtype=np.float32)
    eac = np.ones((F32_TM, F32_TN), dtype=np.float32)
    res = np.zeros((F32_TM, F32_TN))
    one = _ONE
    for t in range(t_lo, t_hi):
        m0 = (t // n_nt) * F32_TM
        n0 = (t % n_nt) * F32_TN
        mm = min(M - m0, F32_TM)
        nn = min(N - n0, F32_TN)
        res[:] = 0.0
        for g0 in range(0, Kd, group):
            g1 = min(g0 + group, Kd)
            man[:] = 0.0
            eac[:] = 1.0
            for c0 in range(g0, g1, 4):
                for j in range(T):
                    bs = BSP[j]
                    w0, w1 = WT[j, c0, n0 : n0 + nn], WT[j, c0 + 1, n0 : n0 + nn]
                    w2, w3 = WT[j, c0 + 2, n0 : n0 + nn], WT[j, c0 + 3, n0 : n0 + nn]
                    for r in range(mm):
                        m = m0 + r
                        e0, e1, e2, e3 = EAP[m, c0], EAP[m, c0 + 1], EAP[m, c0 + 2], EAP[m, c0 + 3]
                        p0, p1, p2, p3 = PA[m, c0], PA[m, c0 + 1], PA[m, c0 + 2], PA[m, c0 + 3]
                        mrow = man[r]
                        erow = eac[r]
                        for jn in range(nn):
                            x0, x1, x2, x3 = w0[jn], w1[jn], w2[jn], w3[jn]
                            a0, a1, a2, a3 = abs(x0), abs(x1), abs(x2), abs(x3)
                            v0 = e0 * (a0 if a0 > one else one)
                            v1 = e1 * (a1 if a1 > one else one)
                            v2 = e2 * (a2 if a2 > one else one)
                            v3 = e3 * (a3 if a3 > one else one)
                            m01 = v0 if v0 > v1 else v1
                            m23 = v2 if v2 > v3 else v3
                            mx = m01 if m01 > m23 else m23
                            inv = _recip_pow2(mx)
                            tot = (np.trunc(p0 * x0 * inv) + np.trunc(p1 * x1 * inv)) + (
                                np.trunc(p2 * x2 * inv) + np.trunc(p3 * x3 * inv)
                            )
                            ea = erow[jn]
                            E = mx if mx > ea else ea
                            ie = _recip_pow2(E)
                            total = _floor(tot * bs * (mx * ie)) + _floor(mrow[jn] * (ea * ie))
                            nt = -total - one
                            u = total if total > nt else nt
                            top = np.int32(np.float32(u).view(np.int32) & _EXP_MASK)
                            sc = top.view(np.float32) * _P2M13
                            sc = sc if sc > one else one
                            mrow[jn] = _floor(total * _recip_pow2(sc))
                            erow[jn] = E * sc
            for r in range(mm):
                for jn in range(nn):
                    gv = float(man[r, jn] + np.float32(0.0)) * (float(eac[r, jn]) * grid)
                    if has_scales == 2:  # gv exact in float32: one IEEE float32 add (RNE)
                        gv *= scales[g0 // group, n0 + jn]
                        res[r, jn] = float(np.float32(res[r, jn]) + np.float32(gv))
                    elif has_scales:
                        gv *= scales[g0 // group, n0 + jn]
                        s = K.sum_to_odd(gv, res[r, jn])
                        res[r, jn] = K.round_fast(s, 23, -126, K.F32_MAX, False, f32_tiny)
                    else:
                        res[r, jn] = gv
        out[m0 : m0 + mm, n0 : n0 + nn] = res[:mm, :nn]
    return out


@njit_cached(parallel=True)
def _bitmod_f32_par(EAP, PA, WT, BSP, Kd, group, scales, has, unit, n, out):
    nch = min(n, K.PAR_CHUNKS)
    for c in numba.prange(nch):
        lo, hi = c * n // nch, (c + 1) * n // nch
        _bitmod_f32_tiles(EAP, PA, WT, BSP, Kd, group, scales, has, unit, lo, hi, out)
    return out


@njit_cached
def _term_values(TS, TE, TM, pad):
    """(WT, ok): float32 (T, K + pad, N) term values +-man * 2^ew (zero padding), and
    whether every term has ew in 0..3, man in {0, 1} and ew = 0 where man = 0."""
    T, Kd, N = TS.shape
    WT = np.zeros((T, Kd + pad, N), np.float32)
    ok = True
    for j in range(T):
        for k in range(Kd):
            for n in range(N):
                e, m = TE[j, k, n], TM[j, k, n]
                ok &= (m == 0 and e == 0) or (m == 1 and 0 <= e <= 3)
                v = np.float32(m * (1 << max(min(e, 3), 0)))
                WT[j, k, n] = -v if TS[j, k, n] != 0 else v
    return WT, ok


def f32_operands(SA, EA, MA, TS, TE, TM, BS):
    """Float32 operands of `_bitmod_f32_tiles` from the integer fields (K padded to a
    multiple of 4), or None if the float32 datapath is not exact for them (a term with
    man = 0 and ew != 0, a term exponent outside 0..3, a mantissa outside {0, 1} or a bsig
    outside 0..MAX_BSIG)."""
    BS = np.asarray(BS, np.int64)
    if np.any((BS < 0) | (BS > MAX_BSIG)):
        return None
    pad = -SA.shape[1] % 4
    WT, ok = _term_values(np.asarray(TS), np.asarray(TE), np.asarray(TM), pad)
    if not ok:
        return None
    pow_a = np.ldexp(np.float32(1.0), np.asarray(EA).astype(np.int32))  # 2^ea, exact
    PA = np.where(np.asarray(SA) != 0, -1, 1) * (np.asarray(MA, np.int64) << 3) * pow_a
    return (
        np.pad(pow_a.astype(np.float32), ((0, 0), (0, pad)), constant_values=1.0),
        np.pad(PA.astype(np.float32), ((0, 0), (0, pad))),
        WT,
        np.ldexp(np.float32(1.0), BS.astype(np.int32)).astype(np.float32),
    )


def _f32_products(scales, unit) -> bool:
    """Whether every group result man * 2^(exp - 28) * unit * scale is a float32 value:
    unit a power of two and integer scales in 0..2^9 - 1 (15 + 9 significant bits at most).
    Then the FP32 group sum round(gv + res) is one float32 addition (IEEE RNE, gradual
    underflow; exponents stay far inside float32's range), the value of the round-to-odd
    sum followed by `round_fast`."""
    sc = np.asarray(scales)
    u = float(unit)
    return (
        u > 0
        and math.frexp(u)[0] == 0.5
        and bool(np.all((sc >= 0) & (sc < 512) & (sc == np.floor(sc))))
    )


def bitmod_fp_gemm_f32(SA, EA, MA, TS, TE, TM, BS, group, scales, has_scales, unit):
    """4-lane BitMoD FP16 GEMM, bit-identical to `kernels.bitmod_fp_gemm` with lanes = 4
    (which it calls when `f32_operands` finds the float32 datapath inexact): activation
    fields (M x K), term fields (T x K x N), bsig per cycle (T,), group length (a multiple
    of 4, or >= K for one group), scales (G x N) if has_scales, grid unit."""
    M, Kd = SA.shape
    T, Kw, N = TS.shape
    if Kw != Kd:
        raise ValueError(f"bitmod_fp_gemm_f32: activations have K = {Kd}, terms {Kw}")
    if group < Kd and group % 4:
        raise ValueError(f"bitmod_fp_gemm_f32: group {group} is not a multiple of 4")
    ops = f32_operands(SA, EA, MA, TS, TE, TM, BS)
    if ops is None:
        return K.bitmod_fp_gemm(SA, EA, MA, TS, TE, TM, BS, 4, group, scales, has_scales, unit)
    group = min(group, Kd + (-Kd % 4))  # one group: chunks past K read the zero padding
    out = np.zeros((M, N))
    n = -(-M // F32_TM) * -(-N // F32_TN)
    mode = int(bool(has_scales))
    if has_scales and _f32_products(scales, unit):
        mode = 2
    args = (*ops, Kd, group, scales, mode, float(unit))
    if M * N * Kd * T >= K.PAR_MIN_WORK:
        return _bitmod_f32_par(*args, n, out)
    return _bitmod_f32_tiles(*args, 0, n, out)

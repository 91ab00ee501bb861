"""Numba kernels for block formats: one pass per block, no float64 temporaries.

Power-of-two scaled blocks (OCP MX, BFP): dividing by 2^X only shifts the exponent, so each
element is rounded exactly once, straight from its IEEE bits, with ``e2 - X`` as exponent.
NVFP4: the reference recipe's float32 arithmetic, step by step in float32.
"""

from __future__ import annotations

import math

import numpy as np

from ._float_kernels import _U0, _U1, ST_OK, _msb, decompose, round_magnitude
from .jitcache import njit_cached

RULE_FLOOR, RULE_CEIL, RULE_RCEIL = 0, 1, 2


@njit_cached(inline="always")
def _element_code(neg, mag, st, max_mag, sign_bit, twos, elem_bits, negzero):
    """Final element code from sign and magnitude; overflow saturates (block formats).
    ``negzero`` keeps the sign bit on a zero result (formats with a -0 code)."""
    if st != ST_OK:
        mag = max_mag
    if twos:  # loop-invariant; the data-dependent choices below compile to selects
        return (-mag if neg else mag) & ((1 << elem_bits) - 1)
    sgn = sign_bit if neg else 0
    if mag == 0 and negzero == 0:
        sgn = 0
    return mag | sgn


@njit_cached
def pow2_blocks(
    bits, src_mbits, src_ebits, block, emax_elem, rule, maxv_m, maxv_e, x_lo, x_hi, sbias,
    nan_code, mbits, emin, emax, max_mag, rmode, subnorm, twos, elem_bits, negzero, lut,
    out_codes, out_scales, out_vals,
):  # fmt: skip
    """Quantize rows of IEEE floats (raw bits, shape rows x L) in blocks of ``block``.

    Scale exponent X (per block): floor/ceil(log2 amax) - emax_elem, or for RCEIL the
    smallest k with amax <= 2^k * maxv (maxv = maxv_m * 2^maxv_e, maxv_m in [0.5, 1)); X is
    clamped to [x_lo, x_hi] and stored as X + sbias. A block with NaN/Inf gets ``nan_code``
    and NaN values. ``twos`` selects two's-complement element codes (MXINT8/BFP) instead of
    sign-magnitude. When ``out_vals`` is non-empty, writes lut[code] * 2^X.
    """
    rows, length = bits.shape
    width = 1 + src_ebits + src_mbits
    sb = (1 << (src_ebits - 1)) - 1
    emask = np.uint64((1 << src_ebits) - 1)
    mmask = np.uint64((1 << src_mbits) - 1)
    absmask = (_U1 << np.uint64(width - 1)) - _U1
    has_vals = out_vals.shape[0] > 0
    sign_bit = 1 << (elem_bits - 1)
    nblocks = (length + block - 1) // block
    for r in range(rows):
        for b in range(nblocks):
            lo = b * block
            hi = min(lo + block, length)
            amax = _U0
            for i in range(lo, hi):
                a = np.uint64(bits[r, i]) & absmask
                if a > amax:
                    amax = a
            ef = np.int64((amax >> np.uint64(src_mbits)) & emask)
            if ef == np.int64(emask):  # NaN or Inf in the block
                out_scales[r, b] = nan_code
                for i in range(lo, hi):
                    out_codes[r, i] = 0
                    if has_vals:
                        out_vals[r, i] = np.nan
                continue
            if amax == _U0:
                x_exp = x_lo
            else:
                mf = amax & mmask
                if ef == 0:
                    lg = _msb(mf) + 1 - sb - src_mbits  # floor(log2) of a subnormal
                    exact_pow = (mf & (mf - _U1)) == _U0
                else:
                    lg = ef - sb
                    exact_pow = mf == _U0
                if rule == RULE_FLOOR:
                    x_exp = lg - emax_elem
                elif rule == RULE_CEIL:
                    x_exp = lg - emax_elem + (0 if exact_pow else 1)
                else:
                    # amax = ma * 2^ea with ma in [0.5, 1), rebuilt from the bits exactly
                    if ef == 0:
                        sig = mf
                        e2 = 1 - sb - src_mbits
                    else:
                        sig = mf | (_U1 << np.uint64(src_mbits))
                        e2 = ef - sb - src_mbits
                    p = _msb(sig)
                    ma = math.ldexp(float(sig), -p - 1)  # exact (<= 53 significant bits)
                    ea = p + 1 + e2
                    x_exp = ea - maxv_e + (1 if ma > maxv_m else 0)
                if x_exp < x_lo:
                    x_exp = x_lo
                if x_exp > x_hi:
                    x_exp = x_hi
            out_scales[r, b] = x_exp + sbias
            scale = math.ldexp(1.0, x_exp)
            for i in range(lo, hi):
                neg, _, _, sig, e2, p = decompose(
                    np.uint64(bits[r, i]), width, src_mbits, sb, emask, mmask
                )
                mag = 0
                st = ST_OK
                if sig != _U0:
                    mag, st = round_magnitude(
                        neg, sig, e2 - x_exp, p, mbits, emin, emax, max_mag, rmode, subnorm, _U0
                    )
                code = _element_code(neg, mag, st, max_mag, sign_bit, twos, elem_bits, negzero)
                out_codes[r, i] = code
                if has_vals:
                    out_vals[r, i] = lut[code] * scale  # exact: power-of-two scale


@njit_cached(inline="always")
def _float32_code(v, mbits, emin, emax, max_mag, rmode, subnorm, sign_bit):
    """Sign-magnitude minifloat code of a finite float32/float64 value ``v`` (saturating);
    ``sign_bit`` is the code's sign bit (0 for positive-only use)."""
    neg = v < 0 or (v == 0 and math.copysign(1.0, v) < 0)
    a = abs(v)
    if a == 0:
        return sign_bit if neg else 0
    m, e = math.frexp(a)
    sig = np.uint64(m * 9007199254740992.0)  # m * 2^53, exact
    mag, st = round_magnitude(neg, sig, e - 53, 52, mbits, emin, emax, max_mag, rmode, subnorm, _U0)
    if st != ST_OK:
        mag = max_mag
    return mag | sign_bit if neg else mag


@njit_cached
def nvfp4_blocks(x, block, tensor_scale, e4m3_lut, e2m1_lut, out_codes, out_scales, out_vals):
    """NVFP4 quantize of float32 rows (rows x L), float32 arithmetic as the reference recipe.

    ``tensor_scale`` is the float32 per-tensor scale t (two-level) or 0 (single level).
    E4M3 scale: mbits 3, emin -6, emax 8, max_mag 0x7E; E2M1: mbits 1, emin 0, emax 2, max 7.
    Scaled elements are rounded from their float32 bits (a scratch block viewed as uint32).
    """
    rows, length = x.shape
    nblocks = (length + block - 1) // block
    has_vals = out_vals.shape[0] > 0
    six = np.float32(6.0)
    one = np.float32(1.0)
    lo_s = np.float32(0.015625)
    hi_s = np.float32(448.0)
    scratch = np.empty(block, dtype=np.float32)
    sbits = scratch.view(np.uint32)
    for r in range(rows):
        for b in range(nblocks):
            lo = b * block
            hi = min(lo + block, length)
            amax = np.float32(0.0)
            for i in range(lo, hi):
                a = abs(x[r, i])
                if a > amax:
                    amax = a
            bs = amax / six
            if tensor_scale != 0:
                bs = bs / tensor_scale
            bs = min(max(bs, lo_s), hi_s)
            scode = _float32_code(bs, 3, -6, 8, 0x7E, 0, 1, 0)
            out_scales[r, b] = scode
            s32 = np.float32(e4m3_lut[scode])
            if tensor_scale != 0:
                mult = (one / tensor_scale) / s32
                sv = e4m3_lut[scode] * float(tensor_scale)  # exact in float64
            else:
                mult = one / s32
                sv = e4m3_lut[scode]
            for i in range(lo, hi):
                d = x[r, i] * mult
                scratch[i - lo] = min(max(d, -six), six)
            for i in range(lo, hi):
                neg, _, _, sig, e2, p = decompose(
                    np.uint64(sbits[i - lo]), 32, 23, 127, np.uint64(0xFF), np.uint64(0x7FFFFF)
                )
                mag = 0
                if sig != _U0:
                    mag, st = round_magnitude(neg, sig, e2, p, 1, 0, 2, 7, 0, 1, _U0)
                code = mag | (8 if neg else 0)
                out_codes[r, i] = code
                if has_vals:
                    out_vals[r, i] = e2m1_lut[code] * sv


@njit_cached(inline="always")
def _round_int(v, rmode):
    """Round float64 ``v`` to an integral float64 (RNE, RNA, RTZ, floor, ceil).

    Stays in float64 for every magnitude (+-inf included): no int64 conversion that could
    overflow before the caller saturates."""
    if rmode == 0:
        return np.rint(v)
    if rmode == 1:
        t = np.trunc(v)
        return t + (math.copysign(1.0, v) if abs(v - t) >= 0.5 else 0.0)
    if rmode == 2:
        return np.trunc(v)
    if rmode == 3:
        return np.floor(v)
    return np.ceil(v)


@njit_cached(inline="always")
def _scaled_q(xv, s, inv, s32, inv32, z, mul_recip, f32, qmin, qmax, rmode):
    """clip(round(x / s) + z, qmin, qmax) for one element (see ``scaled_int_rows``)."""
    if f32:
        xi = np.float32(xv)
        v = float(xi * inv32) if mul_recip else float(xi / s32)
    else:
        xi = float(xv)
        v = xi * inv if mul_recip else xi / s
    q = _round_int(v, rmode) + z  # round(x / s) + z (AWQ/GPTQ convention)
    return min(max(q, qmin), qmax)


@njit_cached
def scaled_int_rows(
    x, scales, zps, mul_recip, f32, qmin, qmax, step, rmode, bits, out_codes, out_vals, out_elems
):
    """Integer elements of rows that each have one scale: q = clip(round(x / s) + z, qmin,
    qmax). Block formats pass one row per block (callers reshape; views).

    ``x`` is rows x L (float32 or float64), ``scales``/``zps`` rows x 1 (float64; zps empty
    for symmetric formats); x / s is computed as x / s or x * (1 / s), in float32 when
    ``f32`` else float64 (one rounding), exactly like the numpy path. Codes are two's
    complement (``bits`` wide); values (q - z) * s * step when ``out_vals`` is non-empty;
    the element integers q (float64) when ``out_elems`` is non-empty. Serial (it runs
    between BLAS calls in the accuracy models, whose spinning worker threads would slow a
    parallel kernel down). The loop over a whole row from index 0 vectorises (0.22-0.43 ns
    per element; a loop over a block inside a row measured 1.8 ns).
    """
    rows, length = x.shape
    has_zp = zps.shape[0] > 0
    has_vals = out_vals.shape[0] > 0
    has_elems = out_elems.shape[0] > 0
    mask = (1 << bits) - 1
    for r in range(rows):
        s = scales[r, 0]
        z = zps[r, 0] if has_zp else 0.0
        inv = 1.0 / s
        s32 = np.float32(s)
        inv32 = np.float32(1.0) / s32
        for i in range(length):
            q = _scaled_q(x[r, i], s, inv, s32, inv32, z, mul_recip, f32, qmin, qmax, rmode)
            out_codes[r, i] = np.int64(q) & mask
            if has_elems:
                out_elems[r, i] = q
            if has_vals:
                out_vals[r, i] = (q - z) * s * step

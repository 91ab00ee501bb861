"""Numba kernels: exact rounding of any real input to a binary floating-point grid.

A source value is decomposed into ``(-1)^neg * sig * 2^e2`` with an unsigned 64-bit integer
significand ``sig``; every supported input dtype (float16, bfloat16, float32, float64 and
all integer dtypes up to 64 bits) decomposes exactly, so rounding happens exactly once,
directly from the input (no double rounding through float32 or float64).

Target parameters (all integers):
    mbits    mantissa (fraction) bits M
    emin     exponent of the smallest normal binade (1 - bias for formats with a zero code)
    emax     exponent of the largest finite binade
    max_mag  largest finite magnitude code
    rmode    rounding mode, one of the RM_* constants
    subnorm  1 if subnormals exist, 0 to flush subnormal results to zero

The magnitude code of a rounded value is ``((ex - emin) << M) + q`` where ``ex = max(e, emin)``
and ``q`` is the significand in units of ``2^(ex - M)``; a carry out of the mantissa moves
into the exponent field by itself.
"""

from __future__ import annotations

import math

import numpy as np

from .jitcache import njit_cached

RM_RNE = 0  # round to nearest, ties to even
RM_RNA = 1  # round to nearest, ties away from zero
RM_RTZ = 2  # toward zero (truncate)
RM_FLOOR = 3  # toward -inf
RM_CEIL = 4  # toward +inf
RM_STOCHASTIC = 5  # up with probability (discarded fraction), 64 random bits per element

# Status values a kernel reports per element (other than a valid finite code).
ST_OK = 0
ST_OVERFLOW = 1  # rounded magnitude above the largest finite value (or +-inf input)
ST_NAN = 2  # NaN input
ST_NEGATIVE = 3  # negative nonzero input into an unsigned format

_U1 = np.uint64(1)
_U0 = np.uint64(0)
_ALL = np.uint64(0xFFFFFFFFFFFFFFFF)


@njit_cached(inline="always")
def _msb(sig):
    """Index of the most significant set bit of a nonzero uint64 (exact)."""
    if sig >> np.uint64(53):
        return math.frexp(float(sig >> np.uint64(11)))[1] - 1 + 11
    return math.frexp(float(sig))[1] - 1


@njit_cached(inline="always")
def decompose(u, width, src_mbits, sbias, emask, mmask):
    """Split raw IEEE bits ``u`` (uint64) into (neg, exponent_all_ones, fraction, sig, e2, p):
    value = (-1)^neg * sig * 2^e2 with msb index p (sig = 0 for zero; not meaningful when the
    exponent field is all ones, i.e. Inf/NaN with ``fraction`` nonzero for NaN)."""
    neg = ((u >> np.uint64(width - 1)) & _U1) == _U1
    ef = np.int64((u >> np.uint64(src_mbits)) & emask)
    mf = u & mmask
    if ef == 0:
        sig = mf
        e2 = 1 - sbias - src_mbits
        p = _msb(sig) if mf != _U0 else 0
    else:
        sig = mf | (_U1 << np.uint64(src_mbits))
        e2 = ef - sbias - src_mbits
        p = src_mbits
    return neg, ef == np.int64(emask), mf, sig, e2, p


@njit_cached(inline="always")
def special_tuple(special):
    """The 9 prepared final codes of ``_finish`` as a tuple (kept in registers)."""
    return (special[0], special[1], special[2], special[3], special[4], special[5],
            special[6], special[7], special[8])  # fmt: skip


@njit_cached(inline="always")
def round_magnitude(neg, sig, e2, p, mbits, emin, emax, max_mag, rmode, subnorm, rnd):
    """Round ``sig * 2^e2`` (msb index ``p``) to a magnitude code; returns (code, status)."""
    toward_zero = rmode == RM_RTZ or (rmode == RM_FLOOR and not neg) or (rmode == RM_CEIL and neg)
    e = p + e2
    if e > emax:
        if toward_zero:
            return max_mag, ST_OK
        return max_mag, ST_OVERFLOW
    ex = e if e > emin else emin
    shift = ex - mbits - e2
    inc = 0
    if shift <= 0:
        q = np.int64(sig << np.uint64(-shift))
    else:
        if shift < 64:
            q = np.int64(sig >> np.uint64(shift))
            rem = sig & ((_U1 << np.uint64(shift)) - _U1)
            half = _U1 << np.uint64(shift - 1)
            frac64 = rem << np.uint64(64 - shift)
        elif shift == 64:
            q = np.int64(0)
            rem = sig
            half = _U1 << np.uint64(63)
            frac64 = sig
        else:
            q = np.int64(0)
            rem = sig  # nonzero, and below half a step
            half = _ALL
            frac64 = sig >> np.uint64(shift - 64) if shift - 64 < 64 else _U0
        # increments as arithmetic on comparison results: no data-dependent branches
        if rmode == RM_RNE:
            inc = np.int64(rem > half) | (np.int64(rem == half) & (q & 1))
        elif rmode == RM_RNA:
            inc = np.int64(rem >= half)
        elif rmode == RM_FLOOR:
            inc = np.int64(neg) & np.int64(rem != _U0)
        elif rmode == RM_CEIL:
            inc = np.int64(not neg) & np.int64(rem != _U0)
        elif rmode == RM_STOCHASTIC:
            inc = np.int64(rnd < frac64)
    code = ((ex - emin) << mbits) + q + inc
    if code > max_mag:
        if toward_zero:
            return max_mag, ST_OK
        return max_mag, ST_OVERFLOW
    if subnorm == 0 and code < (1 << mbits):
        code = 0
    return code, ST_OK


@njit_cached(inline="always")
def _finish(neg, mag, st, is_inf, sp):
    """Turn (sign, magnitude code, status) into the final code; count inputs needing an error.

    ``sp`` holds final codes prepared by the caller:
    (ov_pos, ov_neg, inf_pos, inf_neg, nan_pos, nan_neg, neg_zero, sign_bit, neg_bad)
    where -1 in a NaN or neg_bad slot means "not encodable": the result is then -1 (NaN input)
    or -2 (negative input into an unsigned format) for the caller to report.
    """
    if st == ST_OK:
        if sp[7] != 0:  # signed: branch-free sign; -0 may be special (fnuz has none)
            code = mag | (sp[7] * neg)
            return code if code != sp[7] else sp[6]
        if mag == 0 or not neg:
            return mag
        return sp[8] if sp[8] >= 0 else -2
    if st == ST_OVERFLOW:
        if is_inf:
            return sp[3] if neg else sp[2]
        return sp[1] if neg else sp[0]
    return sp[5] if neg else sp[4]


@njit_cached
def _count_error(errors, code, i):
    """errors = [n_nan, first_nan_index, n_negative, first_negative_index]."""
    k = 0 if code == -1 else 2
    if errors[k] == 0:
        errors[k + 1] = i
    errors[k] += 1


@njit_cached
def encode_float_bits(
    bits,
    src_mbits,
    src_ebits,
    mbits,
    emin,
    emax,
    max_mag,
    rmode,
    subnorm,
    rnd,
    special,
    out_codes,
    lut,
    out_vals,
    errors,
):
    """Round IEEE binary floats given as raw bits (uint16/32/64 array) to final codes.

    When ``out_vals`` is non-empty, also writes ``lut[code]`` (fused quantize).
    """
    width = 1 + src_ebits + src_mbits
    sbias = (1 << (src_ebits - 1)) - 1
    emask = np.uint64((1 << src_ebits) - 1)
    mmask = np.uint64((1 << src_mbits) - 1)
    has_rnd = rnd.shape[0] > 0
    has_vals = out_vals.shape[0] > 0
    sp = special_tuple(special)
    for i in range(bits.shape[0]):
        neg, top, mf, sig, e2, p = decompose(
            np.uint64(bits[i]), width, src_mbits, sbias, emask, mmask
        )
        st = ST_OK
        mag = 0
        is_inf = False
        if top:
            st = ST_NAN if mf != _U0 else ST_OVERFLOW
            is_inf = mf == _U0
        elif sig != _U0:
            r = rnd[i] if has_rnd else _U0
            mag, st = round_magnitude(
                neg, sig, e2, p, mbits, emin, emax, max_mag, rmode, subnorm, r
            )
        code = _finish(neg, mag, st, is_inf, sp)
        if code < 0:  # error codes; arrays are not passed to helpers in this hot loop (NRT)
            _count_error(errors, code, i)
            code = 0
        out_codes[i] = code
        if has_vals:
            out_vals[i] = lut[code]


@njit_cached
def encode_integers(
    vals,
    mbits,
    emin,
    emax,
    max_mag,
    rmode,
    subnorm,
    rnd,
    special,
    out_codes,
    lut,
    out_vals,
    errors,
):
    """Round integer inputs (int64 array; any integer dtype up to 64 bits) to final codes."""
    has_rnd = rnd.shape[0] > 0
    has_vals = out_vals.shape[0] > 0
    sp = special_tuple(special)
    for i in range(vals.shape[0]):
        v = vals[i]
        neg = v < 0
        if neg:
            sig = np.uint64(-(v + 1)) + _U1
        else:
            sig = np.uint64(v)
        mag = 0
        st = ST_OK
        if sig != _U0:
            r = rnd[i] if has_rnd else _U0
            mag, st = round_magnitude(
                neg, sig, 0, _msb(sig), mbits, emin, emax, max_mag, rmode, subnorm, r
            )
        code = _finish(neg, mag, st, False, sp)
        if code < 0:  # error codes; arrays are not passed to helpers in this hot loop (NRT)
            _count_error(errors, code, i)
            code = 0
        out_codes[i] = code
        if has_vals:
            out_vals[i] = lut[code]


@njit_cached
def decode_magnitudes(mags, mbits, bias, zero_code, subnorm, out):
    """Decode magnitude codes of finite values to float64 (sign and specials handled outside).

    ``zero_code`` is 1 when exponent field 0 holds zero/subnormals, 0 when it is a normal
    binade (E8M0-style formats without zero).
    """
    mmask = (1 << mbits) - 1
    for i in range(mags.shape[0]):
        m = np.int64(mags[i])
        field = m >> mbits
        frac = m & mmask
        if field == 0 and zero_code == 1:
            if subnorm == 1:
                out[i] = math.ldexp(float(frac), 1 - bias - mbits)
            else:
                out[i] = 0.0
        else:
            out[i] = math.ldexp(float(frac + (1 << mbits)), field - bias - mbits)

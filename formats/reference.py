"""Slow, exact reference models (Python ``Fraction`` arithmetic) for checking the fast paths.

They follow the format *definitions* directly, by a different algorithm from the kernels:
values are built from the ExMy formula, and rounding is a nearest-neighbour search over the
sorted value set (plus one virtual value just past the largest finite one, which decides
overflow exactly as IEEE 754 does). Use them on small inputs only.
"""

from __future__ import annotations

import bisect
import math
from fractions import Fraction
from functools import lru_cache

from .minifloat import MinifloatFormat


def minifloat_code_value(fmt: MinifloatFormat, code: int):
    """Exact value of ``code``: a Fraction, or the strings 'nan', '+inf', '-inf' ('-0' for
    negative zero)."""
    mag_bits = fmt.ebits + fmt.mbits
    sign = (code >> mag_bits) & 1 if fmt.signed else 0
    mag = code & ((1 << mag_bits) - 1)
    field, frac = mag >> fmt.mbits, mag & ((1 << fmt.mbits) - 1)
    if fmt.specials == "fnuz" and sign and mag == 0:
        return "nan"
    if fmt.specials == "fn" and mag == (1 << mag_bits) - 1:
        return "nan"
    if fmt.specials == "ieee" and field == (1 << fmt.ebits) - 1:
        return "nan" if frac else ("-inf" if sign else "+inf")
    if field == 0:
        v = Fraction(frac, 1 << fmt.mbits) * Fraction(2) ** (1 - fmt.bias)
        if not fmt.subnormals:
            v = Fraction(0)
    else:
        v = (1 + Fraction(frac, 1 << fmt.mbits)) * Fraction(2) ** (field - fmt.bias)
    if sign:
        return "-0" if v == 0 else -v
    return v


@lru_cache(maxsize=64)
def _positive_grid(fmt: MinifloatFormat):
    """Sorted (value, magnitude code) of finite non-negative values, first code per value."""
    seen = {}
    for mag in range(1 << (fmt.ebits + fmt.mbits)):
        v = minifloat_code_value(fmt, mag)
        if isinstance(v, Fraction) and v not in seen:
            seen[v] = mag
    return tuple(sorted(seen.items()))


def minifloat_round(fmt: MinifloatFormat, x, mode: str = "rne") -> int:
    """Reference encode of one real number ``x`` (int, float or Fraction) -> code.

    Modes: rne, rna, rtz, floor, ceil. NaN/Inf inputs and NaN policies follow the format.
    """
    if isinstance(x, float) and math.isnan(x):
        if not fmt.has_nan:
            raise ValueError("NaN into a format without NaN")
        if fmt.specials == "fnuz":
            return fmt.nan_code
        neg = math.copysign(1.0, x) < 0
        return fmt.nan_code | ((1 << (fmt.ebits + fmt.mbits)) if neg else 0)
    neg = (x < 0) or (isinstance(x, float) and x == 0 and math.copysign(1.0, x) < 0)
    sign_bit = (1 << (fmt.ebits + fmt.mbits)) if (neg and fmt.signed) else 0
    grid = _positive_grid(fmt)
    values = [v for v, _ in grid]
    vmax, cmax = grid[-1]
    ulp = vmax - values[-2] if len(values) > 1 else vmax
    virtual = vmax + ulp  # the next value the format would have (overflow marker)
    if isinstance(x, float) and math.isinf(x):
        a = None
    else:
        a = abs(Fraction(x))
    if a is None:
        if fmt.has_inf:
            return fmt.inf_code | sign_bit
        return _overflow(fmt, cmax, sign_bit)
    toward_zero = mode == "rtz" or (mode == "floor" and not neg) or (mode == "ceil" and neg)
    away = (mode == "floor" and neg) or (mode == "ceil" and not neg)
    if a > vmax:
        lo, lo_code, hi, hi_code = vmax, cmax, virtual, cmax + 1
    else:
        i = bisect.bisect_left(values, a)
        if values[i] == a:
            return _with_sign(fmt, grid[i][1], sign_bit)
        lo, lo_code = grid[i - 1]
        hi, hi_code = grid[i]
    if toward_zero:
        pick_hi = False
    elif away:
        pick_hi = True
    else:
        d_lo, d_hi = a - lo, hi - a
        if d_lo != d_hi:
            pick_hi = d_hi < d_lo
        elif mode == "rna":
            pick_hi = True
        else:  # rne: the candidate with an even code
            pick_hi = hi_code % 2 == 0
    if pick_hi and hi == virtual:
        return _overflow(fmt, cmax, sign_bit)
    return _with_sign(fmt, hi_code if pick_hi else lo_code, sign_bit)


def _with_sign(fmt, mag, sign_bit):
    if mag == 0 and fmt.specials == "fnuz":
        return 0
    return mag | sign_bit


def _overflow(fmt, cmax, sign_bit):
    if fmt.overflow == "saturate":
        return cmax | sign_bit
    if fmt.overflow == "inf":
        return fmt.inf_code | sign_bit
    if fmt.specials == "fnuz":
        return fmt.nan_code
    return fmt.nan_code | sign_bit

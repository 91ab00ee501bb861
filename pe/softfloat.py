"""Exact floating-point arithmetic from integer (sign, significand, exponent) triples.

The step models use these pure functions: every operation is computed exactly with Python
integers and rounded once, RNE, to a target binary format `FloatSpec` (IEEE-style layout,
overflow to +-Inf, optional flush-to-zero of subnormal inputs and results, as DesignWare's
`ieee_compliance = 0` mode does: LUT Tensor Core RTL, Mo et al., ISCA 2025; docs/pe_models.md).

A value is carried as a float64 (all formats here are subsets of float64), but no float64
arithmetic is used to compute results.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class FloatSpec:
    """Binary floating-point format: `mbits` fraction bits, normal exponents emin..emax.

    ftz: subnormal inputs are read as zero and results below 2^emin (after rounding) flush
    to zero, keeping the sign.
    """

    mbits: int
    emin: int
    emax: int
    ftz: bool = False
    name: str = ""

    @property
    def max_finite(self) -> float:
        """Largest finite value, (2 - 2^-mbits) * 2^emax."""
        return math.ldexp(2.0 - math.ldexp(1.0, -self.mbits), self.emax)

    def as_array(self):
        """(mbits, emin, max_finite, ftz) for the numba kernels."""
        import numpy as np

        return np.array([self.mbits, self.emin, self.max_finite, float(self.ftz)])

    @property
    def min_normal(self) -> float:
        return math.ldexp(1.0, self.emin)


def ieee_spec(ebits: int, mbits: int, ftz: bool = False, name: str = "") -> FloatSpec:
    """IEEE-style format with the given field widths (top exponent code reserved)."""
    bias = (1 << (ebits - 1)) - 1
    return FloatSpec(mbits, 1 - bias, (1 << ebits) - 2 - bias, ftz, name or f"e{ebits}m{mbits}")


FP16 = ieee_spec(5, 10, name="fp16")
FP32 = ieee_spec(8, 23, name="fp32")
BF16 = ieee_spec(8, 7, name="bf16")


def split(x: float) -> tuple[int, int, int]:
    """Exact (sign, significand, exponent) of a finite float: x = (-1)^s * sig * 2^exp."""
    if x == 0.0:
        return (1 if math.copysign(1.0, x) < 0 else 0), 0, 0
    num, den = abs(x).as_integer_ratio()  # den is a power of two
    return (1 if x < 0 else 0), num, -(den.bit_length() - 1)


def flush_input(x: float, spec: FloatSpec) -> float:
    """Denormals-are-zero on an input when the spec flushes."""
    if spec.ftz and x != 0.0 and abs(x) < spec.min_normal:
        return math.copysign(0.0, x)
    return x


def round_triple(sign: int, sig: int, exp: int, spec: FloatSpec) -> float:
    """Round (-1)^sign * sig * 2^exp to `spec` with RNE; overflow -> +-inf."""
    if sig == 0:
        return -0.0 if sign else 0.0
    top = exp + sig.bit_length() - 1  # exponent of the leading one
    q = max(top, spec.emin) - spec.mbits  # exponent of one unit in the last place
    if exp >= q:
        r, rq = sig, exp
    else:
        sh = q - exp
        r = sig >> sh
        rem = sig - (r << sh)
        half = 1 << (sh - 1)
        if rem > half or (rem == half and r & 1):
            r += 1
        rq = q
    val = math.ldexp(float(r), rq) if r.bit_length() <= 53 else math.inf
    if val > spec.max_finite:
        val = math.inf
    elif spec.ftz and val < spec.min_normal:
        val = 0.0
    return -val if sign else val


def add_triples(a: tuple[int, int, int], b: tuple[int, int, int]) -> tuple[int, int, int]:
    """Exact sum of two triples."""
    (sa, ma, ea), (sb, mb, eb) = a, b
    e = min(ea, eb)
    va = (ma << (ea - e)) * (-1 if sa else 1)
    vb = (mb << (eb - e)) * (-1 if sb else 1)
    v = va + vb
    if v == 0:  # exact zero: +0 in RNE unless both operands are -0
        return (1 if (sa and sb and ma == 0 and mb == 0) else 0), 0, 0
    return (1 if v < 0 else 0), abs(v), e


def mul_triples(a: tuple[int, int, int], b: tuple[int, int, int]) -> tuple[int, int, int]:
    """Exact product of two triples."""
    return a[0] ^ b[0], a[1] * b[1], a[2] + b[2]


def fp_round(x: float, spec: FloatSpec) -> float:
    """Round a float64 value to `spec` (RNE, FTZ if set)."""
    if not math.isfinite(x):  # inf and NaN pass through
        return x
    return round_triple(*split(x), spec)


def fp_mul(a: float, b: float, spec: FloatSpec) -> float:
    """a * b rounded once to `spec` (inf / NaN operands: IEEE special cases via float64)."""
    if not (math.isfinite(a) and math.isfinite(b)):
        return a * b
    return round_triple(*mul_triples(split(a), split(b)), spec)


def fp_add(a: float, b: float, spec: FloatSpec) -> float:
    """a + b rounded once to `spec` (inputs flushed first when the spec flushes)."""
    if not (math.isfinite(a) and math.isfinite(b)):  # inf - inf = NaN; NaN propagates
        return a + b
    a, b = flush_input(a, spec), flush_input(b, spec)
    return round_triple(*add_triples(split(a), split(b)), spec)


def fp_fma(a: float, b: float, c: float, spec: FloatSpec) -> float:
    """a * b + c rounded once to `spec` (fused multiply-add)."""
    if not (math.isfinite(a) and math.isfinite(b) and math.isfinite(c)):
        return a * b + c
    c = flush_input(c, spec)
    return round_triple(*add_triples(mul_triples(split(a), split(b)), split(c)), spec)

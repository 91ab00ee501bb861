"""Exponent-only unsigned formats such as OCP E8M0, the MX shared scale.

Code c in 0 .. 2^E - 2 encodes 2^(c - bias); the all-ones code is NaN. There is no zero, no
sign and no Inf (OCP MX v1.0 section 5.4.1; ml_dtypes ``float8_e8m0fnu``).

Encoding rounds to the nearest power of two on the *linear* significand, ties up (1.5 -> 2),
the ml_dtypes behaviour; this is RNE of an M=0 float, so rounding="rne" is that default, and
"floor"/"rtz" give floor(log2 x), "ceil" gives ceil(log2 x). Values below the smallest
power clamp to code 0; zero, negatives, NaN and Inf give the NaN code (as ml_dtypes does) or
raise with invalid="error"; results above the largest power give NaN (overflow="nan") or
saturate.

Inputs strictly between 2^-127 and 2^-126 (float32 subnormals) round to the nearest power
like every other input, as ml_dtypes >= 0.7 does. ``ml_dtypes_0_6_round_up=True`` (off by
default, also in the ``e8m0`` preset) reproduces ml_dtypes <= 0.6, which rounds all of them
*up* to 2^-126; everywhere else the two rules agree.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from .base import (
    ElementFormat,
    FormatError,
    as_real_array,
    canonical_rounding,
    check_codes,
    check_int,
)
from .minifloat import MinifloatFormat


@dataclass(frozen=True)
class ExponentFormat(ElementFormat):
    """Unsigned power-of-two format with ``ebits`` bits (E8M0 for ebits=8, bias=127)."""

    ebits: int = 8
    bias: int | None = None
    rounding: str = "rne"
    overflow: str = "nan"
    invalid: str = "nan"
    ml_dtypes_0_6_round_up: bool = False
    name: str = ""

    def __post_init__(self):
        where = self.name or f"e{self.ebits}m0"
        object.__setattr__(self, "name", where)
        object.__setattr__(self, "ebits", check_int(self.ebits, where, "ebits", 1, 8))
        if self.bias is None:
            object.__setattr__(self, "bias", (1 << (self.ebits - 1)) - 1)
        object.__setattr__(self, "bias", check_int(self.bias, where, "bias", -(1 << 10), 1 << 10))
        if self.overflow not in ("nan", "saturate"):
            raise FormatError(f"{where}: overflow must be 'nan' or 'saturate'")
        if self.invalid not in ("nan", "error"):
            raise FormatError(f"{where}: invalid must be 'nan' or 'error'")
        object.__setattr__(self, "rounding", canonical_rounding(self.rounding, where))
        if self.rounding == "stochastic":
            raise FormatError(f"{where}: stochastic rounding is not offered for scale formats")

    @property
    def bits(self) -> int:
        return self.ebits

    @property
    def nan_code(self) -> int:
        return (1 << self.ebits) - 1

    @property
    def min_exponent(self) -> int:
        """Exponent of code 0."""
        return -self.bias

    @property
    def max_exponent(self) -> int:
        """Exponent of the largest finite code."""
        return (1 << self.ebits) - 2 - self.bias

    @property
    def max_value(self) -> float:
        return float(np.ldexp(1.0, self.max_exponent))

    @property
    def min_value(self) -> float:
        return float(np.ldexp(1.0, self.min_exponent))

    @cached_property
    def _wide(self) -> MinifloatFormat:
        # An unsigned M=0 minifloat with one more exponent bit, field f = code + 1 and bias + 1:
        # the same powers of two and more, so the exact rounding kernel is reused; f = 0 means
        # "below the smallest power" (clamped to code 0) and f - 1 > the largest code overflows.
        return MinifloatFormat(
            self.ebits + 1,
            0,
            bias=self.bias + 1,
            specials="none",
            overflow="saturate",
            rounding=self.rounding,
            signed=False,
            nan="zero",
            negative="zero",
            name=self.name,
        )

    def encode(self, x) -> np.ndarray:
        arr = as_real_array(x, self.name)
        codes = np.maximum(self._wide.encode(arr).astype(np.int64) - 1, 0)
        top = (1 << self.ebits) - 2
        big = codes > top
        if big.any():
            codes = np.where(big, self.nan_code if self.overflow == "nan" else top, codes)
        value = arr.astype(np.float64)
        if self.ml_dtypes_0_6_round_up and self.rounding == "rne":
            lo, hi = np.ldexp(1.0, self.min_exponent), np.ldexp(1.0, self.min_exponent + 1)
            codes = np.where((value > lo) & (value < hi), 1, codes)
        invalid = ~(value > 0) | np.isinf(value)
        if invalid.any():
            if self.invalid == "error":
                i = int(np.flatnonzero(invalid.reshape(-1))[0])
                raise FormatError(
                    f"{self.name}: input at flat index {i} is zero, negative or not finite; "
                    "a power-of-two scale has no such value"
                )
            codes = np.where(invalid, self.nan_code, codes)
        return codes.astype(np.uint8)

    def exponent_of(self, codes) -> np.ndarray:
        """Codes -> integer exponents (int64); the NaN code is rejected."""
        c = check_codes(codes, self.bits, self.name)
        if c.size and c.max() == self.nan_code:
            raise FormatError(f"{self.name}: the NaN code has no exponent")
        return c - self.bias

    def decode(self, codes) -> np.ndarray:
        c = check_codes(codes, self.bits, self.name)
        return self._decode_valid(c)

    def _decode_valid(self, codes: np.ndarray) -> np.ndarray:
        out = np.ldexp(1.0, (codes - self.bias).astype(np.int64))
        return np.where(codes == self.nan_code, np.nan, out)

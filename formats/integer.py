"""Two's-complement and unsigned integers (optionally fixed point), and bipolar-INT."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._block_kernels import scaled_int_rows
from .base import (
    ElementFormat,
    FormatError,
    as_real_array,
    canonical_rounding,
    check_codes,
    check_int,
    code_dtype,
)
from .rounding import round_to_integer

OVERFLOWS = ("saturate", "wrap", "error")


@dataclass(frozen=True)
class IntFormat(ElementFormat):
    """``bits``-bit integer; value = integer * 2^-frac_bits.

    Codes are the two's-complement bit pattern (signed) or the plain value (unsigned).

    Parameters:
        bits: 1..32.
        signed: two's complement if True.
        symmetric: signed only; restricted range [-(2^(n-1)-1), 2^(n-1)-1] (code 2^(n-1) unused).
        frac_bits: fixed-point fraction bits (e.g. 6 for the OCP MXINT8 element).
        rounding: "rne" (default), "rna", "rtz", "floor", "ceil", "stochastic".
        overflow: "saturate" (default, clamp), "wrap" (two's-complement wrap, like a C cast of
            the rounded value) or "error".
        nan: NaN input: "error" (default) or "zero".
        seed: stochastic-rounding seed (fresh generator per call).
    """

    bits: int
    signed: bool = True
    symmetric: bool = False
    frac_bits: int = 0
    rounding: str = "rne"
    overflow: str = "saturate"
    nan: str = "error"
    seed: int | None = None
    name: str = ""

    def __post_init__(self):
        default = f"{'int' if self.signed else 'uint'}{self.bits}"
        where = self.name or default
        object.__setattr__(self, "name", where)
        object.__setattr__(self, "bits", check_int(self.bits, where, "bits", 1, 32))
        if self.symmetric and not self.signed:
            raise FormatError(f"{where}: symmetric (restricted) range needs a signed format")
        if self.symmetric and self.bits < 2:
            raise FormatError(f"{where}: a symmetric signed format needs at least 2 bits")
        if self.overflow not in OVERFLOWS:
            raise FormatError(
                f"{where}: overflow must be one of {OVERFLOWS}, got {self.overflow!r}"
            )
        if self.overflow == "wrap" and self.symmetric:
            raise FormatError(f"{where}: overflow='wrap' cannot keep the restricted range")
        if self.nan not in ("error", "zero"):
            raise FormatError(f"{where}: nan must be 'error' or 'zero', got {self.nan!r}")
        object.__setattr__(
            self, "frac_bits", check_int(self.frac_bits, where, "frac_bits", -63, 63)
        )
        object.__setattr__(self, "rounding", canonical_rounding(self.rounding, where))

    @property
    def qmin(self) -> int:
        """Smallest integer (code value before the fixed-point scale)."""
        if not self.signed:
            return 0
        return -(1 << (self.bits - 1)) + (1 if self.symmetric else 0)

    @property
    def qmax(self) -> int:
        """Largest integer."""
        return (1 << (self.bits - (1 if self.signed else 0))) - 1

    @property
    def step(self) -> float:
        """Value of one integer step, 2^-frac_bits."""
        return float(np.ldexp(1.0, -self.frac_bits))

    @property
    def max_value(self) -> float:
        return self.qmax * self.step

    @property
    def min_value(self) -> float:
        return self.qmin * self.step

    def to_int(self, x) -> np.ndarray:
        """Round ``x`` to the integer grid (int64, before two's-complement coding)."""
        arr = as_real_array(x, self.name)
        if arr.dtype.kind in "iu" and self.frac_bits <= 0 and self.rounding != "stochastic":
            return self._range_int(self._int_input(arr))
        v = np.ldexp(arr.astype(np.float64), self.frac_bits)
        nan = np.isnan(v)
        if nan.any():
            if self.nan == "error":
                i = int(np.flatnonzero(nan.reshape(-1))[0])
                raise FormatError(
                    f"{self.name}: NaN input (first at flat index {i}) but integers have no NaN; "
                    "pass nan='zero' to map NaN to 0"
                )
            v = np.where(nan, 0.0, v)
        r = round_to_integer(v, self.rounding, self.seed)
        if self.overflow == "wrap":
            if np.isinf(r).any():
                raise FormatError(f"{self.name}: cannot wrap an infinite input")
            span = float(1 << self.bits)
            w = np.fmod(r, span)  # exact
            w = np.where(w < 0, w + span, w).astype(np.int64)
            if self.signed:
                w = np.where(w >= (1 << (self.bits - 1)), w - (1 << self.bits), w)
            return w
        if self.overflow == "error":
            self._check_range(r)
        return np.clip(r, self.qmin, self.qmax).astype(np.int64)

    def _int_input(self, arr: np.ndarray) -> np.ndarray:
        if arr.dtype == np.uint64 and arr.size and arr.max() > np.iinfo(np.int64).max:
            if self.overflow == "error":
                raise FormatError(f"{self.name}: input {int(arr.max())} out of range")
            arr = np.minimum(arr, np.uint64(np.iinfo(np.int64).max))
        ints = arr.astype(np.int64)
        if self.frac_bits < 0:  # coarser grid: integers must still be rounded
            return self._round_coarse(ints)
        return ints

    def _round_coarse(self, ints: np.ndarray) -> np.ndarray:
        # value = q * 2^-frac with frac < 0: round ints / 2^|frac| exactly via float64 when safe
        if ints.size and np.abs(ints).max() >= 1 << 53:
            raise FormatError(f"{self.name}: integer inputs beyond 2^53 with frac_bits < 0")
        return round_to_integer(np.ldexp(ints.astype(np.float64), self.frac_bits), self.rounding)

    def _range_int(self, q: np.ndarray) -> np.ndarray:
        q = np.asarray(q)
        if self.overflow == "wrap":
            w = np.asarray(q, dtype=np.int64) & ((1 << self.bits) - 1)
            if self.signed:
                w = np.where(w >= (1 << (self.bits - 1)), w - (1 << self.bits), w)
            return w
        if self.overflow == "error":
            self._check_range(q)
        return np.clip(q, self.qmin, self.qmax).astype(np.int64)

    def _check_range(self, q: np.ndarray) -> None:
        bad = (q < self.qmin) | (q > self.qmax)
        if np.any(bad):
            i = int(np.flatnonzero(np.reshape(bad, -1))[0])
            val = np.reshape(q, -1)[i]
            raise FormatError(
                f"{self.name}: input rounds to {val} (flat index {i}), outside the integer range "
                f"[{self.qmin}, {self.qmax}]"
            )

    def encode(self, x) -> np.ndarray:
        """Round to the grid and return codes (two's complement for signed formats)."""
        fast = self._fast(x, with_values=False)
        if fast is not None:
            return fast[0]
        q = self.to_int(x)
        return (q & ((1 << self.bits) - 1)).astype(code_dtype(self.bits))

    def quantize(self, x) -> np.ndarray:
        fast = self._fast(x, with_values=True)
        if fast is not None:
            return fast[1]
        return self.to_int(x) * self.step

    def _fast(self, x, with_values: bool):
        """One numba pass for finite float input with saturation (else None: numpy path)."""
        rmode = {"rne": 0, "rna": 1, "rtz": 2, "floor": 3, "ceil": 4}.get(self.rounding)
        arr = np.asarray(x)
        if rmode is None or self.overflow != "saturate" or arr.dtype.kind != "f":
            return None
        if arr.dtype not in (np.float32, np.float64):
            arr = arr.astype(np.float64)
        flat = np.ascontiguousarray(arr).reshape(1, -1)
        if not np.isfinite(flat).all():
            return None
        codes = np.empty(flat.shape, dtype=code_dtype(self.bits))
        vals = np.empty(flat.shape if with_values else (0, 0), dtype=np.float64)
        # x * 2^frac_bits is exact: pass the scale 2^-frac_bits, value step 2^-frac_bits
        scale = np.full((1, 1), np.ldexp(1.0, -self.frac_bits))
        scaled_int_rows(
            flat, scale, np.empty((0, 0)), False, False,
            float(self.qmin), float(self.qmax), 1.0, rmode, self.bits, codes, vals,
            np.empty((0, 0)),
        )  # fmt: skip
        return codes.reshape(arr.shape), (vals.reshape(arr.shape) if with_values else None)

    def int_from_codes(self, codes) -> np.ndarray:
        """Codes -> integers (int64); restricted formats reject the unused code."""
        c = check_codes(codes, self.bits, self.name)
        if not self.signed:
            return c
        half = 1 << (self.bits - 1)
        q = np.bitwise_xor(c, half)  # two's-complement sign extension: (c ^ h) - h
        q -= half
        if self.symmetric and q.size and q.min() < self.qmin:
            raise FormatError(f"{self.name}: code {half} is unused in the restricted range")
        return q

    def decode(self, codes) -> np.ndarray:
        return self.int_from_codes(codes) * self.step

    def _decode_valid(self, codes: np.ndarray) -> np.ndarray:
        q = np.where(
            self.signed & (codes >= (1 << (self.bits - 1))), codes - (1 << self.bits), codes
        )
        v = q * self.step
        if self.symmetric:
            v = np.where(q < self.qmin, np.nan, v)
        return v

    def representable(self, x) -> np.ndarray:
        arr = as_real_array(x, self.name).astype(np.float64)
        q = np.ldexp(arr, self.frac_bits)
        return (np.floor(q) == q) & (q >= self.qmin) & (q <= self.qmax)

    def grid(self) -> np.ndarray:
        return np.arange(self.qmin, self.qmax + 1, dtype=np.float64) * self.step


@dataclass(frozen=True)
class BipolarFormat(ElementFormat):
    """Bipolar-INT: each of the n bits b_i stands for (2*b_i - 1) * 2^i.

    Code u (the bit pattern as an unsigned integer) has value 2u - (2^n - 1): the odd
    integers in [-(2^n - 1), 2^n - 1], 2^n levels, no zero, symmetric (arXiv 2409.17870).
    Rounding picks the nearest odd integer; ties (even integers) follow ``rounding`` applied
    to u, so "rne" sends them to the even code.
    """

    bits: int
    rounding: str = "rne"
    nan: str = "error"
    seed: int | None = None
    name: str = ""

    def __post_init__(self):
        where = self.name or f"bipolar{self.bits}"
        object.__setattr__(self, "name", where)
        object.__setattr__(self, "bits", check_int(self.bits, where, "bits", 1, 32))
        if self.nan not in ("error", "zero"):
            raise FormatError(f"{where}: nan must be 'error' or 'zero'")
        object.__setattr__(self, "rounding", canonical_rounding(self.rounding, where))

    @property
    def max_value(self) -> float:
        return float((1 << self.bits) - 1)

    @property
    def min_value(self) -> float:
        return -self.max_value

    def encode(self, x) -> np.ndarray:
        arr = as_real_array(x, self.name)  # integers beyond 2^53 saturate, so float64 is exact
        return self._round_float(arr.astype(np.float64)).astype(code_dtype(self.bits))

    def _round_float(self, v: np.ndarray) -> np.ndarray:
        """Codes of float64 ``v``, rounded once and exactly (no ``fl(v + top) / 2`` step).

        With f = floor(v) and d = v - f (both exact), u = (v + top) / 2 = g + d / 2 where
        g = (f + top) / 2 is an exact integer or half-integer. Every mode but stochastic only
        needs to know whether d > 0, so u is rounded through g + 0.25 * (d > 0), which lies in
        the same open interval between consecutive integers and on the same side of their
        midpoint as u (a tie exactly when g is a half-integer and d = 0).
        """
        nan = np.isnan(v)
        if nan.any():
            if self.nan == "error":
                i = int(np.flatnonzero(nan.reshape(-1))[0])
                raise FormatError(f"{self.name}: NaN input (first at flat index {i})")
            v = np.where(nan, 0.0, v)
        top = (1 << self.bits) - 1
        shape, v = np.shape(v), np.reshape(v, -1)  # 1-D: in-place steps below need arrays
        f = np.floor(v)
        with np.errstate(invalid="ignore"):  # +-inf: d is NaN, g is +-inf and saturates
            d = v - f  # exact, in [0, 1)
        g = (f + top) * 0.5  # exact for |v| < 2^53; beyond, every result saturates anyway
        if self.rounding == "stochastic":  # up with probability frac(u) = frac(g) + d / 2
            fl = np.floor(g)
            r2 = 2.0 * np.random.default_rng(self.seed).random(v.shape)  # exact
            with np.errstate(invalid="ignore"):  # +-inf: no increment, saturates below
                u = fl + ((r2 - 2.0 * (g - fl)) < d)  # both sides exact
        else:
            with np.errstate(invalid="ignore"):
                np.ceil(d, out=d)  # 1 where d > 0, else 0 (NaN for +-inf input)
            np.fmax(d, 0.0, out=d)  # NaN -> 0
            d *= 0.25
            g += d
            u = round_to_integer(g, self.rounding)
        return np.clip(u, 0.0, float(top), out=u).astype(np.int64).reshape(shape)

    def decode(self, codes) -> np.ndarray:
        c = check_codes(codes, self.bits, self.name)
        return (2 * c - ((1 << self.bits) - 1)).astype(np.float64)

    def _decode_valid(self, codes: np.ndarray) -> np.ndarray:
        return (2 * codes - ((1 << self.bits) - 1)).astype(np.float64)

    def grid(self) -> np.ndarray:
        return np.arange(-self.max_value, self.max_value + 1, 2.0)


def int_to_bipolar(q, bits: int) -> np.ndarray:
    """Signed n-bit integers -> bipolar-INT codes, losslessly: value 2q + 1, pattern = q's
    two's-complement pattern with the MSB flipped (offset binary, u = q + 2^(n-1))."""
    q = np.asarray(q, dtype=np.int64)
    lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    if q.size and (q.min() < lo or q.max() > hi):
        raise FormatError(f"int_to_bipolar: values must lie in [{lo}, {hi}] for {bits} bits")
    return (q + (1 << (bits - 1))).astype(code_dtype(bits))


def bipolar_to_int(u, bits: int) -> np.ndarray:
    """Inverse of ``int_to_bipolar``: bipolar codes -> signed integers q with value 2q + 1."""
    c = check_codes(u, bits, f"bipolar{bits}")
    return c - (1 << (bits - 1))


def bipolar_affine(scale, zero_point):
    """Rewrite W = s*q + z (signed INT q) as W = (s/2)*b + (z - s/2) with b = 2q + 1 bipolar."""
    s = np.asarray(scale, dtype=np.float64)
    return s / 2.0, np.asarray(zero_point, dtype=np.float64) - s / 2.0

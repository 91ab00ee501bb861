"""Look-up-table (codebook) formats: any list of values, one per code.

Quantization picks the nearest value by searching sorted decision thresholds (midpoints by
default, or literal thresholds to reproduce a reference bit for bit); an input exactly on a
threshold goes to the side named by ``tie``. Inputs beyond the ends clamp to the end values.

Default midpoints are decided exactly for float64 input: the rational midpoint (a + b) / 2
of two table values is kept as the pair of float64 numbers around it, so an input one ulp on
either side of a midpoint that float64 cannot hold goes to its truly nearer value (only a
midpoint that float64 holds exactly is a tie).
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from functools import cached_property

import numpy as np

from .base import ElementFormat, FormatError, as_real_array, check_codes, code_dtype

TIES = ("lower", "upper", "toward_zero", "away")


@dataclass(frozen=True)
class CodebookFormat(ElementFormat):
    """A format defined by its value table.

    Parameters:
        table: value of each code 0 .. len-1 (len must be a power of two); duplicates allowed
            (e.g. +0/-0); the lowest code of a value is the one encode returns.
        name: preset name.
        tie: "lower" (toward -inf; bitsandbytes and BitMoD), "upper", "toward_zero", "away".
        thresholds: optional sorted decision thresholds between consecutive distinct values
            (len = distinct - 1); default midpoints.
        nan: NaN input: "error" (default) or "zero" (the code of 0, which must exist).
        source: where the table comes from (citation).
        threshold_dtype: "float64" (default) or "float32": literal thresholds are float32
            constants of the reference kernel (bitsandbytes NF4), so float32 (and narrower)
            input is compared with them rounded to float32, float64 input with the float64
            values.
    """

    table: tuple
    name: str = "codebook"
    tie: str = "toward_zero"
    thresholds: tuple | None = None
    nan: str = "error"
    source: str = ""
    threshold_dtype: str = "float64"

    def __post_init__(self):
        t = np.asarray(self.table, dtype=np.float64)
        n = t.size
        if n < 2 or n & (n - 1):
            raise FormatError(f"{self.name}: the table needs a power-of-two size >= 2, got {n}")
        if not np.all(np.isfinite(t)):
            raise FormatError(f"{self.name}: table values must be finite")
        if self.tie not in TIES:
            raise FormatError(f"{self.name}: tie must be one of {TIES}, got {self.tie!r}")
        if self.nan not in ("error", "zero"):
            raise FormatError(f"{self.name}: nan must be 'error' or 'zero'")
        if self.nan == "zero" and not np.any(t == 0):
            raise FormatError(f"{self.name}: nan='zero' needs a zero value in the table")
        if self.threshold_dtype not in ("float64", "float32"):
            raise FormatError(f"{self.name}: threshold_dtype must be 'float64' or 'float32'")
        if self.threshold_dtype == "float32" and self.thresholds is None:
            raise FormatError(f"{self.name}: threshold_dtype='float32' needs literal thresholds")
        object.__setattr__(self, "table", tuple(float(v) for v in t))
        k = self._sorted.size
        if self.thresholds is not None:
            th = np.asarray(self.thresholds, dtype=np.float64)
            if th.size != k - 1:
                raise FormatError(
                    f"{self.name}: {k} distinct values need {k - 1} thresholds, got {th.size}"
                )
            s = self._sorted
            if np.any(np.diff(th) <= 0) or np.any(th <= s[:-1]) or np.any(th >= s[1:]):
                raise FormatError(f"{self.name}: thresholds must increase and separate the values")
            t32 = np.asarray(th, dtype=np.float32).astype(np.float64)
            if self.threshold_dtype == "float32" and (
                np.any(np.diff(t32) <= 0) or np.any(t32 <= s[:-1]) or np.any(t32 >= s[1:])
            ):
                raise FormatError(f"{self.name}: thresholds rounded to float32 must still separate")
            object.__setattr__(self, "thresholds", tuple(float(v) for v in th))

    @property
    def bits(self) -> int:
        return int(len(self.table)).bit_length() - 1

    @cached_property
    def _sorted(self) -> np.ndarray:
        return np.unique(np.asarray(self.table) + 0.0)

    @cached_property
    def _code_of_sorted(self) -> np.ndarray:
        t = np.asarray(self.table) + 0.0
        return np.array([int(np.flatnonzero(t == v)[0]) for v in self._sorted], dtype=np.int64)

    @cached_property
    def _cuts(self) -> tuple[np.ndarray, np.ndarray]:
        """(cuts for side='left', cuts for side='right'): equal where the decision value is a
        float64; around an inexact midpoint m, the float64 just below m (left) and just above
        (right), so no float64 input is a tie there and each goes to its nearer value."""
        if self.thresholds is not None:
            th = np.asarray(self.thresholds)
            return th, th
        s = self._sorted
        left, right = [], []
        for a, b in zip(s[:-1], s[1:], strict=True):
            m = (Fraction(float(a)) + Fraction(float(b))) / 2
            r = float(m)  # nearest float64
            if Fraction(r) == m:
                left.append(r)
                right.append(r)
                continue
            down = r if Fraction(r) < m else float(np.nextafter(r, -np.inf))
            left.append(down)
            right.append(float(np.nextafter(down, np.inf)))
        return np.asarray(left), np.asarray(right)

    @cached_property
    def _cuts32(self) -> np.ndarray:
        return np.asarray(self.thresholds, dtype=np.float32).astype(np.float64)

    def encode(self, x) -> np.ndarray:
        arr = as_real_array(x, self.name)
        narrow = arr.dtype.kind == "f" and arr.dtype.itemsize <= 4
        v = arr.astype(np.float64)
        nan = np.isnan(v)
        if nan.any():
            if self.nan == "error":
                i = int(np.flatnonzero(nan.reshape(-1))[0])
                raise FormatError(
                    f"{self.name}: NaN input (first at flat index {i}) but the codebook has no "
                    "NaN; pass nan='zero' to map NaN to 0"
                )
            v = np.where(nan, 0.0, v)
        if self.threshold_dtype == "float32" and narrow:
            cuts_l = cuts_r = self._cuts32
        else:
            cuts_l, cuts_r = self._cuts
        if self.tie == "lower":
            idx = np.searchsorted(cuts_l, v, side="left")
        elif self.tie == "upper":
            idx = np.searchsorted(cuts_r, v, side="right")
        else:
            lo = np.searchsorted(cuts_l, v, side="left")
            hi = np.searchsorted(cuts_r, v, side="right")
            to_zero = (v > 0) if self.tie == "toward_zero" else (v < 0)
            idx = np.where(to_zero, lo, hi)
        return self._code_of_sorted[idx].astype(code_dtype(self.bits))

    def decode(self, codes) -> np.ndarray:
        return np.asarray(self.table)[check_codes(codes, self.bits, self.name)]

    def _decode_valid(self, codes: np.ndarray) -> np.ndarray:
        return np.asarray(self.table)[codes]

    def grid(self) -> np.ndarray:
        return self._sorted.copy()


def sign_magnitude_table(magnitudes, neg_zero_value: float | None = None) -> tuple:
    """Table for a sign-magnitude code: codes 0..k-1 are +magnitudes, k..2k-1 negatives.

    ``neg_zero_value`` replaces the value of the -0 code (BitMoD's special values).
    """
    m = [float(v) for v in magnitudes]
    neg = [-v for v in m]
    if neg_zero_value is not None:
        if m[0] != 0:
            raise FormatError("the -0 slot exists only when magnitude code 0 is zero")
        neg[0] = float(neg_zero_value)
    return tuple(m + neg)


def pot_table(bits: int, zero: bool = True, emax: int = 0) -> tuple:
    """Sign + (bits-1)-bit power-of-two magnitudes, largest 2^emax.

    With zero: magnitudes {0, 2^(emax-k+1) .. 2^emax} (DeepShift-style, k = 2^(bits-1) - 1
    powers); zero-free (DenseShift): 2^(bits-1) powers 2^(emax-2^(bits-1)+1) .. 2^emax.
    """
    if bits < 2:
        raise FormatError("power-of-two formats need a sign bit and at least one magnitude bit")
    k = 1 << (bits - 1)
    if zero:
        mags = [0.0] + [float(2.0 ** (emax - (k - 1) + i)) for i in range(1, k)]
    else:
        mags = [float(2.0 ** (emax - (k - 1) + i)) for i in range(k)]
    return sign_magnitude_table(mags)


def log_domain_thresholds(table: tuple) -> tuple:
    """Decision thresholds rounding in log2 domain between powers (geometric means), and at
    half the smallest magnitude next to zero (DeepShift rounds log2|w|)."""
    s = np.unique(np.asarray(table) + 0.0)
    cuts = []
    for a, b in zip(s[:-1], s[1:], strict=True):
        if a < 0 < b or a == 0 or b == 0:
            cuts.append((a + b) / 2.0)
        else:
            g = _sqrt_toward_zero(abs(float(a)), abs(float(b)))
            cuts.append(g if a > 0 else -g)
    return tuple(cuts)


def _sqrt_toward_zero(a: float, b: float) -> float:
    """Largest float64 <= sqrt(a * b) (a, b > 0), decided exactly: the geometric mean of two
    powers of two is usually irrational, and with the default tie toward zero an input on the
    rounded-down cut then goes to the truly nearer (log-domain) value."""
    g = (
        float(np.sqrt(a * b))
        if np.isfinite(a * b) and a * b > 0
        else float(np.sqrt(a) * np.sqrt(b))
    )
    while Fraction(g) ** 2 > Fraction(a) * Fraction(b):
        g = float(np.nextafter(g, 0.0))
    while Fraction(float(np.nextafter(g, np.inf))) ** 2 <= Fraction(a) * Fraction(b):
        g = float(np.nextafter(g, np.inf))
    return g

"""Look-up-table (codebook) formats: any list of values, one per code.

Quantization picks the nearest value by searching sorted decision thresholds (midpoints by
default, or literal thresholds to reproduce a reference bit for bit); an input exactly on a
threshold goes to the side named by ``tie``. Inputs beyond the ends clamp to the end values.
"""

from __future__ import annotations

from dataclasses import dataclass
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
    """

    table: tuple
    name: str = "codebook"
    tie: str = "toward_zero"
    thresholds: tuple | None = None
    nan: str = "error"
    source: str = ""

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
    def _cuts(self) -> np.ndarray:
        if self.thresholds is not None:
            return np.asarray(self.thresholds)
        s = self._sorted
        return s[:-1] + (s[1:] - s[:-1]) / 2.0  # exact midpoint unless the gap overflows

    def encode(self, x) -> np.ndarray:
        v = as_real_array(x, self.name).astype(np.float64)
        nan = np.isnan(v)
        if nan.any():
            if self.nan == "error":
                i = int(np.flatnonzero(nan.reshape(-1))[0])
                raise FormatError(
                    f"{self.name}: NaN input (first at flat index {i}) but the codebook has no "
                    "NaN; pass nan='zero' to map NaN to 0"
                )
            v = np.where(nan, 0.0, v)
        cuts = self._cuts
        if self.tie == "lower":
            idx = np.searchsorted(cuts, v, side="left")
        elif self.tie == "upper":
            idx = np.searchsorted(cuts, v, side="right")
        else:
            lo = np.searchsorted(cuts, v, side="left")
            hi = np.searchsorted(cuts, v, side="right")
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
        elif a > 0:
            cuts.append(float(np.sqrt(a * b)))
        else:
            cuts.append(-float(np.sqrt(a * b)))
    return tuple(cuts)

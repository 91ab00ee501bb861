"""Shared pieces of every format: errors, input checks, rounding-mode names, the element base."""

from __future__ import annotations

import numbers
from functools import cached_property

import numpy as np

ROUNDING_MODES = ("rne", "rna", "rtz", "floor", "ceil", "stochastic")
_ROUNDING_ALIASES = {
    "nearest_even": "rne",
    "even": "rne",
    "ties_even": "rne",
    "nearest_away": "rna",
    "ties_away": "rna",
    "away": "rna",
    "toward_zero": "rtz",
    "truncate": "rtz",
    "down": "floor",
    "up": "ceil",
}


class FormatError(ValueError):
    """Bad input to, or a bad parameter of, a number format."""


def canonical_rounding(mode: str, where: str) -> str:
    """Return the canonical rounding-mode name or raise naming the valid ones."""
    name = _ROUNDING_ALIASES.get(mode, mode)
    if name not in ROUNDING_MODES:
        raise FormatError(
            f"{where}: unknown rounding mode {mode!r}; use one of {', '.join(ROUNDING_MODES)}"
        )
    return name


def as_real_array(x, where: str) -> np.ndarray:
    """Convert input to an ndarray of a real numeric dtype, or raise naming the problem."""
    arr = np.asarray(x)
    kind = arr.dtype.kind
    if kind == "b":
        return arr.astype(np.int8)
    if kind in "iuf":
        return arr
    if kind == "V" and arr.dtype.itemsize <= 2:  # ml_dtypes float8/bfloat16 types
        return arr.astype(np.float32)
    if kind == "c":
        raise FormatError(f"{where}: complex input is not supported (got dtype {arr.dtype})")
    try:  # ml_dtypes types report kind 'V' or 'f'; anything castable exactly to float32
        return arr.astype(np.float32) if arr.dtype.itemsize <= 2 else arr.astype(np.float64)
    except (TypeError, ValueError) as exc:
        raise FormatError(f"{where}: input must be real numbers, got dtype {arr.dtype}") from exc


def check_int(value, where: str, name: str, lo: int, hi: int | None = None) -> int:
    """``value`` as a Python int if it is an integer (Python or numpy) in lo..hi; bools,
    floats and anything else raise a FormatError naming the parameter."""
    ok = isinstance(value, numbers.Integral) and not isinstance(value, bool | np.bool_)
    if not ok or value < lo or (hi is not None and value > hi):
        rng = f"in {lo}..{hi}" if hi is not None else ("a positive int" if lo == 1 else f">= {lo}")
        kind = "" if lo == 1 and hi is None else "an integer "
        raise FormatError(f"{where}: {name} must be {kind}{rng}, got {value!r}")
    return int(value)


def check_codes(codes, bits: int, where: str) -> np.ndarray:
    """Validate an array of unsigned integer codes for a ``bits``-bit format (returns int64)."""
    arr = np.asarray(codes)
    if arr.dtype.kind not in "iu":
        if arr.size == 0 or (arr.dtype.kind == "f" and np.all(np.mod(arr, 1) == 0)):
            arr = arr.astype(np.int64)
        else:
            raise FormatError(f"{where}: codes must be integers, got dtype {arr.dtype}")
    if arr.size:  # the range check on the codes' own (often 1-byte) dtype: same values
        lo, hi = arr.min(), arr.max()
        if lo < 0 or hi >= (1 << bits):
            bad = lo if lo < 0 else hi
            raise FormatError(
                f"{where}: code {int(bad)} is outside the {bits}-bit code range "
                f"[0, {(1 << bits) - 1}]"
            )
    return arr.astype(np.int64, copy=False)


def code_dtype(bits: int) -> np.dtype:
    """Smallest unsigned dtype holding a ``bits``-bit code."""
    for dt in (np.uint8, np.uint16, np.uint32, np.uint64):
        if bits <= np.dtype(dt).itemsize * 8:
            return np.dtype(dt)
    raise FormatError(f"codes wider than 64 bits are not supported ({bits})")


def random_bits(seed: int | None, size: int) -> np.ndarray:
    """64 uniformly random bits per element from a fresh, seeded generator (no global state)."""
    rng = np.random.default_rng(seed)
    return rng.integers(0, np.iinfo(np.uint64).max, size=size, dtype=np.uint64, endpoint=True)


class ElementFormat:
    """Base of formats that map each element independently to one code.

    Subclasses implement ``encode``, ``decode``, ``bits`` and ``name``. All decoding yields
    float64, which holds every value of every element format here exactly.
    """

    name: str
    bits: int
    is_block = False

    def quantize(self, x) -> np.ndarray:
        """Round ``x`` to the nearest representable values (float64); == decode(encode(x))."""
        return self.decode(self.encode(x))

    def values(self) -> np.ndarray:
        """Value of every code 0 .. 2^bits - 1 (float64; NaN for NaN codes)."""
        return self._value_table.copy()

    @cached_property
    def _value_table(self) -> np.ndarray:
        if self.bits > 16:
            raise FormatError(f"{self.name}: value table only for formats of <= 16 bits")
        return self._decode_valid(np.arange(1 << self.bits, dtype=np.int64))

    def _decode_valid(self, codes: np.ndarray) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def grid(self) -> np.ndarray:
        """Sorted distinct finite values (float64, -0.0 folded into 0.0)."""
        v = self._value_table
        return np.unique(v[np.isfinite(v)] + 0.0)

    @property
    def max_value(self) -> float:
        """Largest finite value."""
        return float(self.grid().max())

    @property
    def min_value(self) -> float:
        """Smallest (most negative) finite value."""
        return float(self.grid().min())

    def representable(self, x) -> np.ndarray:
        """Boolean mask: which elements of ``x`` are exactly values of this format."""
        arr = as_real_array(x, self.name).astype(np.float64)
        g = self.grid()
        idx = np.clip(np.searchsorted(g, arr), 0, len(g) - 1)
        return g[idx] == arr

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name}: {self.bits} bits>"

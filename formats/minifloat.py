"""Parametric binary floating point ExMy (FP4 ... FP32), bit-exact and vectorized.

Value of a code with sign s, exponent field f and mantissa field m:
    normal (f != 0):    (-1)^s * 2^(f - bias) * (1 + m / 2^M)
    subnormal (f == 0): (-1)^s * 2^(1 - bias) * (m / 2^M)

Special-value conventions (``specials``):
    "ieee"  top exponent field holds Inf (m == 0) and NaN (m != 0)        e.g. fp16, bf16, e5m2
    "fn"    only S.1..1.1..1 is NaN; no Inf                                e.g. OCP E4M3 (E4M3FN)
    "fnuz"  the negative-zero code 0x80.. is the only NaN; no Inf, no -0  e.g. e4m3fnuz
    "none"  every code is a finite number                                  e.g. OCP FP6, FP4
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import cached_property

import numpy as np

from . import _float_kernels as K
from .base import (
    ElementFormat,
    FormatError,
    as_real_array,
    canonical_rounding,
    check_codes,
    check_int,
    code_dtype,
    random_bits,
)

SPECIALS = ("ieee", "fn", "fnuz", "none")
OVERFLOWS = ("saturate", "nan", "inf")
_RMODE = {
    "rne": K.RM_RNE,
    "rna": K.RM_RNA,
    "rtz": K.RM_RTZ,
    "floor": K.RM_FLOOR,
    "ceil": K.RM_CEIL,
    "stochastic": K.RM_STOCHASTIC,
}
# IEEE binary source layouts: itemsize, dtype name -> (mantissa bits, exponent bits)
_FLOAT_LAYOUT = {"float16": (10, 5), "bfloat16": (7, 8), "float32": (23, 8), "float64": (52, 11)}
_UINT_OF_SIZE = {2: np.uint16, 4: np.uint32, 8: np.uint64}


@dataclass(frozen=True)
class MinifloatFormat(ElementFormat):
    """Sign + ``ebits`` exponent + ``mbits`` mantissa floating point.

    Parameters:
        ebits, mbits: exponent bits E in 1..11, mantissa bits M in 0..23.
        bias: exponent bias; default 2^(E-1) - 1 (2^(E-1) for "fnuz").
        specials: "ieee" | "fn" | "fnuz" | "none" (see module docstring).
        overflow: what a finite result beyond the largest finite value (or an infinite input
            without an Inf code) becomes: "saturate" (+-max), "nan" or "inf". Default: "inf"
            for ieee, "nan" for fn/fnuz, "saturate" for none (the ml_dtypes behaviour).
            Directed rounding toward zero never overflows a finite input (IEEE 754 7.4).
        subnormals: False flushes subnormal results to signed zero and decodes subnormal
            codes as zero.
        rounding: "rne" (default), "rna" (ties away), "rtz", "floor", "ceil", "stochastic".
        seed: seed of the stochastic-rounding generator (a fresh generator per call, so the
            same input gives the same output).
        nan: NaN input into a format without NaN codes: "error" (default) or "zero".
        signed: False drops the sign bit; negative inputs then follow ``negative``.
        negative: unsigned formats only: "error" (default), "zero" or "nan".
    """

    ebits: int
    mbits: int
    bias: int | None = None
    specials: str = "ieee"
    overflow: str | None = None
    subnormals: bool = True
    rounding: str = "rne"
    seed: int | None = None
    nan: str = "error"
    signed: bool = True
    negative: str = "error"
    name: str = ""

    def __post_init__(self):
        where = self.name or f"e{self.ebits}m{self.mbits}"
        set_ = object.__setattr__
        set_(self, "name", where)
        set_(self, "ebits", check_int(self.ebits, where, "ebits", 1, 11))
        set_(self, "mbits", check_int(self.mbits, where, "mbits", 0, 23))
        if self.specials not in SPECIALS:
            raise FormatError(f"{where}: specials must be one of {SPECIALS}, got {self.specials!r}")
        if self.specials == "fnuz" and not self.signed:
            raise FormatError(f"{where}: 'fnuz' needs a sign bit (its NaN is the -0 code)")
        if self.specials == "ieee" and self.ebits < 2:
            raise FormatError(f"{where}: 'ieee' specials need ebits >= 2")
        if self.bias is None:
            default_bias = (1 << (self.ebits - 1)) - (0 if self.specials == "fnuz" else 1)
            set_(self, "bias", default_bias)
        if self.overflow is None:
            set_(
                self,
                "overflow",
                {"ieee": "inf", "fn": "nan", "fnuz": "nan", "none": "saturate"}[self.specials],
            )
        if self.overflow not in OVERFLOWS:
            raise FormatError(
                f"{where}: overflow must be one of {OVERFLOWS}, got {self.overflow!r}"
            )
        if self.overflow == "inf" and not self.has_inf:
            raise FormatError(f"{where}: overflow='inf' but specials={self.specials!r} has no Inf")
        if self.overflow == "nan" and not self.has_nan:
            raise FormatError(f"{where}: overflow='nan' but specials={self.specials!r} has no NaN")
        set_(self, "rounding", canonical_rounding(self.rounding, where))
        if self.nan not in ("error", "zero"):
            raise FormatError(f"{where}: nan must be 'error' or 'zero', got {self.nan!r}")
        if self.negative not in ("error", "zero", "nan"):
            raise FormatError(f"{where}: negative must be 'error', 'zero' or 'nan'")
        if self.negative == "nan" and not self.has_nan:
            raise FormatError(f"{where}: negative='nan' but the format has no NaN code")
        if self.max_mag < 0:
            raise FormatError(f"{where}: no finite nonzero values with these parameters")

    # --- layout -----------------------------------------------------------------------
    @property
    def bits(self) -> int:
        return self.ebits + self.mbits + (1 if self.signed else 0)

    @property
    def has_inf(self) -> bool:
        return self.specials == "ieee"

    @property
    def has_nan(self) -> bool:
        return self.specials in ("fn", "fnuz") or (self.specials == "ieee" and self.mbits > 0)

    @property
    def _mag_bits(self) -> int:
        return self.ebits + self.mbits

    @property
    def max_mag(self) -> int:
        """Largest finite magnitude code."""
        all_ones = (1 << self._mag_bits) - 1
        if self.specials == "ieee":
            return ((1 << self.ebits) - 1 << self.mbits) - 1
        if self.specials == "fn":
            return all_ones - 1
        return all_ones

    @property
    def emin(self) -> int:
        """Exponent of the smallest normal binade."""
        return 1 - self.bias

    @property
    def emax(self) -> int:
        """Exponent of the largest finite binade."""
        return (self.max_mag >> self.mbits) - self.bias

    @property
    def max_value(self) -> float:
        return float(self._decode_mags(np.array([self.max_mag]))[0])

    @property
    def min_value(self) -> float:
        return -self.max_value if self.signed else 0.0

    @property
    def min_normal(self) -> float:
        return float(np.ldexp(1.0, self.emin))

    @property
    def min_subnormal(self) -> float:
        return float(np.ldexp(1.0, self.emin - self.mbits)) if self.subnormals else self.min_normal

    @property
    def nan_code(self) -> int | None:
        """Canonical positive NaN code (None if the format has no NaN)."""
        if not self.has_nan:
            return None
        if self.specials == "fnuz":
            return 1 << self._mag_bits
        if self.specials == "fn":
            return (1 << self._mag_bits) - 1
        return ((1 << self.ebits) - 1 << self.mbits) | (1 << (self.mbits - 1))

    @property
    def inf_code(self) -> int | None:
        return ((1 << self.ebits) - 1 << self.mbits) if self.has_inf else None

    # --- encode -----------------------------------------------------------------------
    def encode(self, x) -> np.ndarray:
        """Round ``x`` (any real dtype, rounded exactly once) to codes (unsigned ints)."""
        codes, _ = self._run(x, with_values=False)
        return codes

    def quantize(self, x) -> np.ndarray:
        """Round ``x`` to the nearest representable values (float64), fused in one pass."""
        if self.bits > 16:
            return self.decode(self.encode(x))
        return self._run(x, with_values=True)[1]

    @cached_property
    def _special_codes(self) -> np.ndarray:
        """Final codes for overflow/Inf/NaN/-0/negative inputs (see _float_kernels._finish)."""
        sign = (1 << self._mag_bits) if self.signed else 0
        max_mag = self.max_mag
        nan = self.nan_code
        if self.specials == "fnuz":
            nan_pos = nan_neg = nan
        elif nan is not None:
            nan_pos, nan_neg = nan, nan | sign
        elif self.nan == "zero":
            nan_pos = nan_neg = 0
        else:
            nan_pos = nan_neg = -1
        ovf = {"saturate": max_mag, "inf": self.inf_code, "nan": nan}[self.overflow]
        if self.specials == "fnuz" and self.overflow == "nan":
            ov_pos = ov_neg = nan
        else:
            ov_pos, ov_neg = ovf, ovf | sign
        if self.has_inf:
            inf_pos, inf_neg = self.inf_code, self.inf_code | sign
        else:
            inf_pos, inf_neg = ov_pos, ov_neg
        neg_zero = sign if self.specials != "fnuz" else 0
        if self.signed:
            neg_bad = 0  # unused: negative values carry the sign bit
        else:
            ov_neg = inf_neg = {"error": -1, "zero": 0, "nan": nan}[self.negative]
            if self.negative == "error":
                ov_neg = inf_neg = 0
            neg_bad = {"error": -1, "zero": 0, "nan": nan}[self.negative]
        return np.array(
            [ov_pos, ov_neg, inf_pos, inf_neg, nan_pos, nan_neg, neg_zero, sign, neg_bad],
            dtype=np.int64,
        )

    def _run(self, x, with_values: bool):
        arr = as_real_array(x, self.name)
        shape = arr.shape
        flat = np.ascontiguousarray(arr).reshape(-1)
        n = flat.size
        codes = np.empty(n, dtype=code_dtype(self.bits))
        vals = np.empty(n if with_values else 0, dtype=np.float64)
        lut = self._value_table if with_values else np.empty(0, dtype=np.float64)
        errors = np.zeros(4, dtype=np.int64)
        rnd = (
            random_bits(self.seed, n)
            if self.rounding == "stochastic"
            else np.empty(0, dtype=np.uint64)
        )
        params = (
            self.mbits,
            self.emin,
            self.emax,
            self.max_mag,
            _RMODE[self.rounding],
            1 if self.subnormals else 0,
            rnd,
            self._special_codes,
            codes,
            lut,
            vals,
            errors,
        )
        if flat.dtype.kind in "iu":
            if flat.dtype == np.uint64 and n and flat.max() >= np.uint64(1 << 63):
                raise FormatError(f"{self.name}: uint64 inputs >= 2^63 are not supported")
            K.encode_integers(flat.astype(np.int64, copy=False), *params)
        else:
            name = flat.dtype.name
            if name not in _FLOAT_LAYOUT:
                wide = flat.astype(np.float64)
                if not np.array_equal(wide, flat, equal_nan=True):
                    raise FormatError(
                        f"{self.name}: input dtype {flat.dtype} holds values float64 cannot "
                        "represent exactly; convert explicitly first"
                    )
                flat, name = wide, "float64"
            sm, se = _FLOAT_LAYOUT[name]
            raw = flat.view(_UINT_OF_SIZE[flat.dtype.itemsize])
            K.encode_float_bits(raw, sm, se, *params)
        if errors[0]:
            raise FormatError(
                f"{self.name}: {errors[0]} NaN input(s) (first at flat index {errors[1]}) but "
                "the format has no NaN encoding; pass nan='zero' to map NaN to 0"
            )
        if errors[2]:
            raise FormatError(
                f"{self.name}: {errors[2]} negative input(s) (first at flat index {errors[3]}) "
                "into an unsigned format; pass negative='zero' to clamp them to 0"
            )
        return codes.reshape(shape), (vals.reshape(shape) if with_values else None)

    # --- decode -----------------------------------------------------------------------
    def decode(self, codes) -> np.ndarray:
        """Codes -> float64 values (NaN for NaN codes, +-inf for Inf codes)."""
        arr = check_codes(codes, self.bits, self.name)
        if self.bits <= 16:
            return self._value_table[arr]
        return self._decode_valid(arr)

    def _decode_mags(self, mags: np.ndarray) -> np.ndarray:
        flat = np.ascontiguousarray(mags, dtype=np.int64).reshape(-1)
        out = np.empty(flat.size, dtype=np.float64)
        K.decode_magnitudes(flat, self.mbits, self.bias, 1, 1 if self.subnormals else 0, out)
        return out.reshape(np.shape(mags))

    def _decode_valid(self, codes: np.ndarray) -> np.ndarray:
        mag_mask = (1 << self._mag_bits) - 1
        mags = codes & mag_mask
        out = self._decode_mags(mags)
        if self.specials == "ieee":
            top = (mags >> self.mbits) == (1 << self.ebits) - 1
            frac = mags & ((1 << self.mbits) - 1)
            out[top & (frac == 0)] = np.inf
            out[top & (frac != 0)] = np.nan
        elif self.specials == "fn":
            out[mags == mag_mask] = np.nan
        if self.signed:
            negative = (codes >> self._mag_bits) & 1 == 1
            out = np.where(negative, -out, out)
            if self.specials == "fnuz":
                out[codes == (1 << self._mag_bits)] = np.nan
        return out

    def representable(self, x) -> np.ndarray:
        """Boolean mask: which elements of ``x`` are exactly values of this format."""
        arr = as_real_array(x, self.name)
        exact = replace(
            self, overflow="saturate", rounding="rne", seed=None, nan="zero", negative="zero"
        )
        back = exact.decode(exact.encode(arr))
        value = arr.astype(np.float64)
        res = back == value
        if self.has_inf:
            res |= np.isinf(value)
        else:
            res &= np.isfinite(value)
        if self.has_nan:
            res |= np.isnan(value)
        return res

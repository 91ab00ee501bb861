"""Operand formats of a PE: the only module of hwsim.pe that touches hwsim.formats.

`resolve(spec)` turns a format name (or a format object) into an `Operand`, a small frozen
description the PE models need: integer range, minifloat layout, bipolar width or value
table. `check(pe, role, op, x)` validates an input array against it and returns it as
float64 (every supported element value is exact in float64).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

import hwsim.formats as F

from . import kernels as K


class PEError(ValueError):
    """Bad parameter of, or bad input to, a processing-element model."""


@dataclass(frozen=True)
class Operand:
    """What a PE needs to know about an operand format.

    kind: "int" (two's complement or unsigned integers, scale 1), "float" (IEEE-style
    minifloat), "bipolar" (odd integers 2u - (2^n - 1)) or "table" (any other value set).
    """

    name: str
    kind: str
    bits: int
    signed: bool = True
    qmin: int = 0
    qmax: int = 0
    ebits: int = 0
    mbits: int = 0
    emin: int = 0
    max_finite: float = 0.0
    has_inf: bool = False
    values: tuple = ()
    specials: str = ""  # floats: hwsim.formats minifloat specials ("ieee", "fn", "fnuz", "none")

    @property
    def max_abs(self) -> float:
        """Largest magnitude of any value (for accumulator bounds)."""
        if self.kind in ("int", "bipolar"):
            return float(max(abs(self.qmin), abs(self.qmax)))
        if self.kind == "float":
            return self.max_finite
        return float(max(abs(v) for v in self.values))


def resolve(spec) -> Operand:
    """Operand description from a format name such as "int4", "fp16", "bipolar3", "pot4"."""
    fmt = F.get(spec) if isinstance(spec, str) else spec
    name = getattr(fmt, "name", str(spec))
    if getattr(fmt, "is_block", False) or not hasattr(fmt, "decode"):
        raise PEError(f"format {name!r} is a block format; PEs take element formats")
    if isinstance(fmt, F.IntFormat):
        if fmt.frac_bits != 0:
            raise PEError(f"format {name!r}: fixed-point integers (frac_bits) are not supported")
        return Operand(name, "int", fmt.bits, fmt.signed, int(fmt.qmin), int(fmt.qmax))
    if isinstance(fmt, F.BipolarFormat):
        top = (1 << fmt.bits) - 1
        return Operand(name, "bipolar", fmt.bits, True, -top, top)
    if isinstance(fmt, F.MinifloatFormat):
        if not fmt.signed:
            raise PEError(f"format {name!r}: unsigned minifloats are not supported")
        return Operand(
            name,
            "float",
            fmt.bits,
            True,
            ebits=fmt.ebits,
            mbits=fmt.mbits,
            emin=fmt.emin,
            max_finite=float(fmt.max_value),
            has_inf=bool(fmt.has_inf),
            specials=fmt.specials,
        )
    if hasattr(fmt, "values") and fmt.bits <= 16:
        vals = np.asarray(fmt.values(), dtype=np.float64)
        vals = tuple(sorted({float(v) + 0.0 for v in vals if np.isfinite(v)}))
        return Operand(name, "table", fmt.bits, values=vals)
    raise PEError(f"format {name!r} ({type(fmt).__name__}) is not supported by the PE models")


def float_operand(ebits: int, mbits: int, name: str = "") -> Operand:
    """IEEE-style binary format with the given field widths (used for accumulators)."""
    fmt = F.get("minifloat", ebits=ebits, mbits=mbits, name=name or f"e{ebits}m{mbits}")
    return resolve(fmt)


# dtypes the numba validation kernels take as they are (native byte order); any other
# real dtype (float16, longdouble, ...) is converted to float64 first, as the reference does
_KERNEL_DTYPES = frozenset(
    np.dtype(t)
    for t in (np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16,
              np.uint32, np.uint64, np.float32, np.float64)
)  # fmt: skip


def _real_array(pe: str, role: str, x) -> np.ndarray:
    arr = np.asarray(x)
    if arr.dtype.kind not in "iufb":
        raise PEError(f"{pe}: operand {role} must be real numbers, got dtype {arr.dtype}")
    return arr


def validate(pe: str, role: str, op: Operand, x) -> tuple[np.ndarray, float]:
    """Validate `x` against `op` like `check`, without converting it: returns (x as an
    ndarray of its own dtype, largest magnitude of its values).

    For "int", "bipolar" and "table" (<= 256 values) operands this is one numba pass with
    no temporaries (every element of the returned array is then a value of `op`; a float
    array may hold -0.0); other kinds use the reference check.
    Raises exactly the errors of `check` (same first offending element, same message).
    """
    arr = _real_array(pe, role, x)
    if op.kind in ("int", "bipolar") or (op.kind == "table" and len(op.values) <= 256):
        a = arr if arr.dtype in _KERNEL_DTYPES else arr.astype(np.float64)
        if a.size == 0:
            return a, 0.0
        flat = a.ravel(order="K")  # a view unless `a` is not contiguous in any order
        if op.kind == "table":
            ok, mx = K.table_values_ok(flat, *K.table_hash(op.values))
        elif flat.dtype.kind == "i" or (flat.dtype.kind == "u" and flat.dtype.itemsize < 8):
            # integer compares are exact; for |qmin|, |qmax| < 2^53 (formats have <= 32
            # bits) they accept exactly what the float64 compares of the reference accept
            ok, mx = K.int_dtype_values_ok(flat, op.qmin, op.qmax, op.kind == "bipolar")
        else:
            ok, mx = K.int_values_ok(flat, float(op.qmin), float(op.qmax), op.kind == "bipolar")
        if not ok:
            _check_reference(pe, role, op, arr)  # raises, naming the first bad element
            raise AssertionError("validation kernel and reference check disagree")
        return a, float(mx)
    a = _check_reference(pe, role, op, arr)
    return a, float(np.abs(a).max(initial=0.0))


def check(pe: str, role: str, op: Operand, x) -> np.ndarray:
    """Validate that every element of `x` is a value of `op`; return float64 array.

    Raises PEError naming the PE, the operand role and the first offending element.
    """
    arr = _real_array(pe, role, x)
    if op.kind in ("int", "bipolar") or (op.kind == "table" and len(op.values) <= 256):
        a, _ = validate(pe, role, op, arr)
        return np.add(a, 0.0, dtype=np.float64)  # float64 copy, -0.0 folded
    return _check_reference(pe, role, op, arr)


def _check_reference(pe: str, role: str, op: Operand, arr: np.ndarray) -> np.ndarray:
    """The reference check with numpy temporaries (first offending element, its message)."""
    a = arr.astype(np.float64)
    if not np.all(np.isfinite(a)):
        i = int(np.flatnonzero(~np.isfinite(a.reshape(-1)))[0])
        raise PEError(f"{pe}: operand {role} has a non-finite value at flat index {i}")
    if op.kind in ("int", "bipolar"):
        ok = (a == np.floor(a)) & (a >= op.qmin) & (a <= op.qmax)
        if op.kind == "bipolar":
            ok &= np.mod(a, 2) == 1
        what = f"{op.name} (integers in [{op.qmin}, {op.qmax}]"
        what += ", odd)" if op.kind == "bipolar" else ")"
    elif op.kind == "float":
        try:  # presets and parametric names (e2m1 = OCP FP4 values, no specials)
            fmt = F.get(op.name)
        except (KeyError, ValueError):
            fmt = F.get("minifloat", ebits=op.ebits, mbits=op.mbits)
        ok = np.asarray(fmt.representable(a), bool)
        what = f"{op.name} values"
    else:
        grid = np.asarray(op.values)
        idx = np.clip(np.searchsorted(grid, a), 0, len(grid) - 1)
        ok = grid[idx] == a
        what = f"{op.name} values {list(op.values)}"
    if not np.all(ok):
        i = int(np.flatnonzero(~np.asarray(ok).reshape(-1))[0])
        raise PEError(
            f"{pe}: operand {role} element {float(a.reshape(-1)[i])!r} (flat index {i}) "
            f"is not representable in {what}"
        )
    return a + 0.0  # fold -0.0


def as_fraction(v: float) -> Fraction:
    """The simplest fraction (denominator <= 2^20) that rounds to float v, else exact v."""
    f = Fraction(v).limit_denominator(1 << 20)
    return f if float(f) == v else Fraction(v)


def grid_unit(values) -> Fraction:
    """Largest u such that every value is an integer multiple of u (exact Fraction).

    Values are float64; each is read as the simplest fraction (denominator <= 2^20) that
    rounds to it, so tables such as APoT's k/10 levels give u = 1/10.
    """
    fr = [as_fraction(v) for v in values if v != 0]
    if not fr:
        return Fraction(1)
    den = 1
    for f in fr:
        den = den * f.denominator // math.gcd(den, f.denominator)
    g = 0
    for f in fr:
        g = math.gcd(g, abs(int(f * den)))
    return Fraction(g, den)

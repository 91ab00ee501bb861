"""Block-scaled formats: any element format times a per-tensor / per-channel / per-block scale.

One class covers per-tensor/per-channel/per-group INT quantizers (symmetric absmax and
asymmetric min/max with zero points), NF4-style absmax blocks, BitNet absmean, generic block
floating point and OCP MX. The scale is computed from a block statistic (``rule``), stored in
a scale format (rounded RNE to it), and elements are coded from x / scale.

Arithmetic: statistics are exact; ``x / s`` (or ``x * (1/s)``) is one rounding in
``compute_dtype`` (exact for power-of-two scales) before the element rounding, so the result
is bit-exact to that recipe.

Scale rules:
    absmax      s = max|x| / target            (target defaults to the element's max value)
    absmean     s = mean|x| / target           (target defaults to 1; BitNet b1.58 ternary)
    minmax      s = (hi - lo) / (2^n - 1), zero point z = clamp(round(-lo / s), 0, 2^n - 1),
                codes q = clamp(round(x / s) + z, 0, 2^n - 1) (AWQ/GPTQ convention)
                with lo = min(min x, 0), hi = max(max x, 0); unsigned IntFormat elements only
    pow2_floor  s = 2^(floor(log2 max|x|) - emax_elem)      OCP MX v1.0 (spec default)
    pow2_ceil   s = 2^(ceil(log2 max|x|) - emax_elem)
    pow2_rceil  s = smallest 2^k with max|x| <= 2^k * max_elem  (NVIDIA "RCEIL")
An all-zero block gets scale 1 (absmax/absmean/minmax) or the smallest power (pow2 rules).
Scales saturate to the scale format's positive range: a block too small for it gets the
smallest positive scale (its elements may round to zero), one too large the largest (its
elements saturate).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from functools import cached_property

import numpy as np

from . import _block_kernels as BK
from ._float_kernels import RM_RNA, RM_RNE, RM_RTZ
from .base import ElementFormat, FormatError, as_real_array, code_dtype
from .blocks import (
    QuantizedTensor,
    block_counts,
    from_blocks,
    from_rows,
    plan_blocks,
    scales_from_layout,
    scales_to_layout,
    to_blocks,
    to_rows,
)
from .exponent import ExponentFormat
from .integer import IntFormat
from .minifloat import MinifloatFormat
from .rounding import round_to_integer

RULES = ("absmax", "absmean", "minmax", "pow2_floor", "pow2_ceil", "pow2_rceil")


def saturating(element: ElementFormat) -> ElementFormat:
    """The element format with overflow saturation (block formats never emit NaN/Inf codes)."""
    if isinstance(element, MinifloatFormat | IntFormat) and element.overflow != "saturate":
        return replace(element, overflow="saturate")
    return element


def floor_log2(v: np.ndarray) -> np.ndarray:
    """Exact floor(log2 v) for positive finite float64 v (int64)."""
    return np.frexp(v)[1].astype(np.int64) - 1


def ceil_log2(v: np.ndarray) -> np.ndarray:
    """Exact ceil(log2 v) for positive finite float64 v (int64)."""
    m, e = np.frexp(v)
    return e.astype(np.int64) - (m == 0.5)


@dataclass(frozen=True)
class ScaledFormat:
    """Element format + block scales. See the module docstring for rules and arithmetic.

    Parameters:
        element: the element format (its overflow is forced to saturate).
        block: int block size, "channel" or "tensor".
        rule: one of RULES.
        scale_format: format the scales are stored in (e.g. fp32, fp16, E8M0, E4M3).
        target: value the block statistic maps to (absmax/absmean rules).
        scale_op: "div" (x / s) or "mul_recip" (x * (1/s)), the latter as bitsandbytes,
            BitNet and torchao's NVFP4 recipe do.
        compute_dtype: "float64" or "float32" for x / s.
        partial: "allow" a last partial block, or "error".
        min_scale, max_scale: clamp of the scale before it is stored (e.g. 1e-5 in BitNet).
        nonfinite: NaN/Inf inputs: "error" or "nan_scale" (pow2 rules: the block's scale is
            the NaN code and the whole block dequantizes to NaN, as OCP MX specifies).
        name: preset name.
    """

    element: ElementFormat
    block: int | str = 32
    rule: str = "absmax"
    scale_format: ElementFormat | None = None
    target: float | None = None
    scale_op: str = "div"
    compute_dtype: str = "float64"
    partial: str = "allow"
    min_scale: float = 0.0
    max_scale: float = math.inf
    nonfinite: str = "error"
    name: str = ""
    is_block = True

    def __post_init__(self):
        where = self.name or f"{self.element.name}_scaled"
        object.__setattr__(self, "name", where)
        if not isinstance(self.element, ElementFormat):
            raise FormatError(f"{where}: element must be an element format, got {self.element!r}")
        object.__setattr__(self, "element", saturating(self.element))
        if self.rule not in RULES:
            raise FormatError(f"{where}: rule must be one of {RULES}, got {self.rule!r}")
        if self.scale_format is None:
            default = (
                ExponentFormat(8, name="e8m0")
                if self.rule.startswith("pow2")
                else MinifloatFormat(8, 23, name="fp32")
            )
            object.__setattr__(self, "scale_format", default)
        if self.rule.startswith("pow2") and not isinstance(self.scale_format, ExponentFormat):
            raise FormatError(f"{where}: rule {self.rule!r} needs an exponent (E8M0-like) scale")
        if self.rule == "minmax" and not (
            isinstance(self.element, IntFormat) and not self.element.signed
        ):
            raise FormatError(f"{where}: the minmax (asymmetric) rule needs an unsigned IntFormat")
        if self.scale_op not in ("div", "mul_recip"):
            raise FormatError(f"{where}: scale_op must be 'div' or 'mul_recip'")
        if self.compute_dtype not in ("float64", "float32"):
            raise FormatError(f"{where}: compute_dtype must be 'float64' or 'float32'")
        if self.partial not in ("allow", "error"):
            raise FormatError(f"{where}: partial must be 'allow' or 'error'")
        if self.nonfinite not in ("error", "nan_scale"):
            raise FormatError(f"{where}: nonfinite must be 'error' or 'nan_scale'")
        if self.nonfinite == "nan_scale" and not self.rule.startswith("pow2"):
            raise FormatError(f"{where}: nonfinite='nan_scale' needs a pow2 scale rule")
        if not 0 <= self.min_scale < self.max_scale:
            raise FormatError(f"{where}: need 0 <= min_scale < max_scale")
        plan_blocks((1,), 0, self.block, "allow", where)  # validates ``block``
        if not isinstance(self.block, str):  # numpy integers are stored as int
            object.__setattr__(self, "block", int(self.block))
        if self.target is not None and not self.target > 0:
            raise FormatError(f"{where}: target must be positive")

    # --- properties ---------------------------------------------------------------------
    @property
    def bits(self) -> int:
        """Bits per element, excluding shared scales (see ``bits_per_element``)."""
        return self.element.bits

    @property
    def zero_point_bits(self) -> int:
        return self.element.bits if self.rule == "minmax" else 0

    def bits_per_element(self, block_len: int | None = None) -> float:
        """Average storage bits per element including scale and zero point of full blocks."""
        size = self.block if isinstance(self.block, int) else block_len
        if size is None:
            raise FormatError(f"{self.name}: give block_len for channel/tensor granularity")
        return self.element.bits + (self.scale_format.bits + self.zero_point_bits) / size

    def storage_bits(self, shape, axis: int = -1) -> int:
        """Exact bits to store a tensor of ``shape``: elements + one scale (+ zero point) per
        block, partial blocks included."""
        plan = plan_blocks(tuple(shape), axis, self.block, self.partial, self.name)
        return self._plan_bits(plan)

    def _plan_bits(self, plan) -> int:
        n = int(np.prod(plan.shape)) if plan.shape else 1
        groups = n // max(plan.shape[plan.axis], 1) * plan.n_blocks if plan.axis >= 0 else 1
        return n * self.element.bits + groups * (self.scale_format.bits + self.zero_point_bits)

    @cached_property
    def _scale_range(self) -> tuple[float, float]:
        """Smallest and largest positive finite scale values."""
        sf = self.scale_format
        if isinstance(sf, MinifloatFormat):
            lo, hi = sf.min_subnormal, sf.max_value
        else:
            g = sf.grid()
            lo, hi = float(g[g > 0].min()), float(g.max())
        if self.scale_op == "mul_recip":  # keep 1/s finite in the compute dtype
            lo = max(lo, float(1.0 / np.finfo(np.dtype(self.compute_dtype)).max) * 2)
        return lo, hi

    @cached_property
    def element_emax(self) -> int:
        """floor(log2(largest element value)): the OCP MX element emax."""
        return int(floor_log2(np.array([self.element.max_value]))[0])

    @property
    def _target(self) -> float:
        if self.target is not None:
            return float(self.target)
        return 1.0 if self.rule == "absmean" else float(self.element.max_value)

    # --- fast path: power-of-two scales, one numba pass -----------------------------------
    @cached_property
    def _pow2_kernel_args(self):
        """Element parameters for ``_block_kernels.pow2_blocks``, or None if not eligible."""
        if not self.rule.startswith("pow2") or self.nonfinite != "nan_scale":
            return None
        el = self.element
        rmodes = {"rne": RM_RNE, "rna": RM_RNA, "rtz": RM_RTZ}
        if el.rounding not in rmodes:
            return None
        if isinstance(el, MinifloatFormat) and el.signed:
            spec = (el.mbits, el.emin, el.emax, el.max_mag, rmodes[el.rounding])
            spec += (1 if el.subnormals else 0, 0, el.bits, 0 if el.specials == "fnuz" else 1)
        elif isinstance(el, IntFormat) and el.symmetric:
            m = el.bits - 1  # sign-magnitude view: every value is a "subnormal" q * 2^-frac
            spec = (m, m - el.frac_bits, m - el.frac_bits - 1, el.qmax, rmodes[el.rounding])
            spec += (1, 1, el.bits, 0)
        else:
            return None
        rule = {"pow2_floor": BK.RULE_FLOOR, "pow2_ceil": BK.RULE_CEIL}.get(
            self.rule, BK.RULE_RCEIL
        )
        mp, ep = np.frexp(el.max_value)
        sf = self.scale_format
        head = (self.element_emax, rule, float(mp), int(ep), sf.min_exponent, sf.max_exponent)
        return head + (sf.bias, sf.nan_code) + spec

    def _pow2_fast(self, arr: np.ndarray, axis: int, with_values: bool):
        """(codes, scale codes, values or None, plan) via the fused kernel."""
        plan = plan_blocks(arr.shape, axis, self.block, self.partial, self.name)
        if arr.dtype.name not in ("float16", "float32", "float64", "bfloat16"):
            arr = arr.astype(np.float64)
        layout = {"float16": (10, 5), "bfloat16": (7, 8), "float32": (23, 8), "float64": (52, 11)}
        sm, se = layout[arr.dtype.name]
        rows2d = to_rows(arr, plan)
        raw = rows2d.view({2: np.uint16, 4: np.uint32, 8: np.uint64}[arr.dtype.itemsize])
        nrows, length = raw.shape
        codes = np.empty(raw.shape, dtype=np.uint8 if self.element.bits <= 8 else np.uint16)
        scales = np.empty((nrows, plan.n_blocks), dtype=np.uint8)
        vals = np.empty(raw.shape if with_values else (0, 0), dtype=np.float64)
        lut = self.element._value_table
        BK.pow2_blocks(raw, sm, se, plan.size, *self._pow2_kernel_args, lut, codes, scales, vals)

        vals = from_rows(vals, plan) if with_values else None
        return from_rows(codes, plan), from_rows(scales, plan), vals, plan

    # --- fast path: integer elements with computed scales --------------------------------
    @cached_property
    def _int_rmode(self) -> int | None:
        """Kernel rounding mode for integer elements, or None if the generic path is needed."""
        el = self.element
        if self.rule.startswith("pow2") or not isinstance(el, IntFormat) or el.frac_bits != 0:
            return None
        return {"rne": 0, "rna": 1, "rtz": 2, "floor": 3, "ceil": 4}.get(el.rounding)

    def _int_fast(self, arr: np.ndarray, axis: int, with_values: bool, with_elements=False):
        """(QuantizedTensor, values or None, element integers or None) via
        ``scaled_int_rows``, one kernel row per block (a partial last block padded with
        zeros, whose outputs are dropped); None if non-finite."""
        plan = plan_blocks(arr.shape, axis, self.block, self.partial, self.name)
        if arr.dtype != np.float32 or self.compute_dtype != "float32":
            arr = arr.astype(np.float64) if arr.dtype != np.float32 else arr
        rows2d = to_rows(arr, plan)
        if not np.isfinite(rows2d).all():
            return None
        pad = plan.n_blocks * plan.size - rows2d.shape[1]
        padded = np.pad(rows2d, ((0, 0), (0, pad))) if pad else rows2d
        xb = padded.reshape(rows2d.shape[0], plan.n_blocks, plan.size)
        scale_codes, scale_vals, zp = self._scales(xb, plan)
        el = self.element
        nb = xb.shape[0] * plan.n_blocks  # kernel rows: one per block

        def out(wanted: bool, dtype) -> np.ndarray:
            return np.empty(padded.shape if wanted else (0, 0), dtype=dtype)

        codes = out(True, code_dtype(el.bits))
        vals, elems = out(with_values, np.float64), out(with_elements, np.float64)

        def per_block(a: np.ndarray) -> np.ndarray:
            return a.reshape(nb, plan.size) if a.shape[0] else a

        zps = np.empty((0, 0)) if zp is None else zp.astype(np.float64).reshape(nb, 1)
        BK.scaled_int_rows(
            xb.reshape(nb, plan.size), np.ascontiguousarray(scale_vals, dtype=np.float64)
            .reshape(nb, 1), zps, self.scale_op == "mul_recip",
            self.compute_dtype == "float32", float(el.qmin), float(el.qmax), 1.0,
            self._int_rmode, el.bits, per_block(codes), per_block(vals), per_block(elems),
        )  # fmt: skip
        length = rows2d.shape[1]

        def unpadded(a: np.ndarray) -> np.ndarray:
            return from_rows(a[:, :length] if pad else a, plan)

        qt = QuantizedTensor(
            format=self,
            codes=unpadded(codes),
            scales=from_rows(scale_codes, plan),
            plan=plan,
            zero_points=None if zp is None else from_rows(zp.astype(np.int64), plan),
        )
        return (
            qt,
            unpadded(vals) if with_values else None,
            unpadded(elems) if with_elements else None,
        )

    # --- encode -------------------------------------------------------------------------
    def encode(self, x, axis: int = -1) -> QuantizedTensor:
        """Quantize ``x`` with blocks along ``axis``; returns codes, scale codes, zero points."""
        arr = as_real_array(x, self.name)
        if self._pow2_kernel_args is not None and self._fast_ok(arr):
            codes, scales, _, plan = self._pow2_fast(arr, axis, with_values=False)
            return QuantizedTensor(format=self, codes=codes, scales=scales, plan=plan)
        if self._int_rmode is not None and self._fast_ok(arr):
            done = self._int_fast(arr, axis, with_values=False)
            if done is not None:
                return done[0]
        return self._encode_generic(arr, axis)

    def encode_elements(self, x, axis: int = -1, with_values: bool = True):
        """(QuantizedTensor, element integers, dequantized values or None), float64 arrays
        of x's shape, in one kernel pass (no decode of the codes): the same codes and values
        as ``encode`` / ``quantize``, elements = codes read as integers (zero points not
        subtracted). For integer elements without fraction bits and computed (non power of
        two) scales on finite input; None otherwise (then use ``encode``)."""
        arr = as_real_array(x, self.name)
        if self._int_rmode is None or not self._fast_ok(arr):
            return None
        done = self._int_fast(arr, axis, with_values=with_values, with_elements=True)
        return None if done is None else (done[0], done[2], done[1])

    def _fast_ok(self, arr: np.ndarray) -> bool:
        if arr.dtype.kind == "f":
            return True
        return arr.dtype.kind in "iub" and (arr.size == 0 or np.abs(arr).max() < 2**53)

    def _encode_generic(self, arr: np.ndarray, axis: int) -> QuantizedTensor:
        plan = plan_blocks(arr.shape, axis, self.block, self.partial, self.name)
        xb = to_blocks(arr.astype(np.float64), plan)
        finite = np.isfinite(xb)
        bad_blocks = None
        if not finite.all():
            if self.nonfinite == "error":
                flat = np.isfinite(arr.astype(np.float64)).reshape(-1)
                i = int(np.flatnonzero(~flat)[0])
                raise FormatError(
                    f"{self.name}: non-finite input (first at flat index {i}); pass "
                    "nonfinite='nan_scale' (pow2 rules) to mark such blocks NaN"
                )
            bad_blocks = ~finite.all(axis=-1)
            xb = np.where(finite, xb, 0.0)
        scale_codes, scale_vals, zp = self._scales(xb, plan)
        if bad_blocks is not None:
            scale_codes = np.where(bad_blocks, self.scale_format.nan_code, scale_codes)
            scale_vals = np.where(bad_blocks, 1.0, scale_vals)
        v = self._divide(xb, scale_vals[..., None])
        if zp is not None:  # round(x / s) + z: round on the element grid first, then shift
            el = self.element
            r = round_to_integer(np.ldexp(v.astype(np.float64), el.frac_bits), el.rounding, el.seed)
            v = np.ldexp(r, -el.frac_bits) + zp[..., None]
        codes = self.element.encode(v)
        if bad_blocks is not None:  # a NaN-scale block stores zero element codes
            codes = np.where(bad_blocks[..., None], 0, codes).astype(codes.dtype)
        return QuantizedTensor(
            format=self,
            codes=from_blocks(codes, plan),
            scales=scales_to_layout(scale_codes, plan),
            plan=plan,
            zero_points=None if zp is None else scales_to_layout(zp.astype(np.int64), plan),
        )

    def _divide(self, xb: np.ndarray, s: np.ndarray) -> np.ndarray:
        if self.rule.startswith("pow2"):
            return xb / s  # exact: s is a power of two
        dt = np.float32 if self.compute_dtype == "float32" else np.float64
        xs, ss = xb.astype(dt), s.astype(dt)
        return xs * (dt(1) / ss) if self.scale_op == "mul_recip" else xs / ss

    def _scales(self, xb: np.ndarray, plan):
        """Per-block (scale codes, scale values, zero points or None)."""
        sf = self.scale_format
        a = np.abs(xb)
        if self.rule.startswith("pow2"):
            amax = a.max(axis=-1)
            x_exp = self._pow2_exponent(amax)
            x_exp = np.clip(x_exp, sf.min_exponent, sf.max_exponent)
            codes = (x_exp + sf.bias).astype(np.uint8)
            return codes, np.ldexp(1.0, x_exp), None
        zp = None
        if self.rule == "absmax":
            s = a.max(axis=-1).astype(np.float64) / self._target
        elif self.rule == "absmean":
            n = np.maximum(block_counts(plan), 1)  # an empty tensor: mean 0, scale 1
            s = a.astype(np.float64).sum(axis=-1) / n / self._target
        else:  # minmax
            lo = np.minimum(xb.min(axis=-1).astype(np.float64), 0.0)
            hi = np.maximum(xb.max(axis=-1).astype(np.float64), 0.0)
            s = (hi - lo) / float(self.element.qmax)
        s = np.where(s == 0, 1.0, s)
        s = np.clip(s, self.min_scale, self.max_scale)
        # saturate to the scale format's positive range (no underflow to 0, no overflow)
        s = np.clip(s, self._scale_range[0], self._scale_range[1])
        codes = sf.encode(s)
        vals = sf.decode(codes)
        if not np.all(np.isfinite(vals) & (vals > 0)):
            raise FormatError(
                f"{self.name}: a block scale is not representable as a positive finite "
                f"{sf.name} value (clamp with min_scale/max_scale or use a wider scale format)"
            )
        if self.rule == "minmax":
            zp = np.clip(np.rint(-lo / vals), 0, self.element.qmax)
        return codes, vals, zp

    def _pow2_exponent(self, amax: np.ndarray) -> np.ndarray:
        pos = amax > 0
        safe = np.where(pos, amax, 1.0)
        if self.rule == "pow2_floor":
            e = floor_log2(safe) - self.element_emax
        elif self.rule == "pow2_ceil":
            e = ceil_log2(safe) - self.element_emax
        else:  # smallest k with amax <= 2^k * max_elem, exactly (frexp mantissas compared)
            ma, ea = np.frexp(safe)
            mp, ep = np.frexp(self.element.max_value)
            e = ea.astype(np.int64) - int(ep) + (ma > mp)
        return np.where(pos, e, self.scale_format.min_exponent)

    # --- decode -------------------------------------------------------------------------
    def scale_values(self, qt: QuantizedTensor) -> np.ndarray:
        return self.scale_format.decode(qt.scales)

    def dequantize(self, qt: QuantizedTensor) -> np.ndarray:
        """Exact float64 value of every element: (element - zero point) * scale."""
        plan = qt.plan
        vals = to_blocks(self.element.decode(qt.codes), plan)
        s = scales_from_layout(self.scale_values(qt), plan)
        if qt.zero_points is not None:
            vals = vals - scales_from_layout(qt.zero_points, plan)
        return from_blocks(vals * s, plan)

    def quantize(self, x, axis: int = -1) -> np.ndarray:
        """Quantize and dequantize: the float64 values the format represents for ``x``."""
        arr = as_real_array(x, self.name)
        if self._pow2_kernel_args is not None and self._fast_ok(arr):
            return self._pow2_fast(arr, axis, with_values=True)[2]
        if self._int_rmode is not None and self._fast_ok(arr):
            done = self._int_fast(arr, axis, with_values=True)
            if done is not None:
                return done[1]
        return self._encode_generic(arr, axis).dequantize()

    def __repr__(self) -> str:
        return (
            f"<ScaledFormat {self.name}: {self.element.name} x {self.scale_format.name} "
            f"scale, block={self.block}, rule={self.rule}>"
        )

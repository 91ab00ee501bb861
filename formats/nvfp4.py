"""NVFP4: E2M1 elements in blocks of 16 with a positive E4M3 block scale and an optional
float32 per-tensor scale.

The arithmetic follows the reference recipe (torchao ``nvfp4_tensor.py``, matching NVIDIA's
kernels) step by step in float32, so codes are bit-exact to it:
    single level: s = clamp(amax_block / 6, 2^-6, 448) -> E4M3 (RNE);
                  data = x * (1 / f32(s))
    two level:    t = amax_tensor / (448 * 6)                       (float32)
                  s = clamp((amax_block / 6) / t, 2^-6, 448) -> E4M3
                  data = x * ((1 / t) / f32(s))
    then clamp(data, -6, 6) and RNE to E2M1.
Inputs are converted to float32 first, as the recipe does (float64 inputs are rounded to
float32 once). Dequantization e2m1 * s (* t) is computed exactly in float64.
The minimum block scale is 2^-6 (the smallest normal E4M3), so an all-zero block stores
scale byte 0x08.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from . import _block_kernels as BK
from .base import FormatError, as_real_array, check_int
from .blocks import QuantizedTensor, from_blocks, plan_blocks, scales_from_layout, to_blocks
from .blocks import scales_to_layout as _layout
from .minifloat import MinifloatFormat

_E2M1 = MinifloatFormat(2, 1, specials="none", name="fp4_e2m1")
_E4M3 = MinifloatFormat(4, 3, specials="fn", overflow="saturate", name="fp8_e4m3")
_F32 = np.float32


@dataclass(frozen=True)
class NVFP4Format:
    """NVFP4 block format (see module docstring). ``tensor_scale`` enables the second level."""

    block: int = 16
    tensor_scale: bool = False
    partial: str = "allow"
    name: str = "nvfp4"
    is_block = True

    def __post_init__(self):
        object.__setattr__(self, "block", check_int(self.block, self.name, "block", 1))
        if self.partial not in ("allow", "error"):
            raise FormatError(f"{self.name}: partial must be 'allow' or 'error'")

    element = _E2M1
    scale_format = _E4M3

    @property
    def bits(self) -> int:
        return 4

    def bits_per_element(self, block_len: int | None = None) -> float:
        return 4 + 8 / self.block

    def storage_bits(self, shape, axis: int = -1) -> int:
        return self._plan_bits(plan_blocks(tuple(shape), axis, self.block, self.partial, self.name))

    def _plan_bits(self, plan) -> int:
        n = int(np.prod(plan.shape))
        groups = n // max(plan.shape[plan.axis], 1) * plan.n_blocks
        return n * 4 + groups * 8 + (32 if self.tensor_scale else 0)

    def _fast(self, x, axis: int, with_values: bool):
        """(codes, scale codes, values or None, plan, extra) via the fused float32 kernel."""
        arr = as_real_array(x, self.name)
        x32 = arr.astype(_F32)
        if not np.all(np.isfinite(x32)):
            i = int(np.flatnonzero(~np.isfinite(x32).reshape(-1))[0])
            raise FormatError(f"{self.name}: non-finite input (first at flat index {i})")
        plan = plan_blocks(x32.shape, axis, self.block, self.partial, self.name)
        moved = np.moveaxis(x32, plan.axis, -1)
        rows = np.ascontiguousarray(moved).reshape(math.prod(moved.shape[:-1]), moved.shape[-1])
        extra = {}
        t = _F32(0.0)
        if self.tensor_scale:
            t = _F32(np.abs(x32).max() if x32.size else 0) / _F32(448.0 * 6.0)
            t = t if t != 0 else _F32(1.0)
            extra["tensor_scale"] = t
        codes = np.empty(rows.shape, dtype=np.uint8)
        scales = np.empty((rows.shape[0], plan.n_blocks), dtype=np.uint8)
        vals = np.empty(rows.shape if with_values else (0, 0), dtype=np.float64)
        BK.nvfp4_blocks(
            rows, plan.size, t, _E4M3._value_table, _E2M1._value_table, codes, scales, vals
        )

        def back(a):
            return np.moveaxis(a.reshape(moved.shape[:-1] + (a.shape[-1],)), -1, plan.axis)

        return back(codes), back(scales), (back(vals) if with_values else None), plan, extra

    def encode(self, x, axis: int = -1) -> QuantizedTensor:
        """Codes, E4M3 scale codes (and the tensor scale in ``extra``) for ``x``."""
        codes, scales, _, plan, extra = self._fast(x, axis, with_values=False)
        return QuantizedTensor(format=self, codes=codes, scales=scales, plan=plan, extra=extra)

    def quantize(self, x, axis: int = -1) -> np.ndarray:
        return self._fast(x, axis, with_values=True)[2]

    def encode_reference(self, x, axis: int = -1) -> QuantizedTensor:
        """Vectorized numpy version of the recipe (the fused kernel is checked against it)."""
        arr = as_real_array(x, self.name)
        x32 = arr.astype(_F32)
        if not np.all(np.isfinite(x32)):
            i = int(np.flatnonzero(~np.isfinite(x32).reshape(-1))[0])
            raise FormatError(f"{self.name}: non-finite input (first at flat index {i})")
        plan = plan_blocks(x32.shape, axis, self.block, self.partial, self.name)
        xb = to_blocks(x32, plan)
        amax = np.abs(xb).max(axis=-1)
        bs = amax / _F32(6.0)
        extra = {}
        if self.tensor_scale:
            t = _F32(np.abs(x32).max() if x32.size else 0) / _F32(448.0 * 6.0)
            if t == 0:
                t = _F32(1.0)
            bs = bs / t
            extra["tensor_scale"] = t
        bs = np.clip(bs, _F32(2.0**-6), _F32(448.0))
        scodes = _E4M3.encode(bs)
        s32 = _E4M3.decode(scodes).astype(_F32)
        if self.tensor_scale:
            mult = (_F32(1.0) / extra["tensor_scale"]) / s32
        else:
            mult = _F32(1.0) / s32
        data = np.clip(xb * mult[..., None], _F32(-6.0), _F32(6.0))
        codes = _E2M1.encode(data)
        return QuantizedTensor(
            format=self,
            codes=from_blocks(codes, plan),
            scales=_layout(scodes, plan),
            plan=plan,
            extra=extra,
        )

    def scale_values(self, qt: QuantizedTensor) -> np.ndarray:
        return _E4M3.decode(qt.scales)

    def dequantize(self, qt: QuantizedTensor) -> np.ndarray:
        vals = to_blocks(_E2M1.decode(qt.codes), qt.plan)
        s = scales_from_layout(self.scale_values(qt), qt.plan)
        out = from_blocks(vals * s, qt.plan)
        if "tensor_scale" in qt.extra:
            out = out * float(qt.extra["tensor_scale"])
        return out

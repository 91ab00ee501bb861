"""Splitting a tensor into scale blocks along one axis, and the quantized-tensor container.

Granularity (``block``):
    int n      blocks of n consecutive elements along ``axis`` (per-group / MX / BFP blocks);
               a last partial block holds the remaining elements and gets its own scale
               (statistics use only the real elements; zero padding is used internally, which
               leaves max/absmax unchanged, and means divide by the true count)
    "channel"  one scale per slice along ``axis`` (the whole axis is one block)
    "tensor"   one scale for the whole tensor
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, field

import numpy as np

from .base import FormatError, check_int


@dataclass(frozen=True)
class Blocking:
    """How a tensor of ``shape`` is cut into blocks of ``size`` along ``axis`` (normalized)."""

    shape: tuple
    axis: int
    size: int
    n_blocks: int

    @property
    def length(self) -> int:
        """Length of the blocked axis (the whole flattened tensor for per-tensor scales)."""
        return self.n_blocks * self.size - self.pad

    @property
    def pad(self) -> int:
        return self.n_blocks * self.size - (
            self.shape[self.axis] if self.axis >= 0 else int(np.prod(self.shape))
        )


def plan_blocks(shape: tuple, axis: int, block, partial: str, where: str) -> Blocking:
    """Validate the block request for ``shape`` and return the plan (axis=-1 for per-tensor)."""
    if block == "tensor":
        n = int(np.prod(shape)) if shape else 1
        return Blocking(tuple(shape), -1, max(n, 1), 1)
    if len(shape) == 0:
        raise FormatError(f"{where}: block scaling needs at least a 1-D input, got a scalar")
    if not isinstance(axis, int | np.integer) or not -len(shape) <= axis < len(shape):
        raise FormatError(f"{where}: axis {axis!r} is out of range for a {len(shape)}-D input")
    ax = int(axis) % len(shape)
    length = shape[ax]
    if block == "channel":
        size = max(length, 1)
    elif isinstance(block, numbers.Integral) and not isinstance(block, bool | np.bool_):
        size = check_int(block, where, "block", 1)
    else:
        raise FormatError(f"{where}: block must be a positive int, 'channel' or 'tensor'")
    n_blocks = max(-(-length // size), 1) if length else 0
    if length % size and partial == "error":
        raise FormatError(
            f"{where}: axis {ax} has length {length}, not a multiple of the block size {size} "
            "(pass partial='allow' to scale the last partial block on its own)"
        )
    return Blocking(tuple(shape), ax, size, n_blocks)


def to_blocks(x: np.ndarray, plan: Blocking) -> np.ndarray:
    """Reshape to (..., n_blocks, size) with the blocked axis last, zero padded."""
    if plan.axis < 0:
        flat = x.reshape(1, -1)
        return flat.reshape(1, 1, -1) if flat.size else np.zeros((1, 1, 1), x.dtype)
    moved = np.moveaxis(x, plan.axis, -1)
    if plan.pad:
        widths = [(0, 0)] * (moved.ndim - 1) + [(0, plan.pad)]
        moved = np.pad(moved, widths)
    return moved.reshape(*moved.shape[:-1], plan.n_blocks, plan.size)


def block_counts(plan: Blocking) -> np.ndarray:
    """Number of real elements in each block (n_blocks,)."""
    counts = np.full(plan.n_blocks, plan.size, dtype=np.int64)
    if plan.pad:
        counts[-1] -= plan.pad
    return counts


def from_blocks(b: np.ndarray, plan: Blocking) -> np.ndarray:
    """Inverse of ``to_blocks`` (drops the padding)."""
    if plan.axis < 0:
        return b.reshape(-1)[: int(np.prod(plan.shape))].reshape(plan.shape)
    flat = b.reshape(*b.shape[:-2], plan.n_blocks * plan.size)
    flat = flat[..., : plan.shape[plan.axis]]
    return np.moveaxis(flat, -1, plan.axis)


def scales_to_layout(s: np.ndarray, plan: Blocking) -> np.ndarray:
    """Per-block array (..., n_blocks) -> the input's layout with the axis holding n_blocks."""
    if plan.axis < 0:
        return s.reshape((1,) * len(plan.shape))
    return np.moveaxis(s, -1, plan.axis)


def scales_from_layout(s: np.ndarray, plan: Blocking) -> np.ndarray:
    """Inverse of ``scales_to_layout``: (..., n_blocks, 1) ready to broadcast over blocks."""
    if plan.axis < 0:
        return np.asarray(s).reshape(1, 1, 1)
    return np.moveaxis(np.asarray(s), plan.axis, -1)[..., None]


@dataclass
class QuantizedTensor:
    """Codes and scales of a block-scaled tensor.

    Attributes:
        format: the block format that produced it (its ``dequantize`` is used).
        codes: element codes, same shape as the input (unpacked, one per element).
        scales: per-block scale *codes* in the scale format (e.g. E8M0 bytes for MX), laid out
            like the input with the blocked axis holding one entry per block.
        zero_points: per-block integer zero points (asymmetric formats) or None.
        plan: the blocking plan (axis, block size, number of blocks).
        extra: format-specific data (e.g. NVFP4's per-tensor float32 scale, BitMoD's
            per-group type index).
    """

    format: object
    codes: np.ndarray
    scales: np.ndarray
    plan: Blocking
    zero_points: np.ndarray | None = None
    extra: dict = field(default_factory=dict)

    @property
    def axis(self) -> int:
        return self.plan.axis

    @property
    def block_size(self) -> int:
        return self.plan.size

    @property
    def scale_values(self) -> np.ndarray:
        """Scales as float64 values."""
        return self.format.scale_values(self)

    def dequantize(self) -> np.ndarray:
        """Float64 values represented by this tensor."""
        return self.format.dequantize(self)

    def storage_bits(self) -> int:
        """Exact storage in bits: elements + scales + zero points (+ format extras)."""
        return self.format._plan_bits(self.plan)


def to_rows(x: np.ndarray, plan: Blocking) -> np.ndarray:
    """C-contiguous 2-D view (rows x blocked-axis length); per-tensor plans give one row."""
    if plan.axis < 0:
        return np.ascontiguousarray(x).reshape(1, -1)
    moved = np.moveaxis(x, plan.axis, -1)
    return np.ascontiguousarray(moved).reshape(math.prod(moved.shape[:-1]), moved.shape[-1])


def from_rows(a: np.ndarray, plan: Blocking) -> np.ndarray:
    """Inverse of ``to_rows`` for arrays whose last axis is the blocked axis or the blocks."""
    if plan.axis < 0:
        return (
            a.reshape(plan.shape)
            if a.shape[-1] != 1 or a.size != 1
            else a.reshape((1,) * len(plan.shape))
        )
    moved_shape = tuple(np.delete(np.asarray(plan.shape), plan.axis)) + (a.shape[-1],)
    return np.moveaxis(a.reshape(moved_shape), -1, plan.axis)

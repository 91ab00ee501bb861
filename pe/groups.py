"""Per-group side operands (scales, zero points) shared by the dequantizing PEs."""

from __future__ import annotations

import numpy as np

from .base import ceil_div
from .operands import Operand, PEError, check


def group_side(pe: str, side: dict, k: int, n: int, group: int, scale_op: Operand,
               zero_ok: bool) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """Validated (scales float64, zeros int64), each (ceil(k / group), n); defaults 1 and 0."""
    ng = ceil_div(k, group)
    scales, zeros = side.get("scales"), side.get("zeros")
    if scales is None:
        s = np.ones((ng, n))
    else:
        s = np.asarray(scales, dtype=np.float64)
        if s.shape != (ng, n):
            raise PEError(f"{pe}: scales must have shape (groups, N) = {(ng, n)}, got {s.shape}")
        s = check(pe, "scales", scale_op, s)
    if zeros is None:
        z = np.zeros((ng, n), dtype=np.int64)
    else:
        if not zero_ok:
            raise PEError(f"{pe}: zero points need an integer weight format")
        z = np.asarray(zeros)
        if z.shape != (ng, n):
            raise PEError(f"{pe}: zeros must have shape (groups, N) = {(ng, n)}, got {z.shape}")
        if z.dtype.kind not in "iu" and not np.all(z == np.floor(z)):
            raise PEError(f"{pe}: zero points must be integers")
        if np.abs(z).max(initial=0) > 1 << 16:
            raise PEError(f"{pe}: zero points must be within +-2^16")
        z = z.astype(np.int64)
    return s, z


def expand(per_group: np.ndarray, k: int, group: int) -> np.ndarray:
    """(groups, N) -> (k, N): the value of each element's group."""
    return np.repeat(per_group, group, axis=0)[:k]

"""GPTQ (Frantar et al. 2023, "GPTQ: Accurate Post-Training Quantization for Generative
Pre-trained Transformers", Algorithm 1) for the weights of every linear layer.

Per layer W (rows x K) with Hessian H = 2 X^T X of its calibration inputs (``calibrate``;
the unquantized model's inputs, one pass, not re-collected layer by layer): dead inputs
(H_jj = 0) get H_jj = 1 and zero weights; damping lambda = 0.01 mean(diag H) added to the
diagonal; U = upper Cholesky factor of H^-1. Columns are quantized left to right in blocks
of 128: q_j = Q(w_j), e_j = (w_j - q_j) / U_jj, the block's later columns get w -= e_j U_j,
and after the block the remaining columns get W -= E U[block, rest] (lazy batch update).
All rows at once (numpy); the Python loop runs over columns only.

Quantizer: the weight format's scales (and zero points) are fixed from the original,
un-updated W (``Grid``: per channel, per group of 128, MX / NVFP4 blocks alike, the
"static groups" variant), and each column is rounded elementwise with the format's element
quantizer under them, in the format's own arithmetic (NVFP4 multiplies float32 inputs by a
float32 reciprocal of its scales). Hence with no error feedback GPTQ is exactly the format's
round to nearest (checked when the grid is built). Formats without one element format
(BitMoD's per-group type mixture ``bitmod_fp4``) are rejected.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import scipy.linalg

import hwsim.formats as F

from ..qgemm import QOperand, quantize_rows
from .calibrate import GROUPS, CalibStats
from .loader import LlamaWeights

DAMP = 0.01  # lambda / mean(diag H) (Frantar et al. 2023, Sec. 4 "Step 3": 1% of the average)
BLOCK = 128  # columns per lazy-batch block (Frantar et al. 2023, Sec. 4 "Step 2": B = 128)


@dataclass(frozen=True, eq=False)
class Grid:
    """Elementwise quantizer of one weight matrix with fixed scales: element format
    ``element``, ``scales`` / ``zeros`` (rows x blocks), K-block length ``block``."""

    element: object
    scales: np.ndarray
    zeros: np.ndarray | None
    block: int
    #: float32 multipliers (rows x blocks) for formats that scale in float32 by a reciprocal
    #: (NVFP4: x * ((1 / tensor_scale) / block_scale)); None: divide by ``scales`` in float64
    mult32: np.ndarray | None = None

    def _scaled(self, w: np.ndarray, g) -> np.ndarray:
        """w in element units under block(s) g (the format's own arithmetic)."""
        if self.mult32 is not None:
            return np.asarray(w, np.float32) * self.mult32[:, g]
        s = self.scales[:, g]
        z = 0.0 if self.zeros is None else self.zeros[:, g]
        return w / np.where(s == 0, 1.0, s) + z

    def elements(self, w: np.ndarray, j: int) -> np.ndarray:
        """Element values (rows,) of column j for values w (rows,)."""
        return np.asarray(self.element.quantize(self._scaled(w, j // self.block)), np.float64)

    def values(self, el: np.ndarray, j: int) -> np.ndarray:
        """Dequantized values (rows,) of element values ``el`` of column j."""
        g = j // self.block
        z = 0.0 if self.zeros is None else self.zeros[:, g]
        return (el - z) * self.scales[:, g]

    def column(self, w: np.ndarray, j: int) -> np.ndarray:
        """Quantized column j (rows,) of values w (rows,)."""
        return self.values(self.elements(w, j), j)

    def matrix(self, w: np.ndarray) -> np.ndarray:
        """All columns of w (rows x K) at once (elementwise, so the same as ``column``)."""
        k = w.shape[1]
        g = np.arange(k) // self.block
        s = self.scales[:, g]
        z = 0.0 if self.zeros is None else self.zeros[:, g]
        el = np.asarray(self.element.quantize(self._scaled(w, g)), np.float64)
        return (el - z) * s


def grid_for(wfmt, w: np.ndarray) -> tuple[Grid, QOperand]:
    """The fixed-scale quantizer of ``wfmt`` (resolved weight format) for w (rows x K),
    checked against the format's own round to nearest of w, and that RTN operand."""
    w = np.asarray(w, dtype=np.float64)
    if wfmt is None:
        raise ValueError("GPTQ needs a weight format (weight_fmt)")
    op = quantize_rows(wfmt, w)
    fmt = F.get(wfmt) if isinstance(wfmt, str) else wfmt
    if not getattr(fmt, "is_block", False):
        el, scales, zeros, block = fmt, np.ones((len(w), 1)), None, w.shape[1]
    elif op.elements is None or not hasattr(fmt, "element"):
        raise ValueError(
            f"GPTQ needs a weight format with one element format and block scales; "
            f"{op.fmt} has none (use a single-type variant)"
        )
    else:
        el, zeros, block = fmt.element, op.zeros, op.block
        scales = np.ldexp(op.scales, getattr(el, "frac_bits", 0) or 0)
    grid = Grid(el, scales, zeros, block, _float32_multipliers(fmt, w))
    if not np.array_equal(grid.matrix(w), op.values):
        raise ValueError(f"{op.fmt}: its quantizer is not elementwise under fixed block scales")
    return grid, op


def _float32_multipliers(fmt, w: np.ndarray) -> np.ndarray | None:
    """NVFP4's element units: float32 x times the float32 1 / block scale (with a tensor
    scale t: (1 / t) / block scale), as the format computes them (a float64 division
    differs at near-ties); None for formats that divide by their scale."""
    if not isinstance(fmt, F.NVFP4Format):
        return None
    qt = fmt.encode(w, axis=1)
    s32 = np.asarray(fmt.scale_values(qt), np.float32)
    one = np.float32(1.0)
    inv = one / np.float32(qt.extra["tensor_scale"]) if "tensor_scale" in qt.extra else one
    return np.broadcast_to(inv / s32, (len(w), s32.shape[-1])).copy()


def inverse_upper_cholesky(h: np.ndarray) -> np.ndarray:
    """Upper-triangular U with H^-1 = U^T U, from one Cholesky factorization: with J the
    reversal permutation and J H J = L L^T, U = J L^-1 J."""
    rev = h[::-1, ::-1]
    lo = np.linalg.cholesky(rev)
    linv = scipy.linalg.solve_triangular(lo, np.eye(len(h)), lower=True)
    return np.ascontiguousarray(linv[::-1, ::-1])


def gptq(w: np.ndarray, hessian: np.ndarray, wfmt, damp: float = DAMP,
         block: int = BLOCK) -> QOperand:  # fmt: skip
    """The GPTQ-quantized operand of w (rows x K) with ``hessian`` (K x K): values, element
    values and the fixed scales, in ``qgemm.QOperand`` form (PE paths take it as is)."""
    if not damp > 0:
        raise ValueError(f"GPTQ damping must be > 0, got {damp!r}")
    if isinstance(block, bool) or not isinstance(block, int) or block < 1:
        raise ValueError(f"GPTQ block must be a positive integer, got {block!r}")
    w = np.array(w, dtype=np.float64)
    h = np.array(hessian, dtype=np.float64)
    k = w.shape[1]
    if h.shape != (k, k):
        raise ValueError(f"Hessian shape {h.shape} does not match K = {k}")
    dead = np.diag(h) == 0
    h[dead, dead] = 1.0
    w[:, dead] = 0.0
    grid, op = grid_for(wfmt, w)
    h[np.diag_indices(k)] += damp * np.mean(np.diag(h))
    u = inverse_upper_cholesky(h)
    q = np.empty_like(w)
    el = np.empty_like(w)
    for i1 in range(0, k, block):
        i2 = min(i1 + block, k)
        w1 = w[:, i1:i2]  # a view: updates land in w
        err = np.empty((len(w), i2 - i1))
        for j in range(i2 - i1):
            el[:, i1 + j] = grid.elements(w1[:, j], i1 + j)
            q[:, i1 + j] = grid.values(el[:, i1 + j], i1 + j)
            e = (w1[:, j] - q[:, i1 + j]) / u[i1 + j, i1 + j]
            w1[:, j:] -= np.outer(e, u[i1 + j, i1 + j : i2])
            err[:, j] = e
        w[:, i2:] -= err @ u[i1:i2, i2:]
    if op.elements is None:  # element formats without scales: the values are the elements
        return dataclasses.replace(op, dequantized=q)
    frac = getattr(grid.element, "frac_bits", 0) or 0
    return dataclasses.replace(op, dequantized=q, elements=np.ldexp(el, frac))


def apply(weights: LlamaWeights, wfmt, stats: CalibStats, damp: float = DAMP,
          block: int = BLOCK) -> tuple[LlamaWeights, dict]:  # fmt: skip
    """(weights with the GPTQ values, {(block, layer): QOperand}): the forward must use the
    operands as they are (``model.Online.quantized``): re-quantizing the values would derive
    new scales from them."""
    blocks, ops = [], {}
    for blk, st in zip(weights.blocks, stats.blocks, strict=True):
        b = dict(blk)
        for g, layers in GROUPS.items():
            for c in layers:  # one run per matrix (per-tensor scales, e.g. NVFP4's)
                op = gptq(blk[c], 2.0 * st[g].gram, wfmt, damp, block)
                ops[(len(blocks), c)] = op
                b[c] = op.values.astype(np.float32)
        blocks.append(b)
    return dataclasses.replace(weights, blocks=tuple(blocks)), ops

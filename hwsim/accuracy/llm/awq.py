"""AWQ-style activation-aware scale search (Lin et al. 2024, "AWQ: Activation-aware Weight
Quantization for LLM Compression and Acceleration", Sec. 3.2-3.3): per input group of a block
(``calibrate.GROUPS``), s = mean|X|^a normalized by sqrt(max(s) min(s)), a from the grid
0, 1/n, ..., (n-1)/n; the a minimizing the consumers' output error on the calibration inputs,
sum over rows of e G e^T with e = W - Q(W diag(s)) diag(1/s) (weight-only, as in the paper),
is folded into the model (``migrate``). a = 0 (s = 1) is plain round to nearest, so the
chosen error is never above RTN's; ties keep the smaller a. o_proj's statistics are tied
across the query heads of a KV head (mean).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from ..qgemm import quantize_rows
from .calibrate import GROUPS, CalibStats
from .loader import LlamaWeights
from .migrate import fold_scales, gqa_tie, row_errors

GRID = 20  # grid points of a in [0, 1) (Lin et al. 2024, Sec. 3.3 / reference code n_grid=20)


def awq_scales(absmean: np.ndarray, a: float) -> np.ndarray:
    """s = mean|X|^a / sqrt(max * min) (channels with mean 0 use the smallest positive)."""
    m = np.asarray(absmean, dtype=np.float64)
    pos = m[m > 0]
    m = np.where(m > 0, m, pos.min() if pos.size else 1.0)
    s = m**a
    return s / np.sqrt(s.max() * s.min())


def group_error(ws: list, s: np.ndarray, wfmt, gram: np.ndarray) -> float:
    """Output error of the consumers ``ws`` quantized with scales s (module docstring)."""
    total = 0.0
    for w in ws:
        w64 = np.asarray(w, dtype=np.float64)
        eff = quantize_rows(wfmt, w64 * s).values / s
        total += float(row_errors(w64 - eff, gram).sum())
    return total


def search(ws: list, absmean: np.ndarray, wfmt, gram: np.ndarray, grid: int = GRID):
    """(best a, its scales, errors over the grid)."""
    if isinstance(grid, bool) or not isinstance(grid, int) or grid < 1:
        raise ValueError(f"AWQ grid must be a positive integer, got {grid!r}")
    alphas = np.arange(grid) / grid
    errs = [group_error(ws, awq_scales(absmean, a), wfmt, gram) for a in alphas]
    k = int(np.argmin(errs))
    return float(alphas[k]), awq_scales(absmean, alphas[k]), errs


def apply(weights: LlamaWeights, wfmt, stats: CalibStats, grid: int = GRID) -> LlamaWeights:
    """The scaled weights (``wfmt``: the resolved weight format)."""
    cfg = weights.config
    blocks = []
    for blk, st in zip(weights.blocks, stats.blocks, strict=True):
        b = dict(blk)
        for g in GROUPS:
            mean = st[g].absmean
            if g == "o_in":
                mean = gqa_tie(mean, cfg, np.mean)
            _, s, _ = search([blk[c] for c in GROUPS[g]], mean, wfmt, st[g].gram, grid)
            b = fold_scales(b, g, s, cfg)
        blocks.append(b)
    return dataclasses.replace(weights, blocks=tuple(blocks))

"""Clipping search for weights: per output channel, the clip ratio r from a grid (1.0 first)
minimizing the output error e G e^T on the calibration inputs (e = W_row - Q(clip(W_row)),
G = X^T X of the layer input, ``calibrate``), where clip limits every K-block of the row (the
weight format's scale block: the row, a group, an MX block) to r times that block's max |w|
before quantizing, so the block scale shrinks by r. The clipping grid search of AWQ (Lin et
al. 2024, Sec. 3.3), done per output channel. r = 1 is round to nearest: the chosen error is
never above RTN's (ties keep r = 1).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from ..qgemm import quantize_rows
from .calibrate import GROUP_OF, CalibStats
from .loader import LINEAR, LlamaWeights
from .migrate import row_errors

RATIOS = tuple(1.0 - 0.05 * i for i in range(10))  # 1.00 .. 0.55 (AWQ's clip grid spans 1..0.5)


def clip_blocks(w: np.ndarray, block: int, r: float) -> np.ndarray:
    """w (rows x K) with every K-block of ``block`` elements clipped to r * its max |w|."""
    rows, k = w.shape
    nb = -(-k // block)
    pad = np.zeros((rows, nb * block))
    pad[:, :k] = w
    lim = r * np.abs(pad.reshape(rows, nb, block)).max(axis=2)
    lim = np.repeat(lim, block, axis=1)[:, :k]
    return np.clip(w, -lim, lim)


def clip_layer(w: np.ndarray, wfmt, gram: np.ndarray, ratios=RATIOS):
    """(clipped float weights whose RTN is the chosen quantization, chosen r per row)."""
    ratios = tuple(float(r) for r in ratios)
    if not ratios or ratios[0] != 1.0 or not all(0 < r <= 1 for r in ratios):
        raise ValueError(f"clip ratios must start with 1.0 and lie in (0, 1], got {ratios}")
    w = np.asarray(w, dtype=np.float64)
    block = quantize_rows(wfmt, w[:1]).block
    best_err = np.full(len(w), np.inf)
    best = w.copy()
    chosen = np.ones(len(w))
    for r in ratios:
        wc = clip_blocks(w, block, r) if r < 1 else w
        err = row_errors(w - quantize_rows(wfmt, wc).values, gram)
        better = err < best_err
        best_err[better], chosen[better] = err[better], r
        best[better] = wc[better]
    return best, chosen


def apply(weights: LlamaWeights, wfmt, stats: CalibStats, ratios=RATIOS) -> LlamaWeights:
    """Weights clipped per output channel (quantized later with ``wfmt`` as usual)."""
    blocks = []
    for blk, st in zip(weights.blocks, stats.blocks, strict=True):
        b = dict(blk)
        for short in LINEAR:
            wc, _ = clip_layer(blk[short], wfmt, st[GROUP_OF[short]].gram, ratios)
            b[short] = wc.astype(np.float32)
        blocks.append(b)
    return dataclasses.replace(weights, blocks=tuple(blocks))

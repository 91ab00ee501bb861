"""SmoothQuant (Xiao et al. 2023, "SmoothQuant: Accurate and Efficient Post-Training
Quantization for Large Language Models", Eq. 4): per input channel j of a GEMM,
s_j = max|X_j|^alpha / max|W_j|^(1 - alpha), X / s into the producer, W diag(s) into the
weights (``migrate``), for all four inputs of every block (q/k/v, o, gate/up, down; o with
scales tied across the query heads of a KV head by the max of X and of W over them).
max|X_j| from the calibration text (``calibrate``). Channels with max|X_j| = 0 or
max|W_j| = 0 keep s_j = 1.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from .calibrate import GROUPS, CalibStats
from .loader import LlamaWeights
from .migrate import consumer_absmax, fold_scales, gqa_tie

ALPHA = 0.5  # migration strength (Xiao et al. 2023, Sec. 4: 0.5 suits most models)


def smooth_scales(xmax: np.ndarray, wmax: np.ndarray, alpha: float) -> np.ndarray:
    """s_j = xmax_j^alpha / wmax_j^(1 - alpha) (1 where either is 0)."""
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"SmoothQuant alpha must lie in [0, 1], got {alpha!r}")
    xmax, wmax = np.asarray(xmax, np.float64), np.asarray(wmax, np.float64)
    ok = (xmax > 0) & (wmax > 0)
    s = np.ones_like(xmax)
    s[ok] = xmax[ok] ** alpha / wmax[ok] ** (1.0 - alpha)
    return s


def apply(weights: LlamaWeights, stats: CalibStats, alpha: float = ALPHA) -> LlamaWeights:
    """The smoothed weights (float model unchanged up to float32 rounding)."""
    cfg = weights.config
    blocks = []
    for blk, st in zip(weights.blocks, stats.blocks, strict=True):
        b = dict(blk)
        for g in GROUPS:
            xmax, wmax = st[g].absmax, consumer_absmax(blk, g)
            if g == "o_in":
                xmax, wmax = gqa_tie(xmax, cfg), gqa_tie(wmax, cfg)
            b = fold_scales(b, g, smooth_scales(xmax, wmax, alpha), cfg)
        blocks.append(b)
    return dataclasses.replace(weights, blocks=tuple(blocks))

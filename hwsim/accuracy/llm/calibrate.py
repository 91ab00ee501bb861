"""Calibration statistics of the linear layers' inputs on the held-out calibration text
(``text.calibration_text``, never the evaluation text), from the unquantized model.

Per block, the four distinct GEMM inputs (``GROUPS``: q/k/v share one, gate/up share one):
per input channel j the max |x_j| (SmoothQuant) and mean |x_j| (AWQ), and the Gram matrix
G = X^T X (K x K, float32 accumulate; GPTQ's Hessian is 2G, clip and AWQ measure the output
error e G e^T of a weight-row error e). Windows as in the perplexity: the first ``tokens``
calibration tokens cut into windows of ``window`` tokens, each from an empty context.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from .loader import LlamaWeights, load_model
from .model import Llama
from .text import calibration_text
from .tokenizer import encode

# input group -> the linear layers that read it (the first one is where it is recorded)
GROUPS = {
    "attn_in": ("q_proj", "k_proj", "v_proj"),
    "o_in": ("o_proj",),
    "ffn_in": ("gate_proj", "up_proj"),
    "down_in": ("down_proj",),
}
GROUP_OF = {short: g for g, layers in GROUPS.items() for short in layers}
DEFAULT_TOKENS = 2048  # calibration tokens (4 windows of 512; the calibration text has 10,443)


@dataclass(frozen=True, eq=False)
class InputStats:
    """Statistics of one GEMM input over ``count`` calibration tokens (K channels)."""

    absmax: np.ndarray  # (K,) float64
    absmean: np.ndarray  # (K,) float64
    gram: np.ndarray  # (K, K) float32, X^T X
    count: int


@dataclass(frozen=True, eq=False)
class CalibStats:
    """``blocks[i][group]``: ``InputStats`` of that input of block i."""

    blocks: tuple
    tokens: int
    window: int


class _Recorder(Llama):
    """The unquantized forward, accumulating the statistics of every group's input."""

    def __init__(self, weights: LlamaWeights):
        super().__init__(weights)
        self.acc: dict = {}

    def linears(self, x, i, shorts):
        for short in shorts:
            if GROUPS[GROUP_OF[short]][0] == short:
                self._record(x, i, GROUP_OF[short])
        return super().linears(x, i, shorts)

    def _record(self, x, i, g):
        x2 = x.reshape(-1, x.shape[-1])
        a = np.abs(x2, dtype=np.float64)
        old = self.acc.get((i, g))
        new = (a.max(axis=0), a.sum(axis=0), x2.T @ x2, len(x2))
        if old is not None:
            new = (np.maximum(old[0], new[0]), old[1] + new[1], old[2] + new[2],
                   old[3] + new[3])  # fmt: skip
        self.acc[(i, g)] = new


def collect_stats(weights: LlamaWeights, ids: np.ndarray, window: int) -> CalibStats:
    """Statistics of the forward of ``weights`` on token ids (1-D), windows of ``window``."""
    ids = np.asarray(ids)
    if ids.ndim != 1 or len(ids) < 2:
        raise ValueError("calibration ids must be a 1-D array of at least 2 tokens")
    rec = _Recorder(weights)
    full = len(ids) // window * window
    if full:
        rec.hidden(ids[:full].reshape(-1, window))
    if full < len(ids):
        rec.hidden(ids[full:][None])
    blocks = tuple(
        {g: InputStats(m, s / n, gram, n) for g in GROUPS for (m, s, gram, n) in [rec.acc[(i, g)]]}
        for i in range(weights.config.layers)
    )
    return CalibStats(blocks, len(ids), window)


def truncated(weights: LlamaWeights, layers: int) -> LlamaWeights:
    """The first ``layers`` blocks of a model (for fast tests)."""
    if not 1 <= layers <= weights.config.layers:
        raise ValueError(f"layers must lie in 1..{weights.config.layers}, got {layers}")
    cfg = dataclasses.replace(weights.config, layers=layers)
    return dataclasses.replace(weights, config=cfg, blocks=weights.blocks[:layers])


@lru_cache(maxsize=2)
def calibration_stats(
    model: str = "smollm2-135m", tokens: int = DEFAULT_TOKENS, window: int = 512, layers=None
) -> CalibStats:
    """``collect_stats`` of the loaded model (``layers``: only the first blocks) on the first
    ``tokens`` calibration tokens; cached per process (about one forward pass)."""
    w = load_model(model)
    if layers is not None:
        w = truncated(w, layers)
    ids = np.asarray(encode(calibration_text(), model))
    if not 2 <= tokens <= len(ids):
        raise ValueError(f"calibration tokens must lie in 2..{len(ids)}, got {tokens}")
    return collect_stats(w, ids[:tokens], window)

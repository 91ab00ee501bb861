"""Per-input-channel scale migration, shared by SmoothQuant and AWQ: for an input group
(``calibrate.GROUPS``) with scales s (K,), every consumer's weight columns are multiplied by
s_j and the producer of the input divides channel j by s_j, so the float model is unchanged:
(x / s) (W diag(s))^T = x W^T.

Producers: attn_in -> the attention RMSNorm gain, ffn_in -> the FFN RMSNorm gain,
down_in -> the rows of up_proj (the down input silu(gate) * up is linear in up),
o_in -> the rows of v_proj (attention output is linear in V). Under grouped-query attention
one V row feeds ``heads / kv_heads`` query heads, so o_in scales must be equal across the
query heads that share a KV head (``gqa_tie`` makes statistics so; ``fold_scales`` checks).
Folding is computed in float64 and rounded to float32 once.
"""

from __future__ import annotations

import numpy as np

from .calibrate import GROUPS
from .loader import LlamaConfig

F32 = np.float32


def gqa_tie(v: np.ndarray, cfg: LlamaConfig, reduce=np.max) -> np.ndarray:
    """A per-o_in-channel array (heads * head_dim,) made equal across the query heads of each
    KV head by ``reduce`` over them."""
    g = cfg.heads // cfg.kv_heads
    t = reduce(np.asarray(v, dtype=np.float64).reshape(cfg.kv_heads, g, cfg.head_dim), axis=1)
    return np.repeat(t[:, None, :], g, axis=1).reshape(-1)


def _kv_scales(s: np.ndarray, cfg: LlamaConfig) -> np.ndarray:
    g = cfg.heads // cfg.kv_heads
    r = s.reshape(cfg.kv_heads, g, cfg.head_dim)
    if not np.array_equal(r, np.broadcast_to(r[:, :1], r.shape)):
        raise ValueError("o_proj input scales differ between query heads sharing a KV head")
    return r[:, 0].reshape(-1)


def fold_scales(block: dict, group: str, s: np.ndarray, cfg: LlamaConfig) -> dict:
    """A new block dict with the scales s (K,) of ``group`` migrated (module docstring)."""
    s = np.asarray(s, dtype=np.float64)
    if not (np.all(np.isfinite(s)) and np.all(s > 0)):
        raise ValueError(f"{group}: migration scales must be finite and > 0")
    b = dict(block)
    for c in GROUPS[group]:
        b[c] = (b[c].astype(np.float64) * s).astype(F32)
    if group == "attn_in":
        b["attn_norm"] = (b["attn_norm"].astype(np.float64) / s).astype(F32)
    elif group == "ffn_in":
        b["ffn_norm"] = (b["ffn_norm"].astype(np.float64) / s).astype(F32)
    elif group == "down_in":
        b["up_proj"] = (b["up_proj"].astype(np.float64) / s[:, None]).astype(F32)
    elif group == "o_in":
        sv = _kv_scales(s, cfg)
        b["v_proj"] = (b["v_proj"].astype(np.float64) / sv[:, None]).astype(F32)
    else:
        raise ValueError(f"unknown input group {group!r}; groups: {', '.join(GROUPS)}")
    return b


def consumer_absmax(block: dict, group: str) -> np.ndarray:
    """max |W_j| over all rows of the group's consumers, per input channel j (float64)."""
    return np.max([np.abs(block[c]).max(axis=0) for c in GROUPS[group]], axis=0).astype(np.float64)


def row_errors(dw: np.ndarray, gram: np.ndarray) -> np.ndarray:
    """Per output row, the squared output error ||X e||^2 = e G e^T of weight-row errors
    dw (rows x K) on the calibration inputs X with Gram matrix G = X^T X (float64)."""
    d = np.asarray(dw, dtype=np.float32)
    return np.einsum("ij,ij->i", d @ np.asarray(gram, dtype=np.float32), d, dtype=np.float64)

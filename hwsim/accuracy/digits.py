"""A small MLP on scikit-learn's bundled 8x8 digits (no download), trained deterministically,
and its accuracy when both GEMMs run on quantized operands, optionally executed by a PE model.

Layers: ``fc1`` (64 -> 64, ReLU) and ``fc2`` (64 -> 10); inputs are pixels / 16 in [0, 1].
Activations are quantized per row (test image) along K with ``act_format``, weights along K
per output channel with ``weight_format`` (each format's granularity decides per tensor /
channel / group); ``layer_formats`` overrides them per layer, e.g.
``{"fc2": ["int8_channel", "int8_tensor"]}`` (None = full precision for that layer).

GEMM semantics (``hwsim.accuracy.qgemm``): by default the reference, the exactly rounded
product of the dequantized operands (``exact_gemm``: one rounding per output, exact). With
``pe=`` every GEMM is executed by that PE model's fast path (``hwsim.pe``) on the element
values, with its accumulator width, overflow and rounding, and the scales applied by an exact
epilogue (or by the PE itself for mixpe / dequant_mac); an exact PE (``int_mac`` with its
INT32 accumulator on INT8 operands) reproduces the reference bit for bit. Biases and ReLU
are float64. Timing on this 2-core VM (warm): reference ~0.05 s per evaluation, PE paths
0.02-0.3 s (MiniLM numbers in README's accuracy section).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from .qgemm import GemmRunner, exact_gemm, none_format

LAYERS = ("fc1", "fc2")


@dataclass(frozen=True)
class DigitsMLP:
    """Weights of a 64-hidden-10 ReLU MLP (float64)."""

    w1: np.ndarray  # (64, hidden)
    b1: np.ndarray
    w2: np.ndarray  # (hidden, 10)
    b2: np.ndarray
    test_x: np.ndarray
    test_y: np.ndarray


def _load(seed: int):
    from sklearn.datasets import load_digits  # bundled with scikit-learn: no download

    d = load_digits()
    x = d.data.astype(np.float64) / 16.0
    y = d.target.astype(np.int64)
    order = np.random.default_rng(seed).permutation(len(y))
    split = int(0.7 * len(y))
    tr, te = order[:split], order[split:]
    return x[tr], y[tr], x[te], y[te]


@lru_cache(maxsize=4)
def train_digits_mlp(hidden: int = 64, epochs: int = 300, seed: int = 0) -> DigitsMLP:
    """Full-batch Adam on cross-entropy; deterministic for a given seed (~1-3 s; cached per
    process, so treat the returned arrays as read-only)."""
    xtr, ytr, xte, yte = _load(seed)
    rng = np.random.default_rng(seed)
    params = [
        rng.standard_normal((64, hidden)) * np.sqrt(2 / 64),
        np.zeros(hidden),
        rng.standard_normal((hidden, 10)) * np.sqrt(2 / hidden),
        np.zeros(10),
    ]
    m = [np.zeros_like(p) for p in params]
    v = [np.zeros_like(p) for p in params]
    onehot = np.eye(10)[ytr]
    lr, b1, b2, eps = 0.01, 0.9, 0.999, 1e-8
    for t in range(1, epochs + 1):
        w1, c1, w2, c2 = params
        h = np.maximum(xtr @ w1 + c1, 0)
        z = h @ w2 + c2
        p = np.exp(z - z.max(axis=1, keepdims=True))
        p /= p.sum(axis=1, keepdims=True)
        dz = (p - onehot) / len(ytr)
        dh = (dz @ w2.T) * (h > 0)
        grads = [xtr.T @ dh, dh.sum(0), h.T @ dz, dz.sum(0)]
        for i, g in enumerate(grads):
            m[i] = b1 * m[i] + (1 - b1) * g
            v[i] = b2 * v[i] + (1 - b2) * g * g
            mh, vh = m[i] / (1 - b1**t), v[i] / (1 - b2**t)
            params[i] = params[i] - lr * mh / (np.sqrt(vh) + eps)
    return DigitsMLP(*params, xte, yte)


def _runner(weight_format, act_format, gemm, pe, pe_params, layer_formats) -> GemmRunner:
    return GemmRunner(weight_format, act_format, pe, pe_params, layer_formats, LAYERS, gemm)


def digits_logits(
    model: DigitsMLP,
    weight_format: str | None = None,
    act_format: str | None = None,
    gemm: Callable[[np.ndarray, np.ndarray], np.ndarray] = exact_gemm,
    *,
    pe=None,
    pe_params=None,
    layer_formats=None,
    stats: dict | None = None,
) -> np.ndarray:
    """Logits (test images x 10, float64) with the GEMMs quantized / executed as the module
    docstring says. ``gemm`` is the reference GEMM (used when ``pe`` is None and for layers
    left unquantized); ``stats``, if a dict, is filled with what the PE path did
    (``GemmStats.as_dict``: gemms, pe_calls, pe_cycles, overflowed_layers,
    nonfinite_layers)."""
    run = _runner(weight_format, act_format, gemm, pe, pe_params, layer_formats)
    h = np.maximum(run.matmul(model.test_x, model.w1.T, "fc1") + model.b1, 0)
    z = run.matmul(h, model.w2.T, "fc2") + model.b2
    if stats is not None:
        stats.update(run.stats.as_dict())
    return z


def evaluate_digits(
    model: DigitsMLP,
    weight_format: str | None = None,
    act_format: str | None = None,
    gemm: Callable[[np.ndarray, np.ndarray], np.ndarray] = exact_gemm,
    *,
    pe=None,
    pe_params=None,
    layer_formats=None,
    stats: dict | None = None,
) -> float:
    """Top-1 test accuracy (fraction of the 540 test images) with both GEMMs on quantized
    operands (formats by preset name), on the reference GEMM or on PE ``pe`` (a kind such as
    ``"int_mac"``, with ``pe_params`` a dict or JSON string, e.g. ``{"acc_bits": 16}``);
    see ``digits_logits``."""
    z = digits_logits(
        model, weight_format, act_format, gemm,
        pe=pe, pe_params=pe_params, layer_formats=layer_formats, stats=stats,
    )  # fmt: skip
    return float(np.mean(z.argmax(axis=1) == model.test_y))


def digits_layers(model: DigitsMLP):
    """The quantizable layers: DataFrame with layer, k (inputs), n (outputs),
    weight_elements (k * n, for storage budgets: bits = elements x bits per element)."""
    import pandas as pd

    rows = [(name, *w.shape, w.size) for name, w in zip(LAYERS, (model.w1, model.w2), strict=True)]
    return pd.DataFrame(rows, columns=["layer", "k", "n", "weight_elements"])


def digits_layer_sensitivity(
    model: DigitsMLP, weight_format: str | None, act_format: str | None = None, *,
    pe=None, pe_params=None,
):  # fmt: skip
    """Per-layer sensitivity: accuracy with only that layer quantized (weight_format,
    act_format; the other layer full precision on the reference GEMM) and ``drop`` =
    full-precision accuracy - that accuracy (an ILP error cost; can be <= 0 on 540 images).
    DataFrame: the ``digits_layers`` columns plus accuracy, drop."""
    wf, af = none_format(weight_format), none_format(act_format)
    df = digits_layers(model)
    full = evaluate_digits(model)
    acc = [
        evaluate_digits(model, pe=pe, pe_params=pe_params, layer_formats={name: (wf, af)})
        for name in df["layer"]
    ]
    df["accuracy"] = acc
    df["drop"] = full - df["accuracy"]
    return df

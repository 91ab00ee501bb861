"""A small MLP on scikit-learn's bundled 8x8 digits (no download), trained deterministically,
and its accuracy when every GEMM runs on quantized operands.

Quantized GEMM semantics: activations are quantized per row (token) and weights per output
channel with the given formats, and the product of the dequantized values is accumulated
exactly (``math.fsum``) with one rounding per output. Each product is exact in float64 when
the two operands' significands total <= 53 bits (element formats, power-of-two scales such as
MX, fp16-scaled INT4/INT8); with fp32 scales it is rounded once. A PE datapath can be plugged
in with ``gemm=`` (a callable ``(Xq, Wq) -> Y``) to include its accumulator behaviour.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

import hwsim.formats as F


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


def _quantize(fmt_name: str | None, x: np.ndarray, axis: int) -> np.ndarray:
    if fmt_name is None:
        return x
    fmt = F.get(fmt_name)
    if getattr(fmt, "is_block", False):
        return fmt.quantize(x, axis=axis)
    return fmt.quantize(x)


def exact_gemm(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Matrix product with each dot product summed exactly (``math.fsum``, one rounding).

    Products are float64 (exact for quantized operands whose significands total <= 53
    bits). Loops over output columns in Python: meant for small evaluation models.
    """
    import math

    out = np.empty((a.shape[0], b.shape[1]))
    for j in range(b.shape[1]):
        prods = a * b[:, j]
        out[:, j] = [math.fsum(r) for r in prods]
    return out


def evaluate_digits(
    model: DigitsMLP,
    weight_format: str | None = None,
    act_format: str | None = None,
    gemm: Callable[[np.ndarray, np.ndarray], np.ndarray] = exact_gemm,
) -> float:
    """Top-1 test accuracy with both GEMMs on quantized operands (formats by preset name;
    block formats scale weights along K per output channel, activations along K per row)."""
    x = model.test_x
    h = gemm(_quantize(act_format, x, -1), _quantize(weight_format, model.w1, 0)) + model.b1
    h = np.maximum(h, 0)
    z = gemm(_quantize(act_format, h, -1), _quantize(weight_format, model.w2, 0)) + model.b2
    return float(np.mean(z.argmax(axis=1) == model.test_y))

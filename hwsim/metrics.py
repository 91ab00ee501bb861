"""Quantization error metrics (pure functions on float64 arrays)."""

from __future__ import annotations

import numpy as np


def mse(x, q) -> float:
    """Mean squared error between reference ``x`` and quantized ``q``."""
    x, q = np.asarray(x, np.float64), np.asarray(q, np.float64)
    if x.shape != q.shape:
        raise ValueError(f"mse: shapes differ: {x.shape} vs {q.shape}")
    return float(np.mean((x - q) ** 2))


def sqnr_db(x, q) -> float:
    """Signal-to-quantization-noise ratio in dB: 10 log10(sum x^2 / sum (x - q)^2)."""
    x, q = np.asarray(x, np.float64), np.asarray(q, np.float64)
    noise = float(np.sum((x - q) ** 2))
    signal = float(np.sum(x**2))
    if noise == 0:
        return float("inf")
    return 10.0 * np.log10(signal / noise)


def kl_divergence(x, q, bins: int = 256) -> float:
    """KL(P_x || P_q) in nats between histograms over the joint range (a distribution-shape
    proxy; approximate by construction, depends on ``bins``)."""
    x, q = np.asarray(x, np.float64).ravel(), np.asarray(q, np.float64).ravel()
    lo, hi = min(x.min(), q.min()), max(x.max(), q.max())
    if hi == lo:
        return 0.0
    p, _ = np.histogram(x, bins=bins, range=(lo, hi))
    r, _ = np.histogram(q, bins=bins, range=(lo, hi))
    p = (p + 1e-12) / (p.sum() + 1e-12 * bins)
    r = (r + 1e-12) / (r.sum() + 1e-12 * bins)
    return float(np.sum(p * np.log(p / r)))


def synthetic(kind: str, shape, seed: int = 0) -> np.ndarray:
    """Synthetic weight-like tensors: "gaussian", "laplace" or "student_t" (nu = 3, with
    0.1 % outliers at 20 sigma, the heavy tails LLM activations show)."""
    rng = np.random.default_rng(seed)
    if kind == "gaussian":
        return rng.standard_normal(shape)
    if kind == "laplace":
        return rng.laplace(size=shape) / np.sqrt(2.0)
    if kind == "student_t":
        x = rng.standard_t(3, size=shape) / np.sqrt(3.0)
        mask = rng.random(shape) < 1e-3
        return np.where(mask, 20.0 * np.sign(x), x)
    raise ValueError(f"unknown distribution {kind!r}; use gaussian, laplace or student_t")

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


def _lloyd_iterate(x: np.ndarray, csum: np.ndarray, lv: np.ndarray, iters: int, tol: float):
    """Lloyd iterations from ``lv`` on sorted ``x``; returns (levels, mse). MSE never rises."""
    prev = np.inf
    for _ in range(iters):
        cuts = (lv[:-1] + lv[1:]) / 2
        edges = np.concatenate([[0], np.searchsorted(x, cuts), [x.size]])
        counts = np.diff(edges)
        sums = csum[edges[1:]] - csum[edges[:-1]]
        lv = np.sort(np.where(counts > 0, sums / np.maximum(counts, 1), lv))
        idx = np.clip(np.searchsorted((lv[:-1] + lv[1:]) / 2, x), 0, lv.size - 1)
        err = mse(x, lv[idx])
        if np.isfinite(prev) and prev - err <= tol * prev:
            break
        prev = err
    return lv, err


def lloyd_max(x, levels: int, iters: int = 300, tol: float = 1e-9) -> np.ndarray:
    """MSE-optimal scalar quantizer levels for the empirical distribution of ``x``
    (Lloyd 1982 / Max 1960): alternate nearest-level partition and centroid update. For a
    known distribution, ``hwsim.lloyd_max.optimal_quantizer`` solves it exactly (converged).

    Runs from three starts (equal-probability quantiles, a uniform grid over the central
    99.9 %, and the high-rate optimal point density p^(1/3) of Panter and Dite) and keeps the
    best: Lloyd's MSE never rises, so the result is at least as good as each start. A local
    optimum (the global one for log-concave densities such as Gaussian and Laplace when
    converged); returns sorted float64 levels.
    """
    x = np.sort(np.asarray(x, np.float64).ravel())
    if levels < 1 or x.size < levels:
        raise ValueError(f"lloyd_max: need 1 <= levels <= number of samples ({x.size})")
    csum = np.concatenate([[0.0], np.cumsum(x)])
    lo, hi = np.quantile(x, [0.0005, 0.9995])
    hist, edges = np.histogram(x, bins=1024, range=(x[0], x[-1]))
    cube = np.cumsum(np.cbrt(hist.astype(np.float64)))  # Panter-Dite point density p^(1/3)
    starts = [
        np.quantile(x, (np.arange(levels) + 0.5) / levels),
        np.linspace(lo, hi, levels),
        np.interp((np.arange(levels) + 0.5) / levels * cube[-1], cube, edges[1:]),
    ]
    best = min((_lloyd_iterate(x, csum, s, iters, tol) for s in starts), key=lambda r: r[1])
    return best[0]


def lloyd_max_sqnr_db(x, bits: int) -> float:
    """SQNR (dB) of the 2^bits-level Lloyd-Max quantizer of ``x`` (no scale overhead)."""
    lv = lloyd_max(x, 1 << bits)
    x = np.asarray(x, np.float64).ravel()
    idx = np.clip(np.searchsorted((lv[:-1] + lv[1:]) / 2, x), 0, lv.size - 1)
    return sqnr_db(x, lv[idx])

"""Rounding of float64 arrays to integers with every mode the formats support (exact)."""

from __future__ import annotations

import numpy as np


def round_to_integer(v: np.ndarray, mode: str, seed: int | None = None) -> np.ndarray:
    """Round float64 ``v`` to integral float64 values with rounding ``mode``.

    Modes: "rne" (ties to even), "rna" (ties away from zero), "rtz", "floor", "ceil",
    "stochastic" (round up with probability equal to the discarded fraction; the uniform
    variate has 53-bit resolution, so probabilities are exact to 2^-53).
    All modes are exact: ``v - trunc(v)`` and ``v - floor(v)`` are exact in float64.
    """
    if mode == "rne":
        return np.rint(v)
    if mode == "rtz":
        return np.trunc(v)
    if mode == "floor":
        return np.floor(v)
    if mode == "ceil":
        return np.ceil(v)
    if mode == "rna":
        t = np.trunc(v)
        with np.errstate(invalid="ignore"):  # +-inf: inf - inf is NaN, no increment
            return t + np.copysign((np.abs(v - t) >= 0.5).astype(np.float64), v)
    if mode == "stochastic":
        f = np.floor(v)
        u = np.random.default_rng(seed).random(np.shape(v))
        with np.errstate(invalid="ignore"):
            return f + (u < (v - f))
    raise ValueError(f"unknown rounding mode {mode!r}")

"""Closed-form systolic-array timing (pure functions; cycles).

Per-fold cycles follow SCALE-Sim v2 (`compute/systolic_compute_{os,ws,is}.py`, see
SCALE-Sim, Samajdar et al., ISPASS 2020) on an R x C array:

* OS: ``R + C + T - 2`` (R - 1 skew, T streaming, C - 1 suffix; drain overlapped);
* WS, IS: ``2R + C + T - 2`` (R-cycle stationary preload, R - 1 skew, T, C - 1 suffix).

The GEMM Y[M,N] = X[M,K] W[K,N] maps to (Sr, Sc, T) as OS (M, N, K), WS (K, N, M),
IS (K, M, N); folds = ceil(Sr/R) * ceil(Sc/C) run back to back.
"""

from __future__ import annotations

import numpy as np

DATAFLOWS = ("os", "ws", "is")


def check_dataflow(dataflow: str) -> str:
    """Return the lower-case dataflow name or raise ValueError."""
    df = str(dataflow).lower()
    if df not in DATAFLOWS:
        raise ValueError(f"unknown dataflow {dataflow!r}; expected one of {DATAFLOWS}")
    return df


def spatial_temporal(dataflow: str, m, n, k):
    """(Sr, Sc, T) of an M x N x K GEMM for a dataflow (works on ints or numpy arrays)."""
    df = check_dataflow(dataflow)
    if df == "os":
        return m, n, k
    if df == "ws":
        return k, n, m
    return k, m, n


def fill_drain_cycles(dataflow: str, rows, cols):
    """Non-streaming cycles of one fold (skew fill, preload, drain) on a rows x cols array."""
    df = check_dataflow(dataflow)
    if df == "os":
        return rows + cols - 2
    return 2 * rows + cols - 2


def fold_counts(dataflow: str, rows: int, cols: int, m, n, k):
    """(row folds, column folds) = (ceil(Sr/R), ceil(Sc/C))."""
    sr, sc, _ = spatial_temporal(dataflow, m, n, k)
    return -(-np.asarray(sr) // rows), -(-np.asarray(sc) // cols)


def fold_cycles(dataflow: str, rows: int, cols: int, stream_cycles):
    """Cycles of one fold whose streaming phase takes ``stream_cycles``."""
    return fill_drain_cycles(dataflow, rows, cols) + stream_cycles


def gemm_cycles(dataflow: str, rows: int, cols: int, m, n, k, batch=1):
    """Ideal-memory cycles of a (batched) MAC GEMM: folds * (fill/drain + T); vectorized."""
    fr, fc = fold_counts(dataflow, rows, cols, m, n, k)
    _, _, t = spatial_temporal(dataflow, m, n, k)
    return np.asarray(batch) * fr * fc * fold_cycles(dataflow, rows, cols, np.asarray(t))


def mapping_utilization(dataflow: str, rows: int, cols: int, m, n, k):
    """Fraction of PEs holding useful work, averaged over folds (SCALE-Sim's mapping util)."""
    sr, sc, _ = spatial_temporal(dataflow, m, n, k)
    fr, fc = fold_counts(dataflow, rows, cols, m, n, k)
    return (np.asarray(sr) * sc) / (fr * rows * fc * cols)


def step_compute_cycles(
    dataflow: str,
    rows: int,
    cols: int,
    folds,
    stream_cycles,
    *,
    array: str = "systolic",
    preload_overlap: bool = False,
    preload_cycles: int | None = None,
):
    """Compute cycles of consecutive steps of ``folds`` folds whose streaming phase takes
    ``stream_cycles`` (arrays, one entry per step; cycles). The first step carries the
    one-off pipeline fill.

    * ``array="systolic"``, no overlap (SCALE-Sim): every fold pays its fill/drain,
      ``folds * (fill_drain + T)``.
    * ``preload_overlap=True`` (WS/IS, TPU-style double-buffered stationary registers): the
      next fold's stationary tile shifts in (``preload_cycles``, default ``rows``: one row
      per cycle) while the current fold streams, and folds follow each other through the
      pipeline: ``folds * max(T, P)`` plus, once, ``P + rows - 1 + cols - 1``.
    * ``array="tensor_core"``: dot-product units with broadcast operands (no skew, no
      preload): ``folds * T`` plus one cycle of pipeline latency once.
    """
    folds = np.asarray(folds, dtype=np.float64)
    t = np.asarray(stream_cycles, dtype=np.float64)
    if array == "tensor_core":
        out = folds * t
        once = 1.0
    elif preload_overlap:
        p = rows if preload_cycles is None else preload_cycles
        out = folds * np.maximum(t, p)
        once = p + rows - 1 + cols - 1
    else:
        out = folds * (fill_drain_cycles(dataflow, rows, cols) + t)
        once = 0.0
    out = np.array(out, dtype=np.float64, ndmin=1)
    if out.size and folds.sum() > 0:
        out[0] += once
    return out

"""Shared timing helper of the benchmark scripts (medians, since this VM is noisy)."""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np


def median_time(fn, runs: int) -> tuple[float, object]:
    """(median wall seconds over ``runs`` calls of ``fn``, the last result)."""
    times, out = [], None
    for _ in range(runs):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def gemm_parser(description: str) -> argparse.ArgumentParser:
    """Command line of the FP16 GEMM benchmarks: --m --k --n (default SmolLM2's 512 tokens
    into its 576 x 1536 gate/up projection) and --reps."""
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--m", type=int, default=512)
    ap.add_argument("--k", type=int, default=576)
    ap.add_argument("--n", type=int, default=1536)
    ap.add_argument("--reps", type=int, default=3)
    return ap


def fp16_gemm_reference(m: int, k: int, n: int, reps: int):
    """(rng, FP16 activations X (m x k, standard normal rounded to FP16), median seconds of a
    numpy float64 m x k x n matmul measured now: the reference the ratios divide by)."""
    import hwsim.formats as F

    rng = np.random.default_rng(0)
    X = F.get("fp16").quantize(rng.normal(size=(m, k)))
    Xf, Wf = rng.normal(size=(m, k)), rng.normal(size=(k, n))
    t_np, _ = median_time(lambda: Xf @ Wf, max(reps, 5))
    return rng, X, t_np

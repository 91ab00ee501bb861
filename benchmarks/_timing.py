"""Shared timing helper of the benchmark scripts (medians, since this VM is noisy)."""

from __future__ import annotations

import statistics
import time


def median_time(fn, runs: int) -> tuple[float, object]:
    """(median wall seconds over ``runs`` calls of ``fn``, the last result)."""
    times, out = [], None
    for _ in range(runs):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out

"""SmolLM2-135M perplexity time with every linear GEMM on an integer PE against the FP32
run (issue 14 item 6 target: <= 3x the FP32 perplexity time).

Runs, back to back in one process and in turn for ``--reps`` rounds: the FP32 baseline
(no formats), ``pe="int_mac"`` with ``int4_g64`` weights (grouped: 9 or 24 K segments per
GEMM) and ``pe="int_mac"`` with per-channel ``int4`` weights, INT8 per-token activations
for both. Times are whole ``evaluate`` calls (model load excluded: it is cached; weight
quantization included). Prints each run, the median per case, its ratio to the FP32
median, and the load average before and after (the machine is shared: compare ratios).
Needs the ``llm`` extra and the SmolLM2 model package. No asserts.

``--blas-threads 1`` runs every case with one BLAS thread (threadpoolctl), which takes
the other workers' load out of the FP32 run's multithreaded GEMMs.

    python benchmarks/bench_llm_pe.py [--tokens 512] [--reps 3] [--blas-threads 1]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

CASES = [  # (label, evaluate keyword arguments)
    ("FP32", {}),
    ("int_mac int4_g64 x int8", {"weight_fmt": "int4_g64", "act_fmt": "int8", "pe": "int_mac"}),
    ("int_mac int4 x int8", {"weight_fmt": "int4", "act_fmt": "int8", "pe": "int_mac"}),
]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tokens", type=int, default=512)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--blas-threads", type=int, default=None)
    a = ap.parse_args()
    if a.blas_threads is not None:
        from threadpoolctl import threadpool_limits

        threadpool_limits(a.blas_threads, user_api="blas")
    from hwsim.accuracy.llm.perplexity import evaluate

    for _, kw in CASES:  # warm-up: model load, numba compilation / cache load
        evaluate(tokens=64, **kw)
    print(f"tokens {a.tokens}, reps {a.reps}, BLAS threads {a.blas_threads or 'default'}, "
          f"load average before {os.getloadavg()}")  # fmt: skip
    times: dict[str, list[float]] = {label: [] for label, _ in CASES}
    for rep in range(a.reps):
        for label, kw in CASES:
            t0 = time.perf_counter()
            r = evaluate(tokens=a.tokens, **kw)
            dt = time.perf_counter() - t0
            times[label].append(dt)
            print(f"  rep {rep} {label:28s} {dt:7.1f} s  perplexity {r.perplexity:.6f}", flush=True)
    ref = statistics.median(times["FP32"])
    for label, _ in CASES:
        t = statistics.median(times[label])
        print(f"{label:28s} median {t:7.1f} s  ratio to FP32 {t / ref:5.2f}")
    print(f"load average after {os.getloadavg()}")


if __name__ == "__main__":
    main()

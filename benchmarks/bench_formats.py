"""Format quantization throughput on 10M float32 values, next to ml_dtypes casts.

Prints medians of several runs and ratios against ml_dtypes measured in the same run.
Targets (issue 2): fp8_e4m3 quantize within 1.5x of ml_dtypes astype; MX/NVFP4 quantize at
least 50 M elements/s on one core. Run: python benchmarks/bench_formats.py [--n 10000000]
"""

from __future__ import annotations

import argparse
import time

import ml_dtypes
import numpy as np

import hwsim.formats as F


def median_seconds(fn, repeats: int) -> float:
    fn()  # warm up (JIT compile, caches)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n", type=int, default=10_000_000)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    x = (np.random.default_rng(0).standard_normal(args.n) * 100).astype(np.float32)
    xm = x.reshape(-1, 4000) if args.n % 4000 == 0 else x  # rows of 4000 = 125 MX blocks
    rows = []

    def add(label, fn, ref=None):
        t = median_seconds(fn, args.repeats)
        rows.append((label, t, args.n / t / 1e6, None if ref is None else t / ref))
        return t

    ref_e4m3 = add("ml_dtypes astype float8_e4m3fn", lambda: x.astype(ml_dtypes.float8_e4m3fn))
    add(
        "ml_dtypes e4m3 round trip to float64",
        lambda: x.astype(ml_dtypes.float8_e4m3fn).astype(np.float64),
        ref_e4m3,
    )
    add("ml_dtypes astype float4_e2m1fn", lambda: x.astype(ml_dtypes.float4_e2m1fn))
    add("hwsim fp8_e4m3 quantize", lambda: F.get("fp8_e4m3").quantize(x), ref_e4m3)
    add("hwsim fp8_e4m3 encode", lambda: F.get("fp8_e4m3").encode(x), ref_e4m3)
    add("hwsim int8 quantize (scale 1)", lambda: F.get("int8").quantize(x), ref_e4m3)
    add("hwsim int8_tensor quantize", lambda: F.get("int8_tensor").quantize(x), ref_e4m3)
    add("hwsim int4_g128 quantize", lambda: F.get("int4_g128").quantize(xm), ref_e4m3)
    add("hwsim mxfp4 quantize", lambda: F.get("mxfp4").quantize(xm), ref_e4m3)
    add("hwsim mxfp8_e4m3 quantize", lambda: F.get("mxfp8_e4m3").quantize(xm), ref_e4m3)
    add("hwsim nvfp4 quantize", lambda: F.get("nvfp4").quantize(xm), ref_e4m3)
    print(f"{args.n:,} float32 values, median of {args.repeats} runs")
    print(f"{'operation':36s} {'ms':>9s} {'M elem/s':>9s} {'x ml_dtypes e4m3':>17s}")
    for label, t, rate, ratio in rows:
        r = "" if ratio is None else f"{ratio:17.2f}"
        print(f"{label:36s} {t * 1e3:9.1f} {rate:9.1f} {r}")


if __name__ == "__main__":
    main()

"""Fast-path GEMM throughput of every PE kind next to numpy float64 matmul.

Shape M x N x K = 4096 x 4096 x 16 (M x N x K as in tile shapes, e.g. LUT-TC M2N64K4):
X is M x K activations (INT8 unless the PE needs FP16), W is K x N 4-bit weights (INT4, or
the PE's 4-bit format: bipolar4, pot4). Prints medians and the ratio to numpy; no asserts.

    python benchmarks/bench_pe.py [--reps 5] [--m 4096 --n 4096 --k 16]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

import hwsim.formats as F
import hwsim.pe as pe

CASES = [  # (label, kind, params, integer datapath?)
    ("int_mac INT8xINT4", "int_mac", {"a_fmt": "int8", "w_fmt": "int4"}, True),
    ("bitserial booth", "bitserial", {"scheme": "booth", "w_fmt": "int4"}, True),
    ("bitserial stripes", "bitserial", {"scheme": "stripes", "w_fmt": "int4"}, True),
    ("bitserial bitmod", "bitserial", {"scheme": "bitmod", "w_fmt": "int4"}, True),
    ("bitserial fusion", "bitserial", {"scheme": "fusion", "w_fmt": "int4"}, True),
    ("lut INT8 x bipolar4", "lut", {"a_fmt": "int8", "w_fmt": "bipolar4"}, True),
    ("bipolar INT8 x bipolar4", "bipolar", {"a_fmt": "int8", "w_fmt": "bipolar4"}, True),
    ("shiftadd INT8 x pot4", "shiftadd", {"w_fmt": "pot4"}, True),
    ("mixpe W4A8", "mixpe", {"w_fmt": "int4"}, True),
    ("fp_fma FP16 x INT4 (fp32 acc)", "fp_fma", {"w_fmt": "int4", "acc_fmt": "fp32"}, False),
    ("dequant_mac W4A16", "dequant_mac", {"w_fmt": "int4"}, False),
    ("lut FP16 x bipolar4", "lut", {"w_fmt": "bipolar4"}, False),
    (
        "bitserial bitmod FP16 x int4",
        "bitserial",
        {"scheme": "bitmod", "a_fmt": "fp16", "w_fmt": "int4"},
        False,
    ),
    ("mixpe W4A16", "mixpe", {"w_fmt": "int4", "a_fmt": "fp16"}, False),
]


def timed(fn, reps: int) -> float:
    ts = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    return statistics.median(ts)


def operands(unit, m, n, k, rng):
    c = unit.cfg
    if c.a_fmt == "fp16":
        X = F.get("fp16").quantize(rng.normal(size=(m, k)))
    else:
        X = rng.choice(F.get(c.a_fmt).grid(), size=(m, k))
    W = rng.choice(F.get(c.w_fmt).grid(), size=(k, n))
    return X, W


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--m", type=int, default=4096)
    ap.add_argument("--n", type=int, default=4096)
    ap.add_argument("--k", type=int, default=16)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument(
        "--fp-reps", type=int, default=1, help="repetitions for FP datapaths (0 = skip)"
    )
    a = ap.parse_args()
    m, n, k = a.m, a.n, a.k
    macs = m * n * k
    rng = np.random.default_rng(0)
    Xf = rng.integers(-128, 128, size=(m, k)).astype(np.float64)
    Wf = rng.integers(-8, 8, size=(k, n)).astype(np.float64)
    t_np = timed(lambda: Xf @ Wf, a.reps)
    print(f"GEMM M x N x K = {m} x {n} x {k} ({macs / 1e6:.0f} M MACs)")
    print(f"{'numpy float64 matmul':34s} median {t_np * 1e3:9.1f} ms  "
          f"{macs / t_np / 1e9:7.2f} GMAC/s  ratio 1.00")  # fmt: skip
    for label, kind, params, is_int in CASES:
        if not is_int and a.fp_reps < 1:
            continue
        unit = pe.get(kind, **params)
        X, W = operands(unit, m, n, k, rng)
        unit.matmul(X[:2, :], W[:, :2])  # JIT warm-up on a tiny problem (serial kernels)
        mw = min(m, 64)  # and on one big enough for the threaded kernels (see pe/kernels.py)
        unit.matmul(X[:mw, :], W[:, : min(n, max(256, -(-(1 << 22) // (mw * k))))])
        t = timed(lambda u=unit, X=X, W=W: u.matmul(X, W), a.reps if is_int else a.fp_reps)
        print(f"{label:34s} median {t * 1e3:9.1f} ms  {macs / t / 1e9:7.2f} GMAC/s  "
              f"ratio {t / t_np:5.2f}{'' if is_int else '  (FP datapath)'}")  # fmt: skip


if __name__ == "__main__":
    main()

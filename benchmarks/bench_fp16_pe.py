"""FP16-activation PE fast paths (LUT FP16, BitMoD FP16) against numpy float64 matmul on
one LLM-sized GEMM (issue 14 item 6 target: <= 10x numpy).

Default shape M x K x N = 512 x 576 x 1536 (512 tokens into SmolLM2-135M's gate/up
projection). X: FP16 activations (standard normal, rounded to FP16); W: the PE's weight
format. Prints the median time of each and its ratio to numpy float64 matmul measured in
the same run (the machine is shared: compare ratios, not times). No asserts.

    python benchmarks/bench_fp16_pe.py [--m 512 --k 576 --n 1536] [--reps 3]
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

import hwsim.formats as F
import hwsim.pe as pe

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _timing import fp16_gemm_reference, gemm_parser, median_time  # noqa: E402

CASES = [  # (label, kind, params, side inputs)
    ("lut FP16 x bipolar2", "lut", {"w_fmt": "bipolar2"}, None),
    ("lut FP16 x bipolar4", "lut", {"w_fmt": "bipolar4"}, None),
    ("bitmod FP16 x int4", "bitserial", {"scheme": "bitmod", "a_fmt": "fp16", "w_fmt": "int4"},
     None),
    ("bitmod FP16 x int4, scales g128", "bitserial",
     {"scheme": "bitmod", "a_fmt": "fp16", "w_fmt": "int4"}, "scales"),
    ("bitmod FP16 x bitmod_fp4_er_pos", "bitserial",
     {"scheme": "bitmod", "a_fmt": "fp16", "w_fmt": "bitmod_fp4_er_pos"}, None),
]  # fmt: skip


def main() -> None:
    ap = gemm_parser(__doc__.splitlines()[0])
    ap.add_argument("--only", default="", help="run only cases whose label contains this")
    a = ap.parse_args()
    m, k, n = a.m, a.k, a.n
    rng, X, t_np = fp16_gemm_reference(m, k, n, a.reps)
    print(f"GEMM M x K x N = {m} x {k} x {n} ({m * k * n / 1e6:.0f} M MACs)")
    print(f"{'numpy float64 matmul':36s} median {t_np * 1e3:8.1f} ms  ratio  1.0")
    for label, kind, params, side in CASES:
        if a.only not in label:
            continue
        unit = pe.get(kind, **params)
        W = rng.choice(F.get(params["w_fmt"]).grid(), size=(k, n))
        kw = {}
        if side == "scales":
            kw["scales"] = rng.integers(1, 256, size=(-(-k // 128), n)).astype(np.float64)
        unit.matmul(X[:64], W, **{s: v for s, v in kw.items()})  # JIT warm-up
        t, _ = median_time(lambda u=unit, W=W, kw=kw: u.matmul(X, W, **kw), a.reps)
        print(f"{label:36s} median {t * 1e3:8.1f} ms  ratio {t / t_np:5.1f}")


if __name__ == "__main__":
    main()

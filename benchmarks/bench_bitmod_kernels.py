"""BitMoD FP16 GEMM kernels: the int64 4-lane kernel (kernels.bitmod_fp_gemm, the reference)
and the float32 one the PE path runs (pe/bitmod_f32.py), against numpy float64 matmul, on
one LLM-sized GEMM.

Default shape M x K x N = 512 x 576 x 1536 (as bench_fp16_pe.py). The kernels get the same
prepared fields (activation and term extraction excluded); results are checked bit-equal.
Prints medians and ratios to numpy float64 matmul measured in the same run. No asserts.

    python benchmarks/bench_bitmod_kernels.py [--m 512 --k 576 --n 1536] [--reps 3]
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np

import hwsim.formats as F
import hwsim.pe as pe
from hwsim.pe import bitmod_f32 as B32
from hwsim.pe import bitmod_fp as BF
from hwsim.pe import kernels as K

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _timing import fp16_gemm_reference, gemm_parser, median_time  # noqa: E402

CASES = [("int4", False), ("int4", True), ("bitmod_fp4_er_pos", False)]  # (w_fmt, g128 scales)


def main() -> None:
    ap = gemm_parser(__doc__.splitlines()[0])
    a = ap.parse_args()
    m, k, n = a.m, a.k, a.n
    rng, X, t_np = fp16_gemm_reference(m, k, n, a.reps)
    print(f"GEMM {m} x {k} x {n}, load average {os.getloadavg()[0]:.1f}")
    print(f"{'numpy float64 matmul':44s} median {t_np * 1e3:8.1f} ms  ratio  1.0")
    for w_fmt, scaled in CASES:
        unit = pe.get("bitserial", scheme="bitmod", a_fmt="fp16", w_fmt=w_fmt, group_size=128)
        W = rng.choice(F.get(w_fmt).grid(), size=(k, n))
        side = {"scales": rng.integers(1, 256, size=(-(-k // 128), n))} if scaled else {}
        Xp, Wp, s = unit._prepare(X, W, side)
        f = (*BF.act_fields(Xp), *BF.term_arrays(Wp, not unit.w_terms, unit._booth_arrays,
                                                 unit.cpc))  # fmt: skip
        sc = s["scales"].astype(np.float64) if scaled else np.ones((1, n))
        g, wu = (128 if scaled else k), float(unit.w_unit)
        runs = {
            "int64 4-lane kernel": lambda f=f, g=g, sc=sc, sd=scaled, wu=wu: K.bitmod_fp_gemm(
                *f, 4, g, sc, sd, wu),
            "float32 kernel (PE path)": lambda f=f, g=g, sc=sc, sd=scaled, wu=wu: (
                B32.bitmod_fp_gemm_f32(*f, g, sc, sd, wu)),
        }  # fmt: skip
        outs = {}
        for name, fn in runs.items():
            fn()  # JIT warm-up
            t, outs[name] = median_time(fn, a.reps)
            label = f"{w_fmt}{' g128' if scaled else ''}: {name}"
            print(f"{label:44s} median {t * 1e3:8.1f} ms  ratio {t / t_np:5.1f}")
        ref = next(iter(outs.values())).view(np.int64)
        same = all(np.array_equal(ref, o.view(np.int64)) for o in outs.values())
        print(f"{'':44s} bit-identical: {same}")


if __name__ == "__main__":
    main()

"""Simulator speed: median wall time (s), mappings included. Prints, never asserts.

python benchmarks/bench_sim.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import time

from _timing import median_time  # benchmarks/_timing.py (script folder)

import hwsim
from hwsim import accel, workloads


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()

    acc32 = accel.systolic(32, 32, dataflow="os")
    cube = workloads.gemm(1024, 1024, 1024)
    t, rep = median_time(lambda: hwsim.simulate(acc32, cube), args.repeat)
    print(f"gemm 1024^3, 32x32 os: {rep.cycles} cycles, median {t:.3f} s (target < 0.5 s)")

    for model, target in (("llama2-7b", 10), ("llama2-70b", 30)):
        t0 = time.perf_counter()
        gen = workloads.generation(model, 2048, 128)
        t_build = time.perf_counter() - t0
        for dataflow, mapping in (("ws", "optimal"), ("os", "optimal"), ("ws", "scalesim")):
            # 128 B/cycle: MixPE/ANT if_width 1024 bits/cycle (docs/simulator.md).
            acc64 = accel.systolic(64, 64, dataflow=dataflow, dram_bw=128)

            def run(acc=acc64, mapping=mapping, gen=gen):
                return hwsim.simulate(acc, gen, mapping=mapping)

            t, rep = median_time(run, args.repeat)
            print(
                f"{model} prefill 2048 + 128 decode, 64x64 {dataflow}, 128 B/cycle, "
                f"mapping={mapping}: {rep.cycles} cycles, {len(gen.layers)} layers, median "
                f"{t:.2f} s incl. mapping (+{t_build:.2f} s building the graph; target < "
                f"{target} s)"
            )


if __name__ == "__main__":
    main()

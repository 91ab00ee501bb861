"""Measure the generated accelerator tile against hwsim.simulate (docs/rtl.md, "Accelerator
tile"): for the default tile checks and `--random N` random ones, run the RTL on Icarus and
write one row per configuration: array, GEMM, PE, DRAM model, RTL cycles (measured), the
simulator's cycles and compute cycles, RTL array cycles (measured), rtl/sim ratio, whether
every check held.

Run: python benchmarks/tile_cycles.py [--random 10] [--out rtl/data/tile_cycles.csv]
"""

from __future__ import annotations

import argparse
import random
import sys
from pathlib import Path

import pandas as pd

import hwsim
from hwsim.rtl.emit_tile import tile_design, tile_spec
from hwsim.rtl.tile_check import DEFAULT_TILES, check_tile

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--random", type=int, default=10, help="random configurations (seeds 0..N-1)")
    ap.add_argument("--sim", default="icarus", choices=["icarus", "verilator"])
    ap.add_argument(
        "--out", default=str(Path(__file__).resolve().parents[1] / "rtl/data/tile_cycles.csv")
    )
    args = ap.parse_args()
    from test_rtl_tile import random_case  # the slow tier's generator of random tiles

    cases = [(name, kw, mnk) for name, kw, mnk in DEFAULT_TILES]
    for seed in range(args.random):
        kw, mnk = random_case(random.Random(seed))
        cases.append((f"random_{seed}", kw, mnk))
    rows = []
    for name, kw, mnk in cases:
        acc = hwsim.accel.systolic(dataflow="os", **kw)
        layer = hwsim.workloads.gemm(*mnk).layers[0]
        try:
            s = tile_spec(acc, layer)
        except ValueError as exc:
            print(f"skip {name}: {exc}")
            continue
        row = hwsim.simulate(acc, layer, mapping="scalesim").layers.iloc[0]
        r = check_tile(acc, layer, args.sim, row, 1, tile_design(acc, layer))
        if r.passed is None:
            sys.exit(f"{args.sim} missing: {r.message}")
        mz = r.measured
        rows.append(
            dict(
                case=name,
                pe=s.pe,
                array=f"{s.rows}x{s.cols}",
                gemm=f"{s.m}x{s.n}x{s.k}",
                weights="resident" if s.weight_whole else "re-read",
                dram_bw=s.dram_bw,
                dram_latency=s.dram_latency,
                folds=s.folds,
                sim_compute=int(row["compute_cycles"]),
                rtl_array=mz.get("n_array"),
                sim_cycles=int(row["cycles"]),
                sim_stalls=int(row["stall_cycles"]),
                rtl_cycles=mz.get("n_cycles"),
                rtl_over_sim=round(mz.get("n_cycles", 0) / row["cycles"], 3),
                passed=r.passed,
                simulator=args.sim,
            )  # fmt: skip
        )
        print(rows[-1])
    df = pd.DataFrame(rows)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    df.to_csv(args.out, index=False)
    print(df.to_string(index=False))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

"""Synthesize every generated PE at 2/4/8/16-bit operand widths with the pinned Yosys and
write the area calibration CSV (for hwsim.accel.cost) and a plot of area vs width
(hwsim.plots.area_vs_width).

CSV columns: pe, width, params (JSON of the hwsim.pe parameters), ge (NAND2 = 1), cells,
transistors (Yosys `stat -tech cmos` after `abc -g cmos2`), area_um2 (= ge * um2_per_ge),
um2_per_ge, dffs, ge_seq, cells_by_type, yosys_version, source, top, synth_s.

Run: python benchmarks/synth_area.py [--out rtl/data] [--kinds int_mac bipolar ...]
     [--widths 2 4 8 16] [--um2-per-ge 0.798]
Naming --kinds replaces only those kinds' rows of an existing table.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import pandas as pd

from hwsim.plots import area_vs_width
from hwsim.rtl import tools
from hwsim.rtl import yosys as S


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument(
        "--out",
        default=str(Path(S.__file__).resolve().parent / "data"),
        help="output folder for pe_area_calibration.csv and pe_area_vs_width.png/.svg",
    )
    ap.add_argument("--kinds", nargs="*", default=list(S.SWEEP_KINDS), choices=S.SWEEP_KINDS)
    ap.add_argument("--widths", nargs="*", type=int, default=list(S.WIDTHS))
    ap.add_argument("--um2-per-ge", type=float, default=S.UM2_PER_GE)
    args = ap.parse_args()
    why = tools.yosys_missing()
    if why:
        raise SystemExit(why)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="hwsim-synth-") as build:  # Yosys scratch files
        df = S.synth(args.kinds, tuple(args.widths), args.um2_per_ge, build_dir=build)
    dt, n_new = time.perf_counter() - t0, len(df)
    csv = out / "pe_area_calibration.csv"
    if set(args.kinds) != set(S.SWEEP_KINDS) and csv.exists():
        # a partial run replaces its kinds' rows and keeps the others, in sweep order
        old = pd.read_csv(csv)
        df = pd.concat([old[~old.pe.isin(df.pe)], df], ignore_index=True)
        order = {k: i for i, k in enumerate(S.SWEEP_KINDS)}
        df = df.sort_values(["pe", "width"], key=lambda c: c.map(order) if c.name == "pe" else c)
        df = df.reset_index(drop=True)
    df.to_csv(csv, index=False)
    area_vs_width(df, out / "pe_area_vs_width")  # writes .png and .svg
    print(
        df[["pe", "width", "ge", "cells", "dffs", "transistors", "area_um2"]].to_string(index=False)
    )
    for s in df.attrs.get("skipped", []):
        print("skipped:", s)
    print(f"{tools.yosys_version()}; {n_new} designs synthesized in {dt:.1f} s")
    print(f"{len(df)} rows in {csv}")


if __name__ == "__main__":
    main()

"""Synthesize one PE of every study-2 design (hwsim.evaluators.LLM_DESIGNS) with the pinned
Yosys flow and write rtl/data/llm_pe_area.csv (GE, um2, cells, flip-flops, Yosys version).

`llm_pe(point)` with ``area_source = "rtl"`` reads that table instead of the cost model's
unit inventory. Each row is exactly the PE the simulator models (same kind and parameters):
MixPE's row includes its own per-PE dequantizer (the inventory time-shares it), the LUT row is
one (m, n) lane without the table precompute (outside the tile, as in LUT-TC).

Run: python benchmarks/llm_pe_rtl_area.py [DESIGN ...]   (seconds to a minute per design; the
128-lane bipolar PE takes the WASM Yosys over 20 min). Naming designs updates only their rows.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "rtl" / "data" / "llm_pe_area.csv"


def main(designs=None) -> pd.DataFrame:
    import hwsim.rtl as rtl
    from hwsim.evaluators import LLM_DESIGNS
    from hwsim.rtl import tools, yosys

    version = tools.yosys_version()
    rows = []
    for name in designs or LLM_DESIGNS:
        kind, params = LLM_DESIGNS[name]
        t0 = time.perf_counter()
        res = yosys.synth_design(rtl.generate(kind, **params))
        rows.append(
            {
                "design": name,
                "kind": kind,
                "params": repr(sorted(params.items())),
                "ge": res["ge"],
                "area_um2": round(res["ge"] * yosys.UM2_PER_GE, 2),
                "um2_per_ge": yosys.UM2_PER_GE,
                "cells": res["cells"],
                "dffs": res["dffs"],
                "yosys_version": version,
            }
        )
        print(f"{name:16s} {res['ge']:10.1f} GE  {time.perf_counter() - t0:5.1f} s", flush=True)
    df = pd.DataFrame(rows)
    if designs and OUT.exists():  # a partial run updates its rows, keeps the others
        old = pd.read_csv(OUT)
        df = pd.concat([old[~old.design.isin(df.design)], df], ignore_index=True)
    df.to_csv(OUT, index=False)
    print(f"wrote {OUT}")
    return df


if __name__ == "__main__":
    main(sys.argv[1:] or None)

"""Synthesize one PE of every study-2 design (hwsim.evaluators.LLM_DESIGNS) with the pinned
Yosys flow and write rtl/data/llm_pe_area.csv (GE, um2, cells, flip-flops, Yosys version).

`llm_pe(point)` with ``area_source = "rtl"`` reads that table instead of the cost model's
unit inventory. Each row is exactly the PE the simulator models (same kind and parameters):
MixPE's row includes its own per-PE dequantizer (the inventory time-shares it), the LUT row is
one (m, n) lane without the table precompute (outside the tile, as in LUT-TC).

Wide PEs: the WASM Yosys 0.70 flow is superlinear in the bipolar PE's lane count (ABC's
`&fraig -x` SAT sweeping of the popcount trees: 64 lanes 16 s, 96 lanes 188 s, 128 lanes did
not finish in 45 min on the 2-core VM). A PE with more than MAX_SYNTH_LANES lanes is therefore
synthesized at FIT_LANES lanes (same other parameters) and its GE / cells / flip-flops are a
least-squares line in the lane count evaluated at its own lanes; the row's `method` says so and
gives the largest fit residual. Every other row is `synthesized`.

Run: python benchmarks/llm_pe_rtl_area.py [DESIGN ...]   (seconds to a minute per design, ~4
min for the fitted bipolar row). Naming designs updates only their rows.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "rtl" / "data" / "llm_pe_area.csv"
MAX_SYNTH_LANES = 96  # measured: 96 lanes 188 s, 128 lanes > 45 min (see docstring)
FIT_LANES = (32, 64, 96)


def synth_numbers(kind: str, params: dict) -> tuple[dict, str]:
    """(ge, cells, dffs) of one PE and how they were obtained."""
    import hwsim.pe as pe
    import hwsim.rtl as rtl
    from hwsim.rtl import yosys

    lanes = getattr(pe.get(kind, **params).cfg, "lanes", None)  # the PE's default if unset
    with tempfile.TemporaryDirectory(prefix="hwsim-synth-") as build:  # Yosys scratch files

        def synth(p, tag):
            return yosys.synth_design(rtl.generate(kind, **p), Path(build) / tag)

        if lanes is None or lanes <= MAX_SYNTH_LANES:
            res = synth(params, "pe")
            return {k: res[k] for k in ("ge", "cells", "dffs")}, "synthesized"
        pts = [synth({**params, "lanes": n}, f"lanes{n}") for n in FIT_LANES]
    out, worst = {}, 0.0
    for key in ("ge", "cells", "dffs"):
        y = np.array([float(r[key]) for r in pts])
        slope, icpt = np.polyfit(FIT_LANES, y, 1)
        out[key] = float(icpt + slope * lanes)
        if key == "ge":
            worst = float(np.max(np.abs(icpt + slope * np.array(FIT_LANES) - y)))
    out["ge"] = round(out["ge"], 2)
    out["cells"], out["dffs"] = round(out["cells"]), round(out["dffs"])
    ges = "/".join(f"{r['ge']:.0f}" for r in pts)
    lanes_s = "/".join(map(str, FIT_LANES))
    method = (
        f"linear fit in lanes over {lanes_s} lanes (synthesized {ges} GE; max residual "
        f"{worst:.0f} GE), evaluated at {lanes}"
    )
    return out, method


def main(designs=None) -> pd.DataFrame:
    from hwsim.evaluators import LLM_DESIGNS
    from hwsim.rtl import tools, yosys

    version = tools.yosys_version()
    rows = []
    for name in designs or LLM_DESIGNS:
        kind, params = LLM_DESIGNS[name]
        t0 = time.perf_counter()
        res, method = synth_numbers(kind, params)
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
                "method": method,
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

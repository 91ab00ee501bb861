"""Measure the generated accelerator tile against hwsim.simulate (docs/rtl.md, "Accelerator
tile"): for the default tile checks (mapping "scalesim"), the default mapped checks (loop
nests), the mapper's K-splitting nests of `KSPLIT_CASES`, `--random N` random scalesim tiles
and `--random-nests N` random loop-nest tiles (the slow tier's generator: K split in three of
every five), run
the RTL on Icarus and write one row per configuration: mapping, array, GEMM, PE, SRAM tile and
DRAM order, DRAM model, where partial sums wait (psum), DRAM bytes per operand and of partial
sums (RTL, equal to the simulator's when `passed`), RTL cycles (measured), the simulator's
cycles and compute cycles, RTL array cycles (measured), rtl/sim ratio, whether every check
held.

Run: python benchmarks/tile_cycles.py [--random 10] [--random-nests 10]
                                      [--out rtl/data/tile_cycles.csv]
     python benchmarks/tile_cycles.py --table   (the docs' markdown table from the CSV)
"""

from __future__ import annotations

import argparse
import random
import sys
from pathlib import Path

import pandas as pd

import hwsim
from hwsim.rtl.emit_tile import tile_design, tile_spec
from hwsim.rtl.tile_check import (
    DEFAULT_TILES,
    MAPPED_TILES,
    check_tile,
    simulate_mapping,
    step_folds,
)

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
CSV = Path(__file__).resolve().parents[1] / "rtl/data/tile_cycles.csv"
TABLE_COLS = {
    "case": "case",
    "mapping": "mapping",
    "pe": "PE",
    "array": "array",
    "gemm": "GEMM MxNxK",
    "dram_bw": "DRAM B/cycle",
    "dram_latency": "latency",
    "steps": "steps",
    "folds": "folds",
    "psum": "psum",
    "dram_act": "DRAM act B",
    "dram_weight": "DRAM weight B",
    "dram_psum": "DRAM psum B r/w",
    "sim_compute": "sim compute",
    "rtl_array": "RTL array",
    "sim_cycles": "sim cycles",
    "rtl_cycles": "RTL cycles",
    "rtl_over_sim": "RTL / sim",
}


#: the mapper's own K splits ("optimal"): partial sums kept in the out buffer (the example
#: rtl/configs/tile_ksplit_example.toml) and in the PEs (one fold per SRAM tile)
KSPLIT_CASES = (
    ("int_mac_optimal_k_split_sram", DEFAULT_TILES[0][1], (4, 4, 40), "optimal"),
    ("int_mac_optimal_k_split_pe", DEFAULT_TILES[0][1], (5, 7, 24), "optimal"),
    ("shiftadd_optimal_k_split", DEFAULT_TILES[2][1], (4, 6, 16), "optimal"),
)


def cases(n_random: int, n_nests: int) -> list[tuple[str, dict, tuple, object]]:
    """(name, systolic kwargs, (M, N, K), mapping) of every configuration measured."""
    from test_rtl_tile import (  # the slow tier's generators
        random_case,
        random_k_split_case,
        random_nest,
    )

    out = [(name, kw, mnk, "scalesim") for name, kw, mnk in DEFAULT_TILES]
    out += list(MAPPED_TILES) + list(KSPLIT_CASES)
    for seed in range(n_random):
        kw, mnk = random_case(random.Random(seed))
        out.append((f"random_{seed}", kw, mnk, "scalesim"))
    for seed in range(n_nests):  # the slow tier's random nests (seed 1000 + i)
        rng = random.Random(1000 + seed)
        split = seed % 5 in (0, 1, 2)
        kw, mnk = random_k_split_case(rng) if split else random_case(rng)
        mapping = "optimal" if seed % 5 == 4 else random_nest(rng, kw, mnk, split)
        out.append((f"random_nest_{seed}", kw, mnk, mapping))
    return out


def measure(name, kw, mnk, mapping, sim: str) -> dict | None:
    acc = hwsim.accel.systolic(dataflow="os", **kw)
    layer = hwsim.workloads.gemm(*mnk).layers[0]
    try:
        s = tile_spec(acc, layer, mapping)
    except ValueError as exc:
        print(f"skip {name}: {exc}")
        return None
    row = hwsim.simulate(acc, layer, mapping=simulate_mapping(layer, mapping)).layers.iloc[0]
    r = check_tile(acc, layer, sim, row, 1, tile_design(acc, layer, mapping))
    if r.passed is None:
        sys.exit(f"{sim} missing: {r.message}")
    mz = r.measured
    return dict(
        case=name,
        mapping=s.mapping if s.mapping == "scalesim" else s.mapping.replace("sram B1 ", ""),
        pe=s.pe,
        array=f"{s.rows}x{s.cols}",
        gemm=f"{s.m}x{s.n}x{s.k}",
        weights="resident" if s.weight_whole else "tile",
        dram_bw=s.dram_bw,
        dram_latency=s.dram_latency,
        steps=len(s.steps),
        folds=sum(step_folds(s, st) for st in s.steps),
        psum=s.psum,
        dram_act=mz["dram"]["read_act"],
        dram_weight=mz["dram"]["read_weight"],
        dram_psum=f"{mz['dram']['read_psum']:g}/{mz['dram']['write_psum']:g}",
        dram_out=mz["dram"]["write_out"],
        sim_compute=int(row["compute_cycles"]),
        rtl_array=mz.get("n_array"),
        sim_cycles=int(row["cycles"]),
        sim_stalls=int(row["stall_cycles"]),
        rtl_cycles=mz.get("n_cycles"),
        rtl_over_sim=round(mz.get("n_cycles", 0) / row["cycles"], 3),
        passed=r.passed,
        simulator=sim,
    )


def _fmt(v) -> str:
    if isinstance(v, float):
        if v != v:  # NaN: no bandwidth limit
            return "none"
        return f"{v:g}"
    return str(v)


def markdown(df: pd.DataFrame) -> str:
    """The docs' table and summary sentences, from the CSV's rows."""
    lines = ["| " + " | ".join(TABLE_COLS.values()) + " |", "|" + "---|" * len(TABLE_COLS)]
    for _, r in df.iterrows():
        lines.append("| " + " | ".join(_fmt(r[c]) for c in TABLE_COLS) + " |")
    nest = df["mapping"] != "scalesim"
    ksplit = df["psum"] != "none"
    ratio = df["rtl_over_sim"]
    modes = ", ".join(f"{m} {int((df.psum == m).sum())}" for m in ("pe", "sram", "dram"))
    lines += [
        "",
        f"{int(df['passed'].sum())} of {len(df)} configurations passed every check "
        f"({int(nest.sum())} loop nests, {int((~nest).sum())} scalesim; "
        f"{int(ksplit.sum())} nests split K, partial sums in {modes}). The RTL array cycles "
        f"equal the simulator's compute cycles in {int((df.rtl_array == df.sim_compute).sum())} "
        f"of {len(df)}. RTL / simulator total cycles range from {ratio.min():.2f} to "
        f"{ratio.max():.2f} (loop nests: {ratio[nest].min():.2f} to {ratio[nest].max():.2f}; "
        f"K splits: {ratio[ksplit].min():.2f} to {ratio[ksplit].max():.2f}).",
    ]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--random", type=int, default=10, help="random scalesim configurations")
    ap.add_argument("--random-nests", type=int, default=10, help="random loop-nest configurations")
    ap.add_argument("--sim", default="icarus", choices=["icarus", "verilator"])
    ap.add_argument("--out", default=str(CSV))
    ap.add_argument("--table", action="store_true", help="print the markdown table of --out")
    args = ap.parse_args()
    if args.table:
        print(markdown(pd.read_csv(args.out)))
        return
    rows = []
    for name, kw, mnk, mapping in cases(args.random, args.random_nests):
        r = measure(name, kw, mnk, mapping, args.sim)
        if r is not None:
            rows.append(r)
            print(r)
    df = pd.DataFrame(rows)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    df.to_csv(args.out, index=False)
    print(df.to_string(index=False))
    print(markdown(pd.read_csv(args.out)))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

"""Tile area vs array size for two PE kinds (docs/rtl.md, "Accelerator tile"): synthesize the
generated tile (hwsim.rtl.tile_area: array / buffers-as-registers / controller, NAND2 gate
equivalents with the pinned Yosys) of an 8x8x8 GEMM on n x n OS arrays and write
rtl/data/tile_area.csv and rtl/data/tile_area_vs_array.png/.svg.

Run: python benchmarks/tile_area.py [--sizes 1 2 3] [--out rtl/data]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import pandas as pd

import hwsim
from hwsim.rtl.tile_area import COLUMNS, tile_area

#: the two PE kinds of the plot: INT8 MAC and the Stripes bit-serial PE (int4, 4 cycles/chunk)
KINDS = {
    "int_mac": dict(a_fmt="int8", w_fmt="int8"),
    "bitserial": dict(scheme="stripes", a_fmt="int4", w_fmt="int4", lanes=1),
}
GEMM = (8, 8, 8)  # M, N, K: small enough that every buffer is a few hundred bytes


def plot(df: pd.DataFrame, stem: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(KINDS), figsize=(9, 3.6), sharey=True)
    for ax, kind in zip(axes, KINDS, strict=True):
        sub = df[df["pe"] == kind]
        for part, style in (("tile", "k-o"), ("array", "C0-s"), ("buffers", "C1-^"),
                            ("controller", "C2-v")):  # fmt: skip
            p = sub[sub["part"] == part].sort_values("rows")
            ax.plot(p["rows"] * p["cols"], p["ge"], style, label=part)
        ax.set_title(f"{kind} tile, GEMM {'x'.join(map(str, GEMM))}")
        ax.set_xlabel("PEs (n x n array)")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("area (NAND2 GE)")
    axes[0].legend()
    fig.tight_layout()
    for ext in ("png", "svg"):
        fig.savefig(f"{stem}.{ext}", dpi=120)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--sizes", nargs="*", type=int, default=[1, 2, 3])
    ap.add_argument("--out", default=str(Path(__file__).resolve().parents[1] / "rtl/data"))
    args = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for kind, pp in KINDS.items():
            for n in args.sizes:
                acc = hwsim.accel.systolic(
                    n, n, pe=kind, dataflow="os", pe_params=pp, act_sram_bytes=256,
                    weight_sram_bytes=256, out_sram_bytes=512,
                )  # fmt: skip
                got = tile_area(
                    acc, hwsim.workloads.gemm(*GEMM).layers[0], Path(tmp) / f"{kind}{n}"
                )
                rows += got
                print(*(f"{r['pe']} {n}x{n} {r['part']}: {r['ge']} GE" for r in got), sep="\n")
    df = pd.DataFrame(rows)[list(COLUMNS)]
    out = Path(args.out)
    df.to_csv(out / "tile_area.csv", index=False)
    plot(df, out / "tile_area_vs_array")
    print(f"wrote {out / 'tile_area.csv'} and {out / 'tile_area_vs_array'}.png/.svg")


if __name__ == "__main__":
    main()

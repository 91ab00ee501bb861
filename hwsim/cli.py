"""The ``hwsim`` command line."""

from __future__ import annotations

import argparse
import sys

import numpy as np


def _cmd_formats(args: argparse.Namespace) -> int:
    import hwsim.formats as F

    names = args.names or F.names()
    rows = []
    for name in names:
        fmt = F.get(name)
        block = getattr(fmt, "is_block", False)
        elem = fmt.element if block else fmt
        bpe = fmt.bits_per_element(args.block_len) if block else float(fmt.bits)
        try:
            lo, hi = elem.min_value, elem.max_value
        except Exception:  # noqa: BLE001 - formats without a finite grid table
            lo = hi = float("nan")
        rows.append((name, fmt.bits, bpe, lo, hi, "block" if block else "element"))
    print(f"{'format':22s} {'bits':>4s} {'bits/elem':>9s} {'min':>12s} {'max':>12s}  kind")
    for name, bits, bpe, lo, hi, kind in rows:
        print(f"{name:22s} {bits:4d} {bpe:9.3f} {lo:12.6g} {hi:12.6g}  {kind}")
    if args.values:
        for name in names:
            fmt = F.get(name)
            elem = fmt.element if getattr(fmt, "is_block", False) else fmt
            if elem.bits <= 6:
                vals = ", ".join(f"{v:g}" for v in elem.values())
                print(f"\n{name} codes 0..{(1 << elem.bits) - 1}: {vals}")
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from hwsim.demo import run_demo

    return run_demo(out_dir=args.out, quick=args.quick, quiet=args.quiet)


def _cmd_study(args: argparse.Namespace) -> int:
    from pathlib import Path

    from hwsim.study import load_study, run_study

    study = load_study(args.study)
    out = args.out or str(Path("results") / study.name)
    df = run_study(
        study, out, workers=args.workers, scheduler=args.scheduler, progress=not args.quiet
    )
    print(f"{study.name}: {len(df)} points -> {out}/results.csv, results.parquet, summary.md")
    failed = int((df["status"] == "failed").sum())  # listed on stderr and in summary.md
    return 1 if failed else 0


def _cmd_run(args: argparse.Namespace) -> int:
    import json
    from pathlib import Path

    from hwsim.config import load_config
    from hwsim.simulate import simulate

    acc, workload = load_config(args.config)
    if workload is None:
        raise ValueError(f"{args.config}: no [workload] section to run")
    if args.layer:
        keep = [ly for ly in workload.layers if args.layer in ly.name]
        if not keep:
            raise ValueError(f"no layer of {workload.name!r} matches {args.layer!r}")
        workload = type(workload)(f"{workload.name}[{args.layer}]", tuple(keep))
    rep = simulate(acc, workload)
    out = Path(args.out or Path("results") / Path(args.config).stem)
    out.mkdir(parents=True, exist_ok=True)
    table = rep.layers.drop(columns=["events"], errors="ignore")
    table.to_csv(out / "layers.csv", index=False)
    summary = {
        "config": str(args.config),
        "workload": workload.name,
        "layers": len(rep.layers),
        "cycles": int(rep.cycles),
        "stall_cycles": int(rep.stall_cycles),
        "stalls": {k: float(v) for k, v in rep.stalls.items()},
        "utilization": float(rep.utilization),
        "energy_pj": float(rep.energy_pj),
        "area_um2": float(rep.area_um2),
        "notes": list(rep.notes),
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    rows = [
        ("workload", workload.name),
        ("layers", f"{len(rep.layers):,}"),
        ("cycles", f"{rep.cycles:,}"),
        ("stall cycles", f"{rep.stall_cycles:,}  " + ", ".join(
            f"{k} {v:,.0f}" for k, v in rep.stalls.items())),
        ("utilization", f"{rep.utilization:.2%}"),
        ("energy", f"{rep.energy_pj / 1e6:,.3f} uJ"),
        ("area", f"{rep.area_um2 / 1e6:,.3f} mm2"),
    ]  # fmt: skip
    for k, v in rows:
        print(f"{k:14s} {v}")
    for note in rep.notes:
        print(f"note: {note}")
    print(f"wrote {out}/layers.csv and summary.json")
    if args.plots:
        for path in _run_plots(acc, rep, Path(args.plots), f"{Path(args.config).stem}, "
                               f"{workload.name}"):  # fmt: skip
            print(f"wrote {path}")
    return 0


def _run_plots(acc, rep, folder, title: str) -> list:
    """Roofline, per-layer utilization and energy-by-layer-role plots (PNG + SVG) of one run."""
    import hwsim.plots as P

    peak, bw = P.accelerator_peaks(acc)
    layers = rep.layers.assign(role=P.layer_roles(rep.layers["layer"]))
    return [
        *P.roofline(rep, folder / "roofline", peak, bw, title=title),
        *P.layer_utilization(rep, folder / "utilization", title=title),
        *P.energy_breakdown(layers, folder / "energy_by_layer", by="role", title=title),
    ]


def _cmd_rtl_verify(args: argparse.Namespace) -> int:
    import hwsim.rtl as rtl

    sims = args.simulator or None
    results = rtl.verify(args.pe or None, sims, vectors=args.vectors, seed=args.seed)
    failed = 0
    for r in results:
        state = {True: "PASS", False: "FAIL", None: "SKIP"}[r.passed]
        failed += r.passed is False
        what = " ".join(f"{k}={v}" for k, v in sorted(r.params.items()))
        print(f"{state} {r.kind:10s} {r.simulator:9s} {r.top:20s} seed {r.seed} "
              f"{r.vectors} vectors  {r.message}  [{what}]")  # fmt: skip
    return 1 if failed else 0


def _cmd_rtl_synth(args: argparse.Namespace) -> int:
    import hwsim.rtl as rtl

    df = rtl.synth(args.pe or None, tuple(args.widths))
    cols = ["pe", "width", "ge", "cells", "transistors", "area_um2"]
    print(df[cols].to_string(index=False))
    if args.out:
        df.to_csv(args.out, index=False)
        print(f"wrote {args.out} ({df['yosys_version'].iloc[0].split(' (')[0]})")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="hwsim",
        description="Bit-exact co-design of low-bit quantized neural-network accelerators.",
    )
    sub = p.add_subparsers(dest="command", required=True)
    f = sub.add_parser("formats", help="list number formats with bits and range")
    f.add_argument("names", nargs="*", help="format names (default: all presets)")
    f.add_argument("--values", action="store_true", help="print the value of every code (<=6 bits)")
    f.add_argument(
        "--block-len", type=int, default=128, help="axis length for per-channel bits/element"
    )
    f.set_defaults(func=_cmd_formats)
    r = sub.add_parser("run", help="simulate one accelerator on one workload (TOML config)")
    r.add_argument("config", help="accelerator + workload TOML (see studies/configs/)")
    r.add_argument("--layer", help="only layers whose name contains this (e.g. L0.q_proj)")
    r.add_argument("--out", help="output folder (default results/<config name>)")
    r.add_argument(
        "--plots",
        metavar="DIR",
        help="also write roofline, per-layer utilization and energy breakdown plots here",
    )
    r.set_defaults(func=_cmd_run)
    s = sub.add_parser("study", help="run (or resume) a design-space study from a TOML file")
    s.add_argument("study", help="study TOML file (see studies/)")
    s.add_argument("--out", help="output folder (default results/<study name>)")
    s.add_argument("--workers", type=int, help="local worker processes (default: all cores)")
    s.add_argument("--scheduler", help="Dask scheduler address, e.g. tcp://host:8786")
    s.add_argument("--quiet", action="store_true", help="no progress bar")
    s.set_defaults(func=_cmd_study)
    rt = sub.add_parser("rtl", help="generated RTL: cocotb verification and Yosys synthesis")
    rsub = rt.add_subparsers(dest="rtl_command", required=True)
    rv = rsub.add_parser("verify", help="simulate generated RTL against the PE step models")
    rv.add_argument("pe", nargs="*", help="PE kinds (default: all with a generator)")
    rv.add_argument("--simulator", action="append", choices=["icarus", "verilator"])
    rv.add_argument("--vectors", type=int, default=2000, help="cycles per run")
    rv.add_argument("--seed", type=int, default=1)
    rv.set_defaults(func=_cmd_rtl_verify)
    rs = rsub.add_parser("synth", help="Yosys area (NAND2 gate equivalents) per PE and width")
    rs.add_argument("pe", nargs="*", help="PE kinds (default: all)")
    rs.add_argument("--widths", type=int, nargs="+", default=[2, 4, 8, 16])
    rs.add_argument("--out", help="write the calibration CSV here")
    rs.set_defaults(func=_cmd_rtl_synth)
    d = sub.add_parser("demo", help="run the small end-to-end demo study and write its outputs")
    d.add_argument("--out", default="results/demo", help="output directory")
    d.add_argument("--quick", action="store_true", help="smaller sizes (for tests)")
    d.add_argument("--quiet", action="store_true", help="no progress lines")
    d.set_defaults(func=_cmd_demo)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    np.seterr(all="ignore")
    try:
        return args.func(args)
    except ValueError as exc:  # bad input from the user: a clear message, no traceback
        print(f"hwsim: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())

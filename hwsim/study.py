"""Study definitions (TOML) -> sweeps -> tables, plots and a summary.

A study file::

    [study]
    name = "formats_sqnr"
    evaluate = "format_error"          # an entry of hwsim.evaluators.SPECS
    description = "..."
    [fixed]                            # parameters of every point
    rows = 64
    [grid]                             # Cartesian product, in key order
    format = ["int4_g128", "mxfp4"]
    distribution = ["gaussian", "laplace"]
    [[exclude]]                        # optional pruning rules (partial points)
    format = "mxfp4"
    distribution = "laplace"
    [external]                         # optional: externally measured metrics (hwsim.external)
    path = "external/ppl.csv"          # CSV, relative to this study file
    on = ["format"]                    # key columns in both, or {results_col = "csv_col"}
    metric = "wikitext2_ppl"           # metric column(s) of the CSV
    how = "left"                       # left | inner | outer (hwsim.external.join_external)
    [[plot]]                           # optional plots; kind = "scatter" (default)
    x = "bits_per_element"             #   scatter with Pareto front (hwsim.plots.scatter_pareto)
    y = "sqnr_db"
    color = "format"
    facet = "distribution"
    better = "max"                     # max | min: which y is better
    [[plot]]
    kind = "energy_breakdown"          # stacked pJ columns (hwsim.plots.energy_breakdown)
    by = "format"
    parts = ["energy_pe_pj", "energy_sram_pj", "energy_dram_pj"]
    facet = "distribution"
    normalize = false                  # true: % of each bar

Columns named in ``[[plot]]`` may be sweep parameters, evaluator metrics or external metrics.

Checked before anything runs: ``[study]`` keys, and every ``[grid]`` / ``[fixed]`` key and
value against the evaluator's parameter schema (``hwsim.evaluators.SPECS``): an unknown key
is an error with a "did you mean", a missing required key or a wrong type (a string where a
number belongs, an unknown format / PE kind / design) is an error naming it; a missing
optional extra is one error naming the install command.

Running (``hwsim.sweep.run_sweep``): each point is stored under ``<out>/points/`` with its
evaluator name and version; a rerun reuses only stored points that read back and match
(key, parameters, evaluator, version) and recomputes the others with a warning naming the
file. A point that raises is recorded as failed (``status`` / ``error`` columns, a list in
summary.md) without losing the rest; ``hwsim study`` then exits with status 1. Ctrl-C or
SIGTERM stops promptly, keeping every finished point.
"""

from __future__ import annotations

import difflib
import sys
import tomllib
import warnings
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from hwsim.sweep import Sweep, run_sweep

_STUDY_KEYS = {"study", "grid", "fixed", "exclude", "only", "plot", "external", "claim"}
_HEAD_KEYS = {"name", "evaluate", "description"}

# kind -> (required keys, optional keys) of a [[plot]] entry; _TEXT keys must be strings
_TEXT = ("x", "y", "color", "facet", "xlabel", "ylabel", "title", "by")
PLOT_KINDS: dict[str, tuple[set, set]] = {
    "scatter": ({"x", "y"}, {"color", "facet", "better", "xlabel", "ylabel", "title", "labels"}),
    "energy_breakdown": ({"by"}, {"parts", "facet", "normalize", "title", "part_labels"}),
}
_EXTERNAL_KEYS = ({"path", "on", "metric"}, {"how"})


@dataclass(frozen=True)
class Study:
    name: str
    evaluate: str
    sweep: Sweep
    plots: tuple = ()
    description: str = ""
    external: dict | None = None  # [external] with ``path`` resolved against the study file
    claims: tuple = ()  # [[claim]] tables: paper claims next to our ratios (hwsim.claims)


def _check_plot(path: Path, i: int, spec: dict) -> dict:
    where = f"{path}: [[plot]] #{i + 1}"
    if not isinstance(spec, dict):
        raise ValueError(f"{where} must be a table")
    kind = spec.get("kind", "scatter")
    if kind not in PLOT_KINDS:
        raise ValueError(f"{where}: unknown kind {kind!r}; use one of {sorted(PLOT_KINDS)}")
    required, optional = PLOT_KINDS[kind]
    missing = required - set(spec)
    if missing:
        raise ValueError(f"{where} (kind {kind!r}) needs {sorted(missing)}")
    unknown = set(spec) - required - optional - {"kind", "where"}
    if unknown:
        raise ValueError(
            f"{where} (kind {kind!r}): unknown key(s) {sorted(unknown)}; "
            f"allowed: {sorted(required | optional | {'kind', 'where'})}"
        )
    for k in _TEXT:
        if k in spec and not isinstance(spec[k], str):
            raise ValueError(f"{where}: {k!r} must be a string, got {spec[k]!r}")
    if spec.get("better", "max") not in ("max", "min"):
        raise ValueError(f"{where}: better must be 'max' or 'min', got {spec['better']!r}")
    if spec.get("labels", "auto") not in ("auto", "legend", "pareto", "all", "none"):
        raise ValueError(
            f"{where}: labels must be auto|legend|pareto|all|none, got {spec['labels']!r}"
        )
    if "parts" in spec and (
        not isinstance(spec["parts"], list)
        or not spec["parts"]
        or not all(isinstance(p, str) for p in spec["parts"])
    ):
        raise ValueError(f"{where}: parts must be a non-empty list of column names")
    if "normalize" in spec and not isinstance(spec["normalize"], bool):
        raise ValueError(f"{where}: normalize must be true or false, got {spec['normalize']!r}")
    if "where" in spec and (not isinstance(spec["where"], dict) or not spec["where"]):
        raise ValueError(f"{where}: where must be a table {{column = value}} of rows to plot")
    if "part_labels" in spec and not isinstance(spec["part_labels"], dict):
        raise ValueError(f'{where}: part_labels must be a table {{column = "label"}}')
    return {**spec, "kind": kind}


def _check_external(path: Path, spec) -> dict:
    from hwsim.external import HOWS, load_external

    where = f"{path}: [external]"
    if not isinstance(spec, dict):
        raise ValueError(f"{where} must be a table")
    required, optional = _EXTERNAL_KEYS
    missing = required - set(spec)
    if missing:
        raise ValueError(f"{where} needs {sorted(missing)}")
    unknown = set(spec) - required - optional
    if unknown:
        raise ValueError(
            f"{where}: unknown key(s) {sorted(unknown)}; allowed: {sorted(required | optional)}"
        )
    if spec.get("how", "left") not in HOWS:
        raise ValueError(f"{where}: how must be one of {HOWS}, got {spec['how']!r}")
    on = spec["on"]
    if isinstance(on, str):
        on = [on]
    if isinstance(on, dict):
        ext_keys = list(on.values())
    elif isinstance(on, list) and on and all(isinstance(k, str) for k in on):
        ext_keys = list(on)
    else:
        raise ValueError(
            f"{where}: on must be a list of columns or a table "
            f'{{results_col = "csv_col"}}, got {spec["on"]!r}'
        )
    csv = (path.parent / spec["path"]).resolve()
    load_external(csv, keys=ext_keys, metric=spec["metric"])  # validate now, before the sweep
    return {**spec, "path": str(csv), "on": on, "how": spec.get("how", "left")}


def _check_head(path: Path, head) -> None:
    """[study] is a table with name, evaluate and optional description, nothing else."""
    if not isinstance(head, dict):
        raise ValueError(f"{path}: [study] must be a table")
    for key in sorted(set(head) - _HEAD_KEYS):
        close = difflib.get_close_matches(key, sorted(_HEAD_KEYS), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ValueError(f"{path}: [study]: unknown key {key!r}{hint}; use {sorted(_HEAD_KEYS)}")
    for key in ("name", "evaluate"):
        if key not in head:
            raise ValueError(f"{path}: [study] needs {key!r}")
        if not isinstance(head[key], str):
            raise ValueError(f"{path}: [study] {key} must be a string, got {head[key]!r}")


def load_study(path: str | Path) -> Study:
    """Parse and validate a study TOML file (clear errors naming the key)."""
    path = Path(path)
    if not path.exists():
        raise ValueError(f"study file {path} does not exist")
    try:
        data = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"{path}: not valid TOML: {exc}") from None
    unknown = set(data) - _STUDY_KEYS
    if unknown:
        raise ValueError(f"{path}: unknown section(s) {sorted(unknown)}; use {sorted(_STUDY_KEYS)}")
    head = data.get("study", {})
    _check_head(path, head)
    from hwsim.evaluators import get_spec

    try:
        spec = get_spec(head["evaluate"])
        sweep = Sweep(
            grid=data.get("grid", {}),
            fixed=data.get("fixed", {}),
            exclude=tuple(data.get("exclude", ())),
            only=tuple(data.get("only", ())),
        )
        spec.check_keys({*sweep.grid, *sweep.fixed}, "[grid] + [fixed]")
        spec.check_values(
            {**{k: list(v) for k, v in sweep.grid.items()},
             **{k: [v] for k, v in sweep.fixed.items()}},
            "[grid] + [fixed]",
        )  # fmt: skip
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from None
    raw = data.get("plot", [])
    if not isinstance(raw, list):
        raise ValueError(f"{path}: plots are [[plot]] tables (an array), not [plot]")
    plots = tuple(_check_plot(path, i, p) for i, p in enumerate(raw))
    external = _check_external(path, data["external"]) if "external" in data else None
    from hwsim.claims import Claim

    raw_claims = data.get("claim", [])
    if not isinstance(raw_claims, list):
        raise ValueError(f"{path}: claims are [[claim]] tables (an array), not [claim]")
    try:
        claims = tuple(Claim.from_dict(c) for c in raw_claims)
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from None
    return Study(
        head["name"], head["evaluate"], sweep, plots, head.get("description", ""), external,
        claims,
    )  # fmt: skip


def _share_line(df: pd.DataFrame, spec: dict) -> list[str]:
    """Summary lines: range over bars of each part's share of the bar total, per facet."""
    from hwsim.plots import _part_label

    parts = spec.get("parts", ["energy_pe_pj", "energy_sram_pj", "energy_dram_pj"])
    by = spec["by"]
    facets = df.groupby(spec["facet"], sort=False) if spec.get("facet") else [("all", df)]
    out = []
    for key, sub in facets:
        t = sub.assign(_by=sub[by].astype(str)).groupby("_by", sort=False)[parts].sum()
        share = t.div(t.sum(axis=1), axis=0) * 100
        rng = ", ".join(
            f"{_part_label(p)} {share[p].min():.1f}-{share[p].max():.1f} %" for p in parts
        )
        out.append(f"- Energy breakdown by {by} ({key}): share of total {rng}")
    return out


def _join(study: Study, df: pd.DataFrame, out: Path) -> tuple[pd.DataFrame, list[str]]:
    """Join the study's external metrics to the results and rewrite results.{csv,parquet}."""
    from hwsim.external import join_external, load_external

    ext = study.external
    on = ext["on"]
    ext_keys = list(on.values()) if isinstance(on, dict) else list(on)
    table = load_external(ext["path"], keys=ext_keys, metric=ext["metric"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # reported in summary.md and on stderr
        joined = join_external(df, table, on=on, how=ext["how"])
    metrics = [ext["metric"]] if isinstance(ext["metric"], str) else list(ext["metric"])
    lines = [
        f"External metric(s) {metrics} from {ext['path']} joined on {ext_keys} (how = "
        f"{ext['how']}): {int(joined.table[metrics[0]].notna().sum())} of "
        f"{len(joined.table)} rows have a value.",
    ]
    if len(joined.unmatched_results):
        lines.append(
            f"- results keys without an external row: {joined.unmatched_results.to_dict('records')}"
        )
    if len(joined.unmatched_external):
        lines.append(
            f"- external keys matching no results row: "
            f"{joined.unmatched_external.to_dict('records')}"
        )
    if len(lines) > 1:
        print("\n".join(lines), file=sys.stderr)
    joined.table.to_csv(out / "results.csv", index=False)
    joined.table.to_parquet(out / "results.parquet", index=False)
    return joined.table, [*lines, ""]


def _rows_where(df: pd.DataFrame, where: dict, what: str) -> pd.DataFrame:
    """Rows whose columns equal every value of ``where`` (a plot's row filter)."""
    mask = pd.Series(True, index=df.index)
    for col, val in where.items():
        if col not in df.columns:
            raise ValueError(f"{what}: where-column {col!r} not in the results")
        mask &= df[col] == val
    if not mask.any():
        raise ValueError(f"{what}: no result row matches where = {where}")
    return df[mask]


def run_study(
    study: Study, out_dir: str | Path, workers=None, scheduler=None, progress=True
) -> pd.DataFrame:
    """Run (or resume) the study; writes results.{csv,parquet} (with the external metrics
    joined, if any), the requested plots (PNG + SVG) and summary.md. Failed points are rows
    with ``status = "failed"`` and their ``error``, listed in summary.md and left out of plots
    and claims; the caller decides the exit status (the CLI exits 1)."""
    from hwsim.plots import energy_breakdown, pareto_front, scatter_pareto

    out = Path(out_dir)
    df = run_sweep(study.sweep.points(), study.evaluate, out, workers, scheduler, progress)
    lines = [f"# {study.name}", "", study.description, "", f"{len(df)} points.", ""]
    if study.external:
        df, ext_lines = _join(study, df, out)
        lines += ext_lines
    full = df
    failed = full[full["status"] == "failed"]
    if len(failed):
        lines += [f"**{len(failed)} point(s) failed** (left out of plots and claims; a rerun "
                  "retries them):", ""]  # fmt: skip
        lines += [f"- {pid}: {err}" for pid, err in zip(failed.point_id, failed.error, strict=True)]
        lines.append("")
    ok = full[full["status"] == "ok"]
    for i, spec in enumerate(study.plots if len(ok) else ()):
        args = {k: v for k, v in spec.items() if k not in ("kind", "where")}
        df = _rows_where(ok, spec.get("where", {}), f"[[plot]] #{i + 1}")
        if spec["kind"] == "energy_breakdown":
            what = "energy_share" if spec.get("normalize") else "energy"
            energy_breakdown(df, out / f"plot{i}_{what}_by_{spec['by']}", **args)
            share = _share_line(df, spec)
            lines += [ln for ln in share if ln not in lines]  # once per (by, facet, parts)
            continue
        scatter_pareto(df, out / f"plot{i}_{spec['y']}_vs_{spec['x']}", **args)
        better = spec.get("better", "max")
        plotted = df.dropna(subset=[spec["x"], spec["y"]])
        facets = plotted.groupby(spec["facet"]) if spec.get("facet") else [("all", plotted)]
        for key, sub in facets:
            front = pareto_front(sub, spec["x"], spec["y"], better=better)
            label = spec.get("color", "point_id")
            pts = ", ".join(str(v) for v in front[label])
            sel = "".join(f", {k}={v}" for k, v in spec.get("where", {}).items())
            lines.append(f"- Pareto front of {spec['y']} vs {spec['x']} ({key}{sel}): {pts}")
    df = full
    if study.claims and len(ok):
        from hwsim.claims import claims_markdown, evaluate_claims

        table = evaluate_claims(ok, study.claims)
        table.to_csv(out / "claims.csv", index=False)
        lines += ["", "## Paper claims next to our numbers", "", *claims_markdown(table)]
    (out / "summary.md").write_text("\n".join(lines) + "\n")
    return df

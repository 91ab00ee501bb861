"""Study definitions (TOML) -> sweeps -> tables, plots and a summary.

A study file::

    [study]
    name = "formats_sqnr"
    evaluate = "format_error"          # an entry of hwsim.evaluators.EVALUATORS
    description = "..."
    [fixed]                            # parameters of every point
    rows = 64
    [grid]                             # Cartesian product, in key order
    format = ["int4_g128", "mxfp4"]
    distribution = ["gaussian", "laplace"]
    [[exclude]]                        # optional pruning rules (partial points)
    format = "mxfp4"
    distribution = "laplace"
    [[plot]]                           # optional scatter plots with Pareto fronts
    x = "bits_per_element"
    y = "sqnr_db"
    color = "format"
    facet = "distribution"
    better = "max"                     # max | min: which y is better
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from hwsim.sweep import Sweep, run_sweep

_STUDY_KEYS = {"study", "grid", "fixed", "exclude", "only", "plot"}


@dataclass(frozen=True)
class Study:
    name: str
    evaluate: str
    sweep: Sweep
    plots: tuple = ()
    description: str = ""


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
    for key in ("name", "evaluate"):
        if key not in head:
            raise ValueError(f"{path}: [study] needs {key!r}")
    from hwsim.evaluators import get_evaluator

    get_evaluator(head["evaluate"])  # validates the name
    sweep = Sweep(
        grid=data.get("grid", {}),
        fixed=data.get("fixed", {}),
        exclude=tuple(data.get("exclude", ())),
        only=tuple(data.get("only", ())),
    )
    plots = tuple(data.get("plot", ()))
    for p in plots:
        missing = {"x", "y"} - set(p)
        if missing:
            raise ValueError(f"{path}: a [[plot]] needs {sorted(missing)}")
    return Study(head["name"], head["evaluate"], sweep, plots, head.get("description", ""))


def run_study(
    study: Study, out_dir: str | Path, workers=None, scheduler=None, progress=True
) -> pd.DataFrame:
    """Run (or resume) the study; writes results.{csv,parquet}, plots and summary.md."""
    from hwsim.plots import pareto_front, scatter_pareto

    out = Path(out_dir)
    df = run_sweep(study.sweep.points(), study.evaluate, out, workers, scheduler, progress)
    lines = [f"# {study.name}", "", study.description, "", f"{len(df)} points.", ""]
    for i, spec in enumerate(study.plots):
        stem = out / f"plot{i}_{spec['y']}_vs_{spec['x']}"
        scatter_pareto(df, stem, **spec)
        better = spec.get("better", "max")
        facets = df.groupby(spec["facet"]) if spec.get("facet") else [("all", df)]
        for key, sub in facets:
            front = pareto_front(sub, spec["x"], spec["y"], better=better)
            label = spec.get("color", "point_id")
            pts = ", ".join(str(v) for v in front[label])
            lines.append(f"- Pareto front of {spec['y']} vs {spec['x']} ({key}): {pts}")
    (out / "summary.md").write_text("\n".join(lines) + "\n")
    return df

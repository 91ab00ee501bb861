"""Publication-style plots (matplotlib, Agg): scatter with Pareto fronts, saved as PNG + SVG."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd


def pareto_front(df: pd.DataFrame, x: str, y: str, better: str = "max") -> pd.DataFrame:
    """Rows not dominated by another (smaller ``x`` is better; larger ``y`` if better="max")."""
    if better not in ("max", "min"):
        raise ValueError("better must be 'max' or 'min'")
    sign = 1.0 if better == "max" else -1.0
    ordered = df.sort_values([x, y], ascending=[True, better != "max"])
    best, keep = -np.inf, []
    for idx, val in zip(ordered.index, ordered[y], strict=True):
        if sign * val > best:
            keep.append(idx)
            best = sign * val
    return df.loc[keep]


def scatter_pareto(
    df: pd.DataFrame,
    stem: str | Path,
    x: str,
    y: str,
    color: str | None = None,
    facet: str | None = None,
    better: str = "max",
    xlabel: str | None = None,
    ylabel: str | None = None,
    title: str | None = None,
) -> list[Path]:
    """Scatter ``y`` vs ``x`` (one panel per ``facet`` value), label points by ``color``,
    draw each panel's Pareto front; returns the written files."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    for col in [c for c in (x, y, color, facet) if c]:
        if col not in df.columns:
            raise ValueError(f"plot: column {col!r} not in the results ({list(df.columns)})")
    groups = list(df.groupby(facet, sort=False)) if facet else [(None, df)]
    fig, axes = plt.subplots(1, len(groups), figsize=(4.8 * len(groups), 4), squeeze=False)
    for ax, (key, sub) in zip(axes[0], groups, strict=True):
        ax.scatter(sub[x], sub[y], s=18, color="tab:blue", zorder=3)
        if color:
            for _, r in sub.iterrows():
                ax.annotate(str(r[color]), (r[x], r[y]), fontsize=6, xytext=(3, 2),
                            textcoords="offset points")  # fmt: skip
        front = pareto_front(sub, x, y, better)
        ax.step(front[x], front[y], where="post", color="tab:red", lw=1, label="Pareto front")
        xs = sub[x].to_numpy(dtype=float)
        if xs.size and xs.min() > 0 and xs.max() / xs.min() > 10:
            ax.set_xscale("log")  # wide cost ranges (e.g. INT vs FP MACs) stay readable
        ax.set_xlabel(xlabel or x)
        ax.set_title(title or (f"{facet} = {key}" if facet else ""))
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel(ylabel or y)
    axes[0][0].legend(loc="best", fontsize=8)
    fig.tight_layout()
    stem = Path(stem)
    paths = [stem.with_suffix(".png"), stem.with_suffix(".svg")]
    fig.savefig(paths[0], dpi=150)
    fig.savefig(paths[1])
    plt.close(fig)
    return paths

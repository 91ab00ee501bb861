"""Publication-style plots (matplotlib, Agg backend), each saved as PNG (150 dpi) + SVG.

* ``scatter_pareto``: a metric against a cost, one panel per facet, with the Pareto front.
* ``energy_breakdown``: stacked horizontal bars of energy components (pJ columns).
* ``roofline`` and ``layer_utilization``: per-layer performance of one simulated run.
* ``area_vs_width``: synthesized PE area (gate equivalents) against operand width.

Every function takes a tidy DataFrame (or a ``Report``), a file ``stem`` (the suffix is
replaced by ``.png`` and ``.svg``) and returns the written paths. A column the plot needs but
the table lacks raises ValueError naming it and listing the table's columns.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

# Colour x marker combinations for categorical labels: 10 colours and 7 markers are coprime,
# so the first 70 labels all get distinct (colour, marker) pairs.
_COLORS = [
    f"tab:{c}"
    for c in ("blue", "orange", "green", "red", "purple", "brown", "pink", "gray", "olive", "cyan")
]
_MARKERS = ["o", "s", "^", "D", "v", "P", "X"]
# Above this many distinct labels a legend is unreadable; only Pareto points are annotated.
_LEGEND_MAX_LABELS = 20
# Units for energies given in pJ: (factor from pJ, name).
_ENERGY_UNITS = [(1.0, "pJ"), (1e-3, "nJ"), (1e-6, "uJ"), (1e-9, "mJ"), (1e-12, "J")]


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _require(df: pd.DataFrame, cols, what: str) -> None:
    missing = [c for c in cols if c and c not in df.columns]
    if missing:
        raise ValueError(
            f"{what}: column(s) {missing} not in the table; its columns are {list(df.columns)}"
        )


def _style(i: int) -> tuple[str, str]:
    """(colour, marker) of the i-th categorical label."""
    return _COLORS[i % len(_COLORS)], _MARKERS[i % len(_MARKERS)]


def _tick_text(v: float, _pos=None) -> str:
    """Compact tick label: 0.05, 20, 3000, 2e+07 -> 2x10^7 (mathtext)."""
    if v == 0 or 1e-3 <= abs(v) < 1e5:
        return f"{v:g}"
    exp = math.floor(math.log10(abs(v)))
    mant = v / 10**exp
    mant_s = f"{mant:.3g}"
    return rf"$10^{{{exp}}}$" if mant_s == "1" else rf"${mant_s}\times10^{{{exp}}}$"


def _log_axis(ax, which: str) -> None:
    """Log scale with ticks at 1, 2, 5 x 10^n, compact labels and no minor labels (the default
    minor labels of a short log range overlap)."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    axis = ax.xaxis if which == "x" else ax.yaxis
    (ax.set_xscale if which == "x" else ax.set_yscale)("log")
    axis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    axis.set_major_formatter(FuncFormatter(_tick_text))
    axis.set_minor_formatter(NullFormatter())


def _palette(n: int) -> list:
    """n colours: tab10 up to 10, tab20 up to 20 (distinct), then tab20 repeated."""
    if n <= len(_COLORS):
        return _COLORS[:n]
    cmap = _pyplot().get_cmap("tab20")
    return [cmap(i % 20) for i in range(n)]


def _save(fig, stem: str | Path) -> list[Path]:
    stem = Path(stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    paths = [stem.with_suffix(".png"), stem.with_suffix(".svg")]
    fig.savefig(paths[0], dpi=150, bbox_inches="tight")
    fig.savefig(paths[1], bbox_inches="tight")
    _pyplot().close(fig)
    return paths


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


def _place_labels(ax, xy: np.ndarray, texts: Sequence[str], avoid: np.ndarray, fontsize=7):
    """Annotate points ``xy`` (data coordinates) with ``texts``, choosing for each label the
    first candidate offset whose box overlaps no label placed before it and no marker of
    ``avoid`` (data coordinates); falls back to the least-overlapping candidate, drawn with a
    leader line when it sits away from its point. Call after the axes limits are final."""
    fig = ax.figure
    renderer = fig.canvas.get_renderer()
    to_px = ax.transData.transform
    pts_px = to_px(avoid) if len(avoid) else np.empty((0, 2))
    pad = 3.5 * fig.dpi / 72  # marker half-size, pixels (markers are ~6 points wide)
    markers = [(px - pad, py - pad, px + pad, py + pad) for px, py in pts_px]
    # (dx, dy) offsets in points: next to the point first, then rings of growing radius
    # (12 directions each) reached by a leader line
    cands = [(4, 3), (4, -3), (-4, 3), (-4, -3), (0, 8), (0, -8)]
    for r in (14, 24, 36, 50, 66):
        cands += [
            (round(r * math.cos(t)), round(r * math.sin(t)))
            for t in np.radians(np.arange(0, 360, 30) + 15)
        ]
    placed: list[tuple[float, float, float, float]] = []
    axbox = ax.get_window_extent(renderer)

    def overlap(b, others):
        tot = 0.0
        for o in others:
            w = min(b[2], o[2]) - max(b[0], o[0])
            h = min(b[3], o[3]) - max(b[1], o[1])
            if w > 0 and h > 0:
                tot += w * h
        return tot

    for (x, y), text in zip(xy, texts, strict=True):
        own = to_px([(x, y)])[0]
        best = None
        for dx, dy in cands:
            ha = "left" if dx > 0 else "right" if dx < 0 else "center"
            va = "bottom" if dy > 0 else "top"
            ann = ax.annotate(
                text,
                (x, y),
                xytext=(dx, dy),
                textcoords="offset points",
                fontsize=fontsize,
                ha=ha,
                va=va,
            )
            e = ann.get_window_extent(renderer)
            b = (e.x0, e.y0, e.x1, e.y1)
            others = [m for m, p in zip(markers, pts_px, strict=True) if not np.allclose(p, own)]
            cost = overlap(b, placed) + overlap(b, others)
            outside = (
                (b[0] < axbox.x0) or (b[2] > axbox.x1) or (b[1] < axbox.y0) or (b[3] > axbox.y1)
            )
            cost += 1e6 if outside else 0.0
            ann.remove()
            if best is None or cost < best[0]:
                best = (cost, dx, dy, ha, va, b)
            if cost == 0:
                break
        _, dx, dy, ha, va, b = best
        far = abs(dx) > 8 or abs(dy) > 8  # a ring position: draw a leader line
        ax.annotate(
            text,
            (x, y),
            xytext=(dx, dy),
            textcoords="offset points",
            fontsize=fontsize,
            ha=ha,
            va=va,
            arrowprops=dict(arrowstyle="-", lw=0.4, color="0.4", shrinkA=0, shrinkB=2)
            if far
            else None,
        )
        placed.append(b)


def _panel_title(title: str | None, facet: str | None, key, default: str) -> str:
    """A panel's title: the given title (or default) and, in a faceted figure, the facet."""
    if not facet:
        return title or default
    return f"{title}\n{facet} = {key}" if title else f"{facet} = {key}"


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
    labels: str = "auto",
    reference: pd.DataFrame | None = None,
    reference_label: str = "reference",
) -> list[Path]:
    """Scatter ``y`` vs ``x`` (one panel per ``facet`` value) with each panel's Pareto front
    (smaller ``x`` better; ``better`` says which ``y`` is); returns the written files.

    ``color`` names the column that labels points. ``labels``:
    ``"legend"``: one colour + marker per label, shared legend, and the Pareto points are
    annotated (a Pareto point's label also names the points its marker hides); ``"pareto"``:
    one colour, only the Pareto points annotated; ``"all"``: every
    point annotated (overlap-avoiding placement); ``"none"``; ``"auto"`` (default): legend up to
    20 distinct labels, else pareto. Axis units come from ``xlabel``/``ylabel``. A log x axis
    is used when positive ``x`` spans more than 10x. ``reference``: a curve drawn dashed in
    every panel (columns ``x``, ``y`` and ``facet`` if faceted), named ``reference_label``.
    """
    if labels not in ("auto", "legend", "pareto", "all", "none"):
        raise ValueError(f"labels must be auto|legend|pareto|all|none, got {labels!r}")
    if better not in ("max", "min"):
        raise ValueError(f"better must be 'max' or 'min', got {better!r}")
    _require(df, (x, y, color, facet), "scatter plot")
    for col in (x, y):
        if not pd.api.types.is_numeric_dtype(df[col]):
            raise ValueError(f"scatter plot: column {col!r} is not numeric ({df[col].dtype})")
    full = len(df)
    df = df.dropna(subset=[x, y])  # e.g. configurations without an external measurement
    missing = full - len(df)
    if df.empty:
        raise ValueError(f"scatter plot: no row has both {x!r} and {y!r}")
    plt = _pyplot()
    names = list(dict.fromkeys(df[color].astype(str))) if color else []
    mode = labels
    if mode == "auto":
        mode = "legend" if color and len(names) <= _LEGEND_MAX_LABELS else "pareto"
    if not color:
        mode = "none"
    colours = _palette(len(names))  # distinct colours up to 20 labels, markers on top
    styles = {n: (colours[i], _MARKERS[i % len(_MARKERS)]) for i, n in enumerate(names)}
    groups = list(df.groupby(facet, sort=False)) if facet else [(None, df)]
    fig, axes = plt.subplots(1, len(groups), figsize=(4.8 * len(groups), 4), squeeze=False)
    fronts = []
    for ax, (key, sub) in zip(axes[0], groups, strict=True):
        if mode == "legend":
            for n, part in sub.groupby(sub[color].astype(str), sort=False):
                c, m = styles[n]
                ax.scatter(
                    part[x], part[y], s=22, color=c, marker=m, zorder=3, label=n, edgecolors="none"
                )
        else:
            ax.scatter(sub[x], sub[y], s=18, color="tab:blue", zorder=3)
        front = pareto_front(sub, x, y, better)
        fronts.append(front)
        ax.step(front[x], front[y], where="post", color="tab:red", lw=1, zorder=2, label="_front")
        if reference is not None:
            ref = reference if facet is None else reference[reference[facet] == key]
            ref = ref.sort_values(x)
            ax.plot(ref[x], ref[y], "k--", lw=0.8, zorder=1, label="_reference")
        xs = sub[x].to_numpy(dtype=float)
        if xs.size and xs.min() > 0 and xs.max() / xs.min() > 10:
            _log_axis(ax, "x")  # wide cost ranges (e.g. INT vs FP MACs) stay readable
        ax.set_xlabel(xlabel or x)
        ax.set_title(_panel_title(title, facet, key, ""), fontsize=10)
        ax.grid(alpha=0.3)
        ax.margins(x=0.08, y=0.08)
    axes[0][0].set_ylabel(ylabel or y)
    from matplotlib.lines import Line2D

    front_handle = Line2D([], [], color="tab:red", lw=1, label="Pareto front")
    if reference is not None:
        _require(reference, (x, y, facet), "scatter plot reference")
        ref_handle = Line2D([], [], color="black", ls="--", lw=0.8, label=reference_label)
        front_handle = [front_handle, ref_handle]
    else:
        front_handle = [front_handle]
    if mode == "legend":
        handles = [
            Line2D([], [], ls="", marker=styles[n][1], color=styles[n][0], label=n) for n in names
        ]
        fig.legend(
            handles=[*front_handle, *handles],
            loc="center left",
            bbox_to_anchor=(1.0, 0.5),
            fontsize=7,
            title=color,
            title_fontsize=8,
            frameon=False,
            ncol=1 if len(names) <= 14 else 2,
        )
    else:
        axes[0][0].legend(handles=front_handle, loc="best", fontsize=8)
    _offsets_into_labels(fig, axes[0])
    fig.tight_layout()
    if missing:
        fig.text(
            0.01, -0.01, f"{missing} row(s) without {x} or {y} not shown", fontsize=7, va="top"
        )
    if mode in ("legend", "pareto", "all"):
        for ax, (_, sub), front in zip(axes[0], groups, fronts, strict=True):
            rows = sub if mode == "all" else front
            texts = rows[color].astype(str).tolist()
            if mode != "all":  # name the points hidden under each labelled one
                texts = _with_hidden(ax, rows, sub, x, y, color, texts)
            _place_labels(
                ax,
                rows[[x, y]].to_numpy(dtype=float),
                texts,
                sub[[x, y]].to_numpy(dtype=float),
                fontsize=6.5,
            )
    return _save(fig, stem)


def _with_hidden(ax, rows, sub, x, y, color, texts, per_line: int = 2) -> list[str]:
    """Label texts of ``rows`` extended by the unlabelled points of ``sub`` whose markers
    overlap theirs on screen (centres closer than one marker width, ~6 points), e.g.
    ``"a\noverlapping: b, c"``; each hidden point is named once, at its nearest label."""
    px = ax.transData.transform
    near = 6 * ax.figure.dpi / 72  # marker width in pixels
    lab = px(rows[[x, y]].to_numpy(dtype=float))
    others = sub.drop(index=rows.index)
    extra: list[list[str]] = [[] for _ in texts]
    if len(others):
        opx = px(others[[x, y]].to_numpy(dtype=float))
        for name, p in zip(others[color].astype(str), opx, strict=True):
            d = np.hypot(*(lab - p).T)
            if d.min() < near:
                extra[int(d.argmin())].append(name)
    out = []
    for t, e in zip(texts, extra, strict=True):
        if e:
            chunks = [", ".join(e[i : i + per_line]) for i in range(0, len(e), per_line)]
            t += "\noverlapping: " + ",\n".join(chunks)
        out.append(t)
    return out


def _offsets_into_labels(fig, axes) -> None:
    """Move matplotlib's axis offset / multiplier text (e.g. "1e10", which collides with long
    axis labels) into the axis label itself."""
    fig.canvas.draw()
    for ax in axes:
        for axis in (ax.xaxis, ax.yaxis):
            text = axis.get_major_formatter().get_offset() if axis.get_scale() == "linear" else ""
            if text:
                axis.offsetText.set_visible(False)
                label = axis.get_label().get_text()
                axis.set_label_text(f"{label} [x {text}]" if label else f"x {text}")


def _energy_unit(max_pj: float) -> tuple[float, str]:
    """Largest unit in which ``max_pj`` (pJ) is at least 1: (factor from pJ, unit name)."""
    for factor, name in reversed(_ENERGY_UNITS):
        if max_pj * factor >= 1:
            return factor, name
    return _ENERGY_UNITS[0]


def _part_label(col: str) -> str:
    """energy_sram_pj -> SRAM; energy_leakage_pj -> leakage; other names unchanged."""
    m = re.fullmatch(r"energy_(.+)_pj", col)
    if not m:
        return col
    name = m.group(1)
    return name.upper() if len(name) <= 4 else name.replace("_", " ")


def energy_breakdown(
    df: pd.DataFrame,
    stem: str | Path,
    by: str,
    parts: Sequence[str] = ("energy_pe_pj", "energy_sram_pj", "energy_dram_pj"),
    facet: str | None = None,
    normalize: bool = False,
    part_labels: dict | None = None,
    title: str | None = None,
) -> list[Path]:
    """Stacked horizontal bars: one bar per value of ``by`` (rows sharing a value, within a
    facet, are summed), one segment per column of ``parts`` (energies in pJ), one panel per
    ``facet`` value. The axis is in the largest of pJ/nJ/uJ/mJ/J that keeps the biggest bar
    >= 1, or in % of each bar's total when ``normalize``. ``part_labels`` maps part columns to
    legend names (default: energy_sram_pj -> SRAM). Returns the written files."""
    parts = list(parts)
    if not parts:
        raise ValueError("energy_breakdown: parts is empty; name the pJ columns to stack")
    _require(df, (by, facet, *parts), "energy breakdown")
    bad = [p for p in parts if not pd.api.types.is_numeric_dtype(df[p])]
    if bad:
        raise ValueError(f"energy_breakdown: part column(s) {bad} are not numeric")
    neg = [p for p in parts if (df[p] < 0).any()]
    if neg:
        raise ValueError(f"energy_breakdown: part column(s) {neg} have negative energies")
    labels = {p: (part_labels or {}).get(p, _part_label(p)) for p in parts}
    plt = _pyplot()
    groups = list(df.groupby(facet, sort=False)) if facet else [(None, df)]
    order = list(dict.fromkeys(df[by].astype(str)))
    tables = []
    for _, sub in groups:
        t = sub.assign(_by=sub[by].astype(str)).groupby("_by", sort=False)[parts].sum()
        tables.append(t.reindex([o for o in order if o in t.index]))
    peak = max(float(t.sum(axis=1).max()) for t in tables)
    factor, unit = (100.0, "%") if normalize else _energy_unit(peak)
    height = max(2.2, 0.32 * len(order) + 1.2)
    fig, axes = plt.subplots(
        1, len(groups), figsize=(4.6 * len(groups), height), squeeze=False, sharey=True
    )
    for j, (ax, (key, _), t) in enumerate(zip(axes[0], groups, tables, strict=True)):
        vals = t.div(t.sum(axis=1).replace(0, np.nan), axis=0).fillna(0) if normalize else t
        ypos = np.array([order.index(i) for i in t.index])
        left = np.zeros(len(t))
        for i, p in enumerate(parts):
            w = vals[p].to_numpy(dtype=float) * factor
            ax.barh(
                ypos,
                w,
                left=left,
                height=0.7,
                color=_COLORS[i % len(_COLORS)],
                label=labels[p] if j == 0 else "_nolegend_",
            )
            left += w
        ax.set_yticks(range(len(order)))
        ax.set_yticklabels(order, fontsize=8)
        ax.set_ylim(len(order) - 0.5, -0.5)  # first category on top
        ax.set_xlabel(f"share of energy ({unit})" if normalize else f"energy ({unit})")
        ax.set_xlim(0, 100) if normalize else ax.set_xlim(left=0)
        ax.set_title(_panel_title(title, facet, key, "energy breakdown"), fontsize=10)
        ax.grid(axis="x", alpha=0.3)
        ax.set_axisbelow(True)
    axes[0][0].set_ylabel(by)
    fig.tight_layout()
    fig.legend(
        loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=len(parts), fontsize=8, frameon=False
    )
    return _save(fig, stem)


def layer_roles(names: Sequence[str]) -> list[str]:
    """Layer role from its name: the part after the last '.' (``L3.q_proj`` -> ``q_proj``,
    ``layer2.0.downsample`` -> ``downsample``); names without a dot are their own role."""
    return [str(n).rsplit(".", 1)[-1] for n in names]


def _layers_table(report_or_layers) -> pd.DataFrame:
    df = getattr(report_or_layers, "layers", report_or_layers)
    if not isinstance(df, pd.DataFrame):
        raise ValueError(
            f"expected a hwsim Report or its .layers DataFrame, got {type(report_or_layers)}"
        )
    return df


def accelerator_peaks(acc, k: int = 1 << 16) -> tuple[float, float | None]:
    """(peak MACs/cycle, DRAM bytes/cycle or None if unlimited) of an Accelerator: PEs x the
    PE's MACs per cycle on a length-``k`` dot product (from the PE step model's cycle count,
    so multi-lane and bit-serial PEs count right); bandwidth x channels. For a Heterogeneous
    accelerator, the largest cluster peak and bandwidth (layers run on one cluster at a time)."""
    from hwsim.accel import PETiming

    clusters = getattr(acc, "clusters", (acc,))
    peaks, bws = [], []
    for a in clusters:
        t = PETiming(a.pe, a.pe_params)
        peaks.append(a.num_pes * k / t.dot_cycles(k))
        bw = a.dram.bandwidth_bytes_per_cycle
        bws.append(None if bw is None else bw * a.dram.channels)
    return max(peaks), (None if any(b is None for b in bws) else max(bws))


def roofline(
    report_or_layers,
    stem: str | Path,
    peak_macs_per_cycle: float,
    dram_bytes_per_cycle: float | None,
    title: str | None = None,
) -> list[Path]:
    """Roofline of one run, one point per layer: operational intensity (MACs per DRAM byte,
    reads + writes of all operands) against achieved MACs/cycle, under the compute roof
    (``peak_macs_per_cycle``) and the DRAM roof (``dram_bytes_per_cycle`` x intensity; None =
    unlimited bandwidth, no roof). Points are coloured by layer role (``layer_roles``); layers
    without MACs (element-wise) or without DRAM traffic cannot be placed and are counted in
    the title. Log-log axes."""
    df = _layers_table(report_or_layers)
    _require(df, ("layer", "macs", "cycles"), "roofline")
    dram_cols = [c for c in df.columns if c.startswith("dram_") and "bytes" in c]
    if not dram_cols:
        raise ValueError(f"roofline: no dram_*bytes* columns in the table ({list(df.columns)})")
    if not peak_macs_per_cycle > 0:
        raise ValueError(f"roofline: peak_macs_per_cycle must be > 0, got {peak_macs_per_cycle}")
    if dram_bytes_per_cycle is not None and not dram_bytes_per_cycle > 0:
        raise ValueError(
            f"roofline: dram_bytes_per_cycle must be > 0 or None, got {dram_bytes_per_cycle}"
        )
    dram = df[dram_cols].sum(axis=1).to_numpy(dtype=float)
    macs = df["macs"].to_numpy(dtype=float)
    cycles = df["cycles"].to_numpy(dtype=float)
    ok = (macs > 0) & (dram > 0) & (cycles > 0)
    no_mac, no_dram = int((macs <= 0).sum()), int(((macs > 0) & (dram <= 0)).sum())
    inten, perf = macs[ok] / dram[ok], macs[ok] / cycles[ok]
    roles = np.array(layer_roles(df["layer"]))[ok]
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    ridge = peak_macs_per_cycle / dram_bytes_per_cycle if dram_bytes_per_cycle else None
    span = [*inten, *([ridge] if ridge else [])] or [1.0]
    lo, hi = min(span) / 4, max(span) * 4
    xs = np.geomspace(lo, hi, 200)
    roof = np.full_like(xs, peak_macs_per_cycle)
    if dram_bytes_per_cycle:
        roof = np.minimum(roof, dram_bytes_per_cycle * xs)
    ax.plot(xs, roof, color="black", lw=1.4, zorder=2, label="_roof")
    ax.annotate(
        f"compute roof {peak_macs_per_cycle:,.0f} MACs/cycle",
        (hi, peak_macs_per_cycle),
        xytext=(-2, 3),
        textcoords="offset points",
        ha="right",
        va="bottom",
        fontsize=7,
    )
    if dram_bytes_per_cycle:
        x0 = lo * 1.5
        ax.annotate(
            f"DRAM roof {dram_bytes_per_cycle:,.0f} B/cycle",
            (x0, dram_bytes_per_cycle * x0),
            xytext=(4, 2),
            textcoords="offset points",
            ha="left",
            va="top",
            fontsize=7,
            rotation=0,
        )
        ax.axvline(ridge, color="0.6", lw=0.8, ls=":", zorder=1)
    names = list(dict.fromkeys(roles))
    for i, n in enumerate(names):
        c, m = _style(i)
        sel = roles == n
        ax.scatter(
            inten[sel],
            perf[sel],
            s=26,
            color=c,
            marker=m,
            zorder=3,
            edgecolors="none",
            label=f"{n} ({int(sel.sum())})",
        )
    _log_axis(ax, "x")
    _log_axis(ax, "y")
    ymin = min([*perf, peak_macs_per_cycle]) / 3
    ax.set_ylim(ymin, peak_macs_per_cycle * 3)
    ax.set_xlim(lo, hi)
    ax.set_xlabel("operational intensity (MACs / DRAM byte)")
    ax.set_ylabel("achieved throughput (MACs / cycle)")
    skipped = []
    if no_mac:
        skipped.append(f"{no_mac} layer(s) without MACs")
    if no_dram:
        skipped.append(f"{no_dram} without DRAM traffic")
    head = title or "roofline"
    ax.set_title(head + (f"\n(not shown: {', '.join(skipped)})" if skipped else ""), fontsize=10)
    ax.grid(True, which="both", alpha=0.25)
    ax.legend(
        title="layer (count)",
        fontsize=7,
        title_fontsize=8,
        loc="center left",
        bbox_to_anchor=(1.01, 0.5),
        frameon=False,
    )
    fig.tight_layout()
    return _save(fig, stem)


def layer_utilization(
    report_or_layers, stem: str | Path, title: str | None = None, max_ticks: int = 40
) -> list[Path]:
    """PE utilization (% of PE-cycles doing useful work) of every layer as bars in execution
    order, coloured by layer role, with the cycle-weighted utilization of the whole run as a
    dashed line. Layer names label the x axis up to ``max_ticks`` layers, else the layer
    index does."""
    df = _layers_table(report_or_layers)
    _require(df, ("layer", "utilization", "cycles"), "utilization plot")
    util = df["utilization"].to_numpy(dtype=float) * 100
    cycles = df["cycles"].to_numpy(dtype=float)
    roles = layer_roles(df["layer"])
    names = list(dict.fromkeys(roles))
    plt = _pyplot()
    n = len(df)
    fig, ax = plt.subplots(figsize=(min(12.0, max(5.5, 0.22 * n + 2)), 3.8))
    idx = np.arange(n)
    palette = _palette(len(names))
    for i, r in enumerate(names):
        sel = np.array([x == r for x in roles])
        ax.bar(idx[sel], util[sel], width=0.85 if n < 200 else 1.0, color=palette[i], label=r)
    total = float((util * cycles).sum() / cycles.sum()) if cycles.sum() else 0.0
    ax.axhline(total, color="black", lw=1, ls="--", label=f"whole run {total:.1f} %")
    if n <= max_ticks:
        ax.set_xticks(idx)
        ax.set_xticklabels(df["layer"].astype(str), rotation=60, ha="right", fontsize=7)
        ax.set_xlabel("layer")
    else:
        ax.set_xlabel("layer index (execution order)")
    ax.set_xlim(-0.6, n - 0.4)
    ax.set_ylim(0, max(5.0, min(100.0, float(util.max(initial=0)) * 1.15)))
    ax.set_ylabel("PE utilization (%)")
    ax.set_title(title or "PE utilization per layer", fontsize=10)
    ax.grid(axis="y", alpha=0.3)
    ax.set_axisbelow(True)
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5), frameon=False)
    fig.tight_layout()
    return _save(fig, stem)


def _kind_label(kind: str, params: list) -> str:
    """PE kind plus the parameters that stay fixed across its widths (``params``: JSON text
    or dicts, one per width)."""
    try:
        dicts = [p if isinstance(p, dict) else json.loads(p) for p in params]
    except (TypeError, json.JSONDecodeError):
        return kind
    if not all(isinstance(d, dict) for d in dicts):
        return kind
    if not dicts:
        return kind
    fixed = {k: v for k, v in dicts[0].items() if all(d.get(k) == v for d in dicts[1:])}
    bits = []
    if "rows" in fixed and "cols" in fixed:  # array wrapper: of which PE (default int_mac)
        cell = fixed.pop("pe", "int_mac")
        bits.append(f"{fixed.pop('rows')}x{fixed.pop('cols')} {cell} array")
    for k in ("acc_bits", "acc_fmt", "a_fmt", "scheme"):
        fixed.pop(k, None)
    if fixed.get("lanes") == 1:
        fixed.pop("lanes")
    bits += [f"{k}={v}" for k, v in sorted(fixed.items())]
    return f"{kind} ({', '.join(bits)})" if bits else kind


def area_vs_width(calibration_df: pd.DataFrame, stem: str | Path, title: str | None = None):
    """Synthesized area (gate equivalents, NAND2 = 1) against operand width (bits), one line
    per PE kind, from a calibration table (``rtl/data/pe_area_calibration.csv``: columns
    ``pe``, ``width``, ``ge``; optional ``params`` (JSON; fixed parameters go into the legend),
    ``um2_per_ge`` (adds a um2 axis when it is one value) and ``yosys_version`` (title)).
    The y axis is logarithmic when the areas span more than 10x."""
    df = calibration_df
    _require(df, ("pe", "width", "ge"), "area vs width")
    if df.empty:
        raise ValueError("area vs width: the calibration table has no rows")
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.0, 4.2))
    for i, (kind, g) in enumerate(df.groupby("pe", sort=False)):
        g = g.sort_values("width")
        label = _kind_label(kind, g["params"].tolist()) if "params" in g else str(kind)
        c, m = _style(i)
        ax.plot(g["width"], g["ge"], marker=m, color=c, ms=5, lw=1.2, label=label)
    widths = sorted(df["width"].unique())
    ax.set_xscale("log", base=2)
    ax.set_xticks(widths)
    ax.set_xticklabels([str(w) for w in widths])
    ge = df["ge"].to_numpy(dtype=float)
    if ge.min() > 0 and ge.max() / ge.min() > 10:
        _log_axis(ax, "y")
    ax.set_xlabel("operand width (bits)")
    ax.set_ylabel("area (GE, NAND2 = 1)")
    if "um2_per_ge" in df and df["um2_per_ge"].nunique() == 1:
        k = float(df["um2_per_ge"].iloc[0])
        sec = ax.secondary_yaxis("right", functions=(lambda g: g * k, lambda a: a / k))
        sec.set_ylabel(f"area (um2 at {k:g} um2/GE)")
        if ax.get_yscale() == "log":
            from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

            sec.yaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
            sec.yaxis.set_major_formatter(FuncFormatter(_tick_text))
            sec.yaxis.set_minor_formatter(NullFormatter())
    tool = ""
    if "yosys_version" in df:
        tool = f" ({str(df['yosys_version'].iloc[0]).split(' (')[0]})"
    ax.set_title(title or f"PE area vs operand width{tool}", fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    fig.legend(
        loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=7, frameon=False, title="PE kind"
    )
    return _save(fig, stem)

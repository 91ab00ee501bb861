"""Plots: the drawn matplotlib objects (axes labels, lines, bars, annotations) carry the data."""

import itertools
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import hwsim
import hwsim.plots as P
from hwsim.cli import main

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def figs(monkeypatch):
    """Record every figure the plot functions save (they close it afterwards)."""
    saved = []
    real = P._save

    def keep(fig, stem):
        saved.append(fig)
        return real(fig, stem)

    monkeypatch.setattr(P, "_save", keep)
    return saved


def _dominated(df, x, y, i):
    r = df.loc[i]
    others = df.drop(index=i)
    return bool(
        (
            (others[x] <= r[x]) & (others[y] >= r[y]) & ((others[x] < r[x]) | (others[y] > r[y]))
        ).any()
    )


def test_pareto_front_matches_brute_force():
    rng = np.random.default_rng(3)
    df = pd.DataFrame({"c": rng.uniform(1, 100, 60), "a": rng.uniform(0, 1, 60)})
    front = P.pareto_front(df, "c", "a")
    brute = [i for i in df.index if not _dominated(df, "c", "a", i)]
    assert sorted(front.index) == sorted(brute)
    with pytest.raises(ValueError, match="better"):
        P.pareto_front(df, "c", "a", better="up")


def _sample(n=18, seed=0):
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "cost_um2": rng.uniform(1e3, 5e4, n),
            "acc": rng.uniform(0.5, 0.99, n),
            "fmt": [f"fmt{i}" for i in range(n)],
            "dist": ["a", "b"] * (n // 2),
        }
    )


def test_scatter_labels_axes_front_and_legend(tmp_path, figs):
    df = _sample()
    paths = P.scatter_pareto(
        df,
        tmp_path / "s",
        "cost_um2",
        "acc",
        color="fmt",
        facet="dist",
        xlabel="area (um2)",
        ylabel="accuracy",
    )
    assert [p.suffix for p in paths] == [".png", ".svg"] and all(p.stat().st_size for p in paths)
    (fig,) = figs
    axes = fig.axes
    assert len(axes) == 2
    assert [ax.get_xlabel() for ax in axes] == ["area (um2)"] * 2
    assert axes[0].get_ylabel() == "accuracy"
    assert axes[0].get_xscale() == "log"  # 1e3 .. 5e4 spans more than 10x
    for ax, (_, sub) in zip(axes, df.groupby("dist", sort=False), strict=True):
        (line,) = [ln for ln in ax.get_lines() if ln.get_color() == "tab:red"]
        expected = sorted(i for i in sub.index if not _dominated(sub, "cost_um2", "acc", i))
        assert sorted(line.get_xdata()) == sorted(sub.loc[expected, "cost_um2"])
        # legend mode annotates exactly the Pareto points
        assert sorted(t.get_text() for t in ax.texts) == sorted(sub.loc[expected, "fmt"])
    legend_names = [t.get_text() for t in fig.legends[0].get_texts()]
    assert legend_names == ["Pareto front", *df["fmt"]]


def _boxes(fig, ax):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.text import Text

    r = FigureCanvasAgg(fig).get_renderer()  # the closed figure lost its canvas
    for t in ax.texts:
        t.update_positions(r)  # positions at this renderer's dpi
    return [Text.get_window_extent(t, r) for t in ax.texts]  # the text, not its leader line


def test_scatter_labels_do_not_overlap_in_a_dense_cluster(tmp_path, figs):
    # 9 points close together on a rising line (plus one far away): all on the front; labels
    # at one fixed offset would overlap their neighbours
    x = np.r_[np.linspace(10, 11, 9), 30]
    df = pd.DataFrame({"x": x, "y": x / 10, "name": [f"config_{i}" for i in range(10)]})
    P.scatter_pareto(df, tmp_path / "d", "x", "y", color="name", labels="all")
    fig = figs[0]
    boxes = _boxes(fig, fig.axes[0])
    assert len(boxes) == 10
    for a, b in itertools.combinations(boxes, 2):
        assert not a.overlaps(b), "annotation labels overlap"


def test_scatter_many_labels_annotates_pareto_only_and_reports_missing(tmp_path, figs):
    df = _sample(n=30)
    df.loc[0, "acc"] = np.nan
    P.scatter_pareto(df, tmp_path / "m", "cost_um2", "acc", color="fmt")
    fig = figs[0]
    clean = df.dropna()
    front = P.pareto_front(clean, "cost_um2", "acc")
    assert sorted(t.get_text() for t in fig.axes[0].texts) == sorted(front["fmt"])
    assert not fig.legends  # 30 labels: no legend, Pareto points named on the plot
    assert any("1 row(s) without" in t.get_text() for t in fig.texts)


def test_scatter_errors_name_the_column(tmp_path):
    df = _sample()
    with pytest.raises(ValueError, match=r"\['energy_pj'\].*columns are \['cost_um2'"):
        P.scatter_pareto(df, tmp_path / "e", "energy_pj", "acc")
    with pytest.raises(ValueError, match="labels must be"):
        P.scatter_pareto(df, tmp_path / "e", "cost_um2", "acc", labels="some")


def _energy_df():
    return pd.DataFrame(
        {
            "design": ["a", "b", "a", "c", "b", "c"],
            "phase": ["decode"] * 3 + ["prefill"] * 3,
            "energy_pe_pj": [1e9, 2e9, 3e9, 4e9, 5e9, 6e9],
            "energy_sram_pj": [2e9, 1e9, 1e9, 1e9, 2e9, 3e9],
            "energy_dram_pj": [7e9, 5e9, 2e9, 9e9, 1e9, 1e9],
        }
    )


def _bar_widths(ax):
    """{(y position, colour): width} of the horizontal bars."""
    return {
        (round(p.get_y() + p.get_height() / 2), p.get_facecolor()): p.get_width()
        for p in ax.patches
    }


def test_energy_breakdown_stacks_sums_in_a_readable_unit(tmp_path, figs):
    df = _energy_df()
    parts = ["energy_pe_pj", "energy_sram_pj", "energy_dram_pj"]
    P.energy_breakdown(df, tmp_path / "e", by="design", facet="phase")
    fig = figs[0]
    assert [ax.get_title() for ax in fig.axes] == ["phase = decode", "phase = prefill"]
    P.energy_breakdown(df, tmp_path / "t", by="design", facet="phase", title="64 x 64")
    # a given title keeps the facet in every panel's title
    assert [ax.get_title() for ax in figs[1].axes] == [
        "64 x 64\nphase = decode",
        "64 x 64\nphase = prefill",
    ]
    # largest bar is 1.6e10 pJ = 16 mJ: the axis is in mJ
    assert all(ax.get_xlabel() == "energy (mJ)" for ax in fig.axes)
    assert [t.get_text() for t in fig.legends[0].get_texts()] == ["PE", "SRAM", "DRAM"]
    order = ["a", "b", "c"]
    assert [t.get_text() for t in fig.axes[0].get_yticklabels()] == order
    for ax, (_, sub) in zip(fig.axes, df.groupby("phase", sort=False), strict=True):
        sums = sub.groupby("design")[parts].sum()
        for design, row in sums.iterrows():
            y = order.index(design)
            segs = sorted(
                (p.get_x(), p.get_width())
                for p in ax.patches
                if round(p.get_y() + p.get_height() / 2) == y
            )
            assert [w for _, w in segs] == pytest.approx((row * 1e-9).tolist())
            assert segs[-1][0] + segs[-1][1] == pytest.approx(row.sum() * 1e-9)


def test_energy_breakdown_normalized_bars_reach_100(tmp_path, figs):
    P.energy_breakdown(_energy_df(), tmp_path / "n", by="design", normalize=True)
    ax = figs[0].axes[0]
    assert ax.get_xlabel() == "share of energy (%)"
    ends = {}
    for p in ax.patches:
        y = round(p.get_y() + p.get_height() / 2)
        ends[y] = max(ends.get(y, 0), p.get_x() + p.get_width())
    assert list(ends.values()) == pytest.approx([100.0] * 3)


def test_energy_breakdown_errors(tmp_path):
    df = _energy_df()
    with pytest.raises(ValueError, match=r"\['energy_leak_pj'\] not in the table"):
        P.energy_breakdown(df, tmp_path / "x", by="design", parts=["energy_leak_pj"])
    df.loc[0, "energy_pe_pj"] = -1
    with pytest.raises(ValueError, match="negative"):
        P.energy_breakdown(df, tmp_path / "x", by="design")


@pytest.fixture(scope="module")
def resnet_run():
    acc = hwsim.accel.systolic(16, 16, pe="int_mac", dataflow="ws", dram_bw=32)
    return acc, hwsim.simulate(acc, hwsim.workloads.get("resnet18"))


def test_accelerator_peaks():
    acc = hwsim.accel.systolic(8, 4, pe="int_mac", dram_bw=16)
    assert P.accelerator_peaks(acc) == (32.0, 16)  # int_mac: one MAC per PE per cycle
    free = hwsim.accel.systolic(8, 4, pe="int_mac")
    assert P.accelerator_peaks(free)[1] is None
    # a bit-serial PE with many lanes: the peak is what a long compute-bound GEMM approaches
    bs = hwsim.accel.systolic(
        8,
        8,
        pe="bitserial",
        dataflow="os",
        pe_params={"scheme": "booth", "a_fmt": "int8", "w_fmt": "int4"},
    )
    peak, _ = P.accelerator_peaks(bs)
    rep = hwsim.simulate(bs, hwsim.workloads.gemm(64, 64, 8192))
    achieved = rep.layers["macs"].sum() / rep.cycles
    assert 0.5 * peak < achieved <= peak


def test_roofline_points_roofs_and_labels(tmp_path, figs, resnet_run):
    acc, rep = resnet_run
    peak, bw = P.accelerator_peaks(acc)
    P.roofline(rep, tmp_path / "r", peak, bw, title="t")
    ax = figs[0].axes[0]
    assert ax.get_xlabel() == "operational intensity (MACs / DRAM byte)"
    assert ax.get_ylabel() == "achieved throughput (MACs / cycle)"
    assert ax.get_xscale() == ax.get_yscale() == "log"
    df = rep.layers
    dram = df.filter(regex=r"^dram_.*bytes").sum(axis=1)
    gemm = df[df["macs"] > 0]
    pts = np.vstack([c.get_offsets() for c in ax.collections])
    assert len(pts) == len(gemm)  # one point per layer with MACs
    want = np.column_stack([gemm["macs"] / dram[gemm.index], gemm["macs"] / gemm["cycles"]])
    assert sorted(map(tuple, np.round(pts, 9))) == sorted(map(tuple, np.round(want, 9)))
    roof = [ln for ln in ax.get_lines() if ln.get_linestyle() == "-"][0]
    rx, ry = roof.get_xdata(), roof.get_ydata()
    assert ry == pytest.approx(np.minimum(peak, bw * rx))
    assert (pts[:, 1] <= np.minimum(peak, bw * pts[:, 0]) * (1 + 1e-9)).all()  # under the roof
    n_elem = int((df["macs"] == 0).sum())
    assert f"{n_elem} layer(s) without MACs" in ax.get_title()
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "downsample (3)" in labels and "fc (1)" in labels


def test_roofline_without_bandwidth_limit_is_flat_and_checks_inputs(tmp_path, figs, resnet_run):
    _, rep = resnet_run
    P.roofline(rep.layers, tmp_path / "f", 256, None)
    roof = [ln for ln in figs[0].axes[0].get_lines() if ln.get_linestyle() == "-"][0]
    assert set(roof.get_ydata()) == {256}
    with pytest.raises(ValueError, match="peak_macs_per_cycle"):
        P.roofline(rep, tmp_path / "f", 0, 8)
    with pytest.raises(ValueError, match=r"\['macs'\] not in the table"):
        P.roofline(rep.layers.drop(columns="macs"), tmp_path / "f", 1, 1)


def test_layer_utilization_bars_and_run_average(tmp_path, figs, resnet_run):
    _, rep = resnet_run
    P.layer_utilization(rep, tmp_path / "u")
    ax = figs[0].axes[0]
    assert ax.get_ylabel() == "PE utilization (%)"
    heights = sorted((p.get_x() + p.get_width() / 2, p.get_height()) for p in ax.patches)
    assert [h for _, h in heights] == pytest.approx((rep.layers["utilization"] * 100).tolist())
    assert [t.get_text() for t in ax.get_xticklabels()] == rep.layers["layer"].tolist()
    (avg,) = [ln for ln in ax.get_lines() if ln.get_linestyle() == "--"]
    assert avg.get_ydata()[0] == pytest.approx(rep.utilization * 100)


def test_area_vs_width_from_the_calibration_csv(tmp_path, figs):
    cal = pd.read_csv(ROOT / "rtl" / "data" / "pe_area_calibration.csv")
    P.area_vs_width(cal, tmp_path / "a")
    ax = figs[0].axes[0]
    assert ax.get_xlabel() == "operand width (bits)"
    assert ax.get_ylabel() == "area (GE, NAND2 = 1)"
    assert ax.get_yscale() == ("log" if cal["ge"].max() / cal["ge"].min() > 10 else "linear")
    lines = ax.get_lines()
    assert len(lines) == cal["pe"].nunique()
    labels = [t.get_text() for t in figs[0].legends[0].get_texts()]
    for line, label, (kind, g) in zip(lines, labels, cal.groupby("pe", sort=False), strict=True):
        assert label.startswith(kind)
        g = g.sort_values("width")
        assert list(line.get_xdata()) == g["width"].tolist()
        assert list(line.get_ydata()) == g["ge"].tolist()
    assert any("lanes=8" in t for t in labels)  # the bipolar PE's fixed parameter
    assert "systolic (2x2 int_mac array)" in labels  # the array wrapper names its cell
    with pytest.raises(ValueError, match=r"\['ge'\]"):
        P.area_vs_width(cal.drop(columns="ge"), tmp_path / "b")


def test_tick_text():
    assert P._tick_text(20) == "20" and P._tick_text(0.05) == "0.05"
    assert P._tick_text(2e7) == r"$2\times10^{7}$" and P._tick_text(1e7) == r"$10^{7}$"


def test_cli_run_writes_plots(tmp_path, capsys):
    cfg = ROOT / "studies" / "configs" / "int_mac.toml"
    plots = tmp_path / "plots"
    rc = main(["run", str(cfg), "--layer", "L0.", "--out", str(tmp_path), "--plots", str(plots)])
    assert rc == 0
    for name in ("roofline", "utilization", "energy_by_layer"):
        for ext in (".png", ".svg"):
            assert (plots / f"{name}{ext}").stat().st_size > 0
    assert "roofline.png" in capsys.readouterr().out


def test_scatter_front_label_names_the_points_its_marker_hides(tmp_path, figs):
    # four designs at (almost) one point, as the demo's 4-bit PEs: one is on the front, the
    # others sit under its marker; its label names them all and no labels overprint
    df = pd.DataFrame(
        {
            "mj": [7.20, 7.21, 7.22, 7.23, 9.5, 20.0],
            "acc": [0.972, 0.972, 0.972, 0.972, 0.980, 0.982],
            "design": ["bits", "mac4", "mixpe", "shift", "mac8", "fp16"],
        }
    )
    P.scatter_pareto(df, tmp_path / "c", "mj", "acc", color="design")
    ax = figs[0].axes[0]
    texts = sorted(t.get_text() for t in ax.texts)
    assert len(texts) == 3  # bits, mac8, fp16: the front
    (hiding,) = [t for t in texts if t.startswith("bits")]
    assert all(n in hiding for n in ("mac4", "mixpe", "shift"))
    assert [t for t in texts if not t.startswith("bits")] == ["fp16", "mac8"]
    for a, b in itertools.combinations(_boxes(figs[0], ax), 2):
        assert not a.overlaps(b)

"""hwsim demo: progress lines, column glossary, reference in the outputs (quick mode)."""

import pandas as pd
import pytest

from hwsim.cli import main
from hwsim.demo import GLOSSARY


@pytest.fixture(scope="module")
def quick_demo(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    assert main(["demo", "--quick", "--quiet", "--out", str(out)]) == 0
    return out


def test_progress_lines_per_step_with_time_and_quiet(tmp_path, capsys, monkeypatch):
    import hwsim.demo as D

    monkeypatch.setattr(D, "_pe_part", lambda out, quick, quiet: [])  # the format part suffices
    assert D.run_demo(str(tmp_path / "a"), quick=True) == 0
    err = capsys.readouterr().err.splitlines()
    assert len(err) >= 3 and all(ln.startswith("[demo] ") and ln.endswith(" s") for ln in err)
    assert D.run_demo(str(tmp_path / "b"), quick=True, quiet=True) == 0
    assert capsys.readouterr().err == ""


def test_reference_columns_in_the_outputs(quick_demo):
    ref = pd.read_csv(quick_demo / "lloyd_max_reference.csv")
    g = ref[ref.distribution == "gaussian"].set_index("bits")
    assert g.loc[4, "mse"] == pytest.approx(0.009497, rel=5e-4)  # Max (1960)
    fe = pd.read_csv(quick_demo / "format_error.csv")
    assert "lloyd_max_sqnr_db" in fe.columns


def test_demo_csv_names_its_throughput_columns(quick_demo):
    tmp_path = quick_demo
    pes = pd.read_csv(tmp_path / "pe_designs.csv").set_index("design")
    assert "utilization" not in pes.columns  # ambiguous for bit-serial PEs
    for col in ("array_busy_fraction", "macs_per_cycle", "peak_macs_per_cycle", "peak_fraction"):
        assert col in pes.columns and col in GLOSSARY
    assert (
        pes.loc["bitserial_w4a8", "peak_macs_per_cycle"]
        == 8 * pes.loc["mac_w8a8", "peak_macs_per_cycle"]
    )
    summary = (tmp_path / "summary.md").read_text()
    assert all(f"`{c}`" in summary for c in GLOSSARY)


def test_format_plot_is_the_study_plot_with_front_labels_and_a_legend(quick_demo, monkeypatch):
    import itertools

    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.text import Text

    import hwsim.plots as P
    from hwsim.demo import plot_sqnr

    saved = []
    real = P._save
    monkeypatch.setattr(P, "_save", lambda fig, stem: (saved.append(fig), real(fig, stem))[1])
    df = pd.read_csv(quick_demo / "format_error.csv")
    ref = pd.read_csv(quick_demo / "lloyd_max_reference.csv")
    plot_sqnr(df, quick_demo / "again", ref)
    (fig,) = saved
    names = list(dict.fromkeys(df["format"]))
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    assert legend[2:] == names and "Lloyd-Max" in legend[1]  # a legend entry per format
    r = FigureCanvasAgg(fig).get_renderer()
    for ax, (_, sub) in zip(fig.axes, df.groupby("distribution", sort=False), strict=True):
        colours = {tuple(c.get_facecolor()[0]) for c in ax.collections}
        assert len(colours) == len(names)  # one colour per format, not one for all
        front = P.pareto_front(sub, "bits_per_element", "sqnr_db")
        texts = [t.get_text() for t in ax.texts]  # "name" or "name\noverlapping: a, b"
        assert sorted(t.split("\n")[0] for t in texts) == sorted(front["format"])
        hidden = [n for t in texts for n in t.replace(",", " ").split()[1:] if n in names]
        assert not set(hidden) & set(front["format"])  # only off-front points are listed
        for t in ax.texts:
            t.update_positions(r)
        boxes = [Text.get_window_extent(t, r) for t in ax.texts]
        for a, b in itertools.combinations(boxes, 2):
            assert not a.overlaps(b), "labels overprint"

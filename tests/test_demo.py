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


@pytest.fixture(scope="module")
def pe_demo(quick_demo):
    """The quick demo's output folder when it measured the PE part (an accuracy extra is
    installed); otherwise skip, naming the installs."""
    from hwsim.demo import pe_accuracy_model

    model, note = pe_accuracy_model()
    if model is None:
        pytest.skip(note)
    return quick_demo


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


def test_demo_csv_names_its_throughput_columns(pe_demo):
    tmp_path = pe_demo
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


def test_pe_table_is_one_model_on_both_axes(pe_demo):
    from hwsim.demo import pe_accuracy_model

    model, _ = pe_accuracy_model()
    pes = pd.read_csv(pe_demo / "pe_designs.csv").set_index("design")
    assert set(pes["model"]) == {model}  # energy simulated on the model that is measured
    if model == "smollm2-135m":
        assert pes.loc["fp16_fma", "accuracy_path"] == "format-emulated"
        assert pes.loc["mac_w8a8", "accuracy_path"] == "pe:int_mac"
        assert (pes["perplexity"] > 1).all()
        # same codes, exact arithmetic: the bit-serial and the INT MAC PE agree on INT4 x INT8
        assert pes.loc["bitserial_w4a8", "perplexity"] == pes.loc["mac_w4a8", "perplexity"]


def _fake_table(metric):
    def table(seq_len, model, tokens, designs, rows=32, cols=32):
        designs = ["fp16_fma", "mac_w8a8", "mac_w4a8"]
        return pd.DataFrame({
            "design": designs, "model": model, "cycles": [3, 2, 1],
            "energy_pj": [3e9, 2e9, 1e9], "energy_pe_pj": [1e9] * 3, "energy_sram_pj": [1e9] * 3,
            "energy_dram_pj": [1e9, 0.0, 0.0], "area_um2": [3.0, 2.0, 1.0],
            metric: [10.0, 11.0, 20.0] if metric == "perplexity" else [0.99, 0.98, 0.9],
        })  # fmt: skip

    return table


@pytest.mark.parametrize("model", ["smollm2-135m", "minilm-l6"])
def test_pe_plot_axes_name_the_same_model(tmp_path, monkeypatch, model):
    import hwsim.demo as D
    import hwsim.plots as P

    label, metric, _, _ = D.PE_MODELS[model]
    other = next(v[0] for k, v in D.PE_MODELS.items() if k != model)
    monkeypatch.setattr(D, "pe_accuracy_model", lambda: (model, ""))
    monkeypatch.setattr(D, "pe_design_table", _fake_table(metric))
    saved = []
    real = P._save
    monkeypatch.setattr(P, "_save", lambda fig, stem: (saved.append(fig), real(fig, stem))[1])
    lines = D._pe_part(tmp_path, quick=True, quiet=True)
    ax = saved[0].axes[0]  # energy vs accuracy scatter
    for text in (ax.get_xlabel(), ax.get_ylabel()):
        assert label in text and other not in text
    assert metric in ax.get_ylabel()
    assert any(label in ln for ln in lines) and not any(other in ln for ln in lines)
    # the Pareto front uses the metric's direction: lower perplexity / higher cosine is better
    front = next(ln for ln in lines if ln.startswith("- Pareto front"))
    assert "mac_w4a8" in front and "fp16_fma" in front


def test_pe_part_without_extras_names_the_installs(tmp_path, monkeypatch, capsys):
    import hwsim.accuracy.llm.loader as loader
    import hwsim.accuracy.minilm as minilm
    import hwsim.demo as D

    monkeypatch.setattr(loader, "missing", lambda: "the LLM evaluation needs gguf: ...")
    monkeypatch.setattr(minilm, "available", lambda: False)
    model, note = D.pe_accuracy_model()
    assert model is None and loader.INSTALL in note and minilm.INSTALL in note
    assert D.run_demo(str(tmp_path), quick=True, quiet=True) == 0
    assert loader.INSTALL in capsys.readouterr().out
    assert "PE part skipped" in (tmp_path / "summary.md").read_text()
    assert not (tmp_path / "pe_designs.csv").exists()
    monkeypatch.setattr(minilm, "available", lambda: True)
    assert D.pe_accuracy_model()[0] == "minilm-l6"

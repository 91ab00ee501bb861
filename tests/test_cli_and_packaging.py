"""Command line entry points and the package layout."""

import subprocess
import sys
import tomllib
from pathlib import Path

import pandas as pd
import pytest

from hwsim.cli import main

ROOT = Path(__file__).resolve().parents[1]


def test_packages_listed_in_pyproject_match_the_tree():
    cfg = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    mapping = cfg["package-dir"]
    found = set()
    for pkg, folder in mapping.items():
        for init in (ROOT / folder).rglob("__init__.py"):
            rel = init.parent.relative_to(ROOT / folder)
            found.add(".".join([pkg, *rel.parts]) if rel.parts else pkg)
    assert set(cfg["packages"]) == found


def test_formats_command_lists_presets(capsys):
    assert main(["formats", "fp4_e2m1", "mxfp4", "--values"]) == 0
    out = capsys.readouterr().out
    assert "mxfp4" in out and "4.250" in out
    assert "0, 0.5, 1, 1.5, 2, 3, 4, 6, -0" in out


def test_bad_format_name_is_a_clear_error(capsys):
    assert main(["formats", "fp5_e9"]) == 2
    assert "unknown format 'fp5_e9'" in capsys.readouterr().err


def test_demo_writes_table_plot_and_summary(tmp_path):
    assert main(["demo", "--quick", "--out", str(tmp_path)]) == 0
    df = pd.read_csv(tmp_path / "format_error.csv")
    assert {"distribution", "format", "bits_per_element", "sqnr_db"} <= set(df.columns)
    # more storage buys accuracy within one family
    g = df[df.distribution == "gaussian"].set_index("format")
    assert (
        g.loc["mxint8", "sqnr_db"] > g.loc["mxfp4", "sqnr_db"] > g.loc["ternary_absmean", "sqnr_db"]
    )
    assert (tmp_path / "format_sqnr.png").stat().st_size > 10_000
    assert (tmp_path / "summary.md").read_text().startswith("# hwsim demo")
    # part 2: PE designs simulated and their accuracy measured on the PE datapath
    from hwsim.demo import PE_MODELS, QUICK_DESIGNS, pe_accuracy_model

    model, _ = pe_accuracy_model()
    if model is None:  # neither accuracy extra installed: the part says so and is skipped
        assert "PE part skipped" in (tmp_path / "summary.md").read_text()
        return
    metric = PE_MODELS[model][1]
    pes = pd.read_csv(tmp_path / "pe_designs.csv").set_index("design")
    assert list(pes.index) == list(QUICK_DESIGNS)
    assert (pes.energy_pj > 0).all() and (pes.cycles > 0).all()
    if metric == "perplexity":  # a 135M model on 32 tokens: worse than FP32 yet not garbage
        assert pes[metric].between(1, 5000).all()
    else:
        assert pes[metric].between(0, 1).all()
    # 4-bit weights move half the DRAM bytes of 8-bit ones on the same array
    assert pes.loc["mac_w4a8", "energy_dram_pj"] < pes.loc["mac_w8a8", "energy_dram_pj"]
    assert (tmp_path / "pe_energy_breakdown.png").exists()
    assert "## PE designs" in (tmp_path / "summary.md").read_text()


@pytest.mark.parametrize("args", [["--help"], ["formats", "--help"], ["demo", "--help"]])
def test_help_on_every_command(args):
    res = subprocess.run([sys.executable, "-m", "hwsim.cli", *args], capture_output=True, text=True)
    assert res.returncode == 0 and "usage: hwsim" in res.stdout


def test_run_one_llm_layer_end_to_end(tmp_path, capsys):
    import json

    cfg = ROOT / "studies" / "configs" / "int_mac.toml"
    assert main(["run", str(cfg), "--layer", "L0.q_proj", "--out", str(tmp_path)]) == 0
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["layers"] == 1 and summary["cycles"] > 0 and summary["energy_pj"] > 0
    layers = pd.read_csv(tmp_path / "layers.csv")
    assert layers["cycles"].sum() == summary["cycles"]
    assert "utilization" in capsys.readouterr().out


def test_run_errors_name_the_problem(tmp_path, capsys):
    cfg = ROOT / "studies" / "configs" / "int_mac.toml"
    assert main(["run", str(cfg), "--layer", "no_such_layer", "--out", str(tmp_path)]) == 2
    assert "matches 'no_such_layer'" in capsys.readouterr().err
    bad = tmp_path / "bad.toml"
    bad.write_text(cfg.read_text().replace("rows = 32", "rows = 32\nrowz = 4"))
    assert main(["run", str(bad), "--out", str(tmp_path)]) == 2
    assert "rowz" in capsys.readouterr().err


def test_rtl_commands_have_help():
    for args in (["rtl", "verify", "--help"], ["rtl", "synth", "--help"]):
        res = subprocess.run([sys.executable, "-m", "hwsim.cli", *args], capture_output=True,
                             text=True)  # fmt: skip
        assert res.returncode == 0 and "usage: hwsim rtl" in res.stdout


def test_rtl_synth_command(tmp_path, capsys):
    from hwsim.rtl.tools import yosys_missing

    if yosys_missing():
        pytest.skip(yosys_missing())
    out = tmp_path / "cal.csv"
    assert main(["rtl", "synth", "int_mac", "--widths", "4", "--out", str(out)]) == 0
    df = pd.read_csv(out)
    assert df["pe"].tolist() == ["int_mac"] and df["ge"].iloc[0] > 0

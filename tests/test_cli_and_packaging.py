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


@pytest.mark.parametrize("args", [["--help"], ["formats", "--help"], ["demo", "--help"]])
def test_help_on_every_command(args):
    res = subprocess.run([sys.executable, "-m", "hwsim.cli", *args], capture_output=True, text=True)
    assert res.returncode == 0 and "usage: hwsim" in res.stdout

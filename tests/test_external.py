"""External accuracy CSVs: validation errors, joins that report unmatched keys, studies."""

from pathlib import Path

import pandas as pd
import pytest

from hwsim.cli import main
from hwsim.external import join_external, load_external
from hwsim.study import load_study

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = ROOT / "studies" / "external" / "llama2_7b_wikitext2_ppl.csv"


def _csv(tmp_path, text, name="ext.csv"):
    p = tmp_path / name
    p.write_text(text)
    return p


def test_load_reads_comments_keys_as_text_and_metrics_as_float(tmp_path):
    p = _csv(
        tmp_path,
        "# measured on a GPU\nfmt,group,ppl,note\n  # inline comment line\n"
        "int4,08,5.73,a\nfp16,0,5.47,b\n",
    )
    df = load_external(p, keys=["fmt", "group"], metric="ppl")
    assert df["group"].tolist() == ["08", "0"]  # keys stay text
    assert df["ppl"].dtype == "float64" and df["ppl"].tolist() == [5.73, 5.47]
    assert list(df.columns) == ["fmt", "group", "ppl", "note"]


@pytest.mark.parametrize(
    "text, match",
    [
        ("fmt,acc\nint4,1\n", r"missing column\(s\) \['ppl'\]; the file has \['fmt', 'acc'\]"),
        ("fmt,ppl\nint4,5.7\nfp16,5.4\nint4,5.8\n", r"duplicate key.*'int4'.*lines \[2, 4\]"),
        ("fmt,ppl\nint4,5.7\nfp16,n/a\n", r"'ppl' is not a finite number at line 3: 'n/a'"),
        ("fmt,ppl\nint4,\n", r"not a finite number at line 2: ''"),
        ("fmt,ppl\nint4,inf\n", r"not a finite number at line 2: 'inf'"),
        ("fmt,ppl\n,5.0\n", r"empty key 'fmt' on line\(s\) \[2\]"),
        ("# only a comment\n", "no header"),
        ("fmt,ppl\n", "no data rows"),
    ],
)
def test_load_errors_name_the_problem(tmp_path, text, match):
    with pytest.raises(ValueError, match=match):
        load_external(_csv(tmp_path, text), keys="fmt", metric="ppl")


def test_load_argument_errors(tmp_path):
    with pytest.raises(ValueError, match="does not exist"):
        load_external(tmp_path / "nope.csv", keys="a", metric="b")
    with pytest.raises(ValueError, match="both a key and a metric"):
        load_external(_csv(tmp_path, "a,b\n1,2\n"), keys="a", metric=["a"])


@pytest.fixture
def ext(tmp_path):
    return load_external(
        _csv(tmp_path, "fmt,bits,ppl\nint4,4,5.73\nfp16,16,5.47\nint3,3,6.6\n"),
        keys="fmt",
        metric="ppl",
    )


@pytest.fixture
def results():
    return pd.DataFrame({"fmt": ["int4", "fp16", "int4", "int8"], "cycles": [10, 20, 30, 40]})


def test_left_join_keeps_every_row_and_reports_both_sides(results, ext):
    with pytest.warns(UserWarning, match=r"int8.*int3"):
        j = join_external(results, ext, on="fmt")
    assert len(j.table) == len(results)
    assert j.table["fmt"].tolist() == results["fmt"].tolist()  # row order kept
    assert j.table["cycles"].dtype == results["cycles"].dtype  # results types kept
    by_fmt = dict(zip(ext["fmt"], ext["ppl"], strict=True))
    got = j.table["ppl"].tolist()
    assert got[:3] == [by_fmt[f] for f in results["fmt"][:3]] and pd.isna(got[3])
    assert j.unmatched_results.to_dict("records") == [{"fmt": "int8"}]
    assert j.unmatched_external.to_dict("records") == [{"fmt": "int3"}]


def test_inner_and_outer_joins(results, ext):
    with pytest.warns(UserWarning):
        inner = join_external(results, ext, on=["fmt"], how="inner")
    assert "int8" not in set(inner.table["fmt"]) and len(inner.table) == 3
    assert inner.unmatched_results["fmt"].tolist() == ["int8"]  # dropped, but reported
    with pytest.warns(UserWarning):
        outer = join_external(results, ext, on=["fmt"], how="outer")
    assert outer.table["fmt"].tolist() == ["int4", "fp16", "int4", "int8", "int3"]
    assert outer.table["ppl"].iloc[-1] == 6.6 and pd.isna(outer.table["cycles"].iloc[-1])


def test_strict_join_raises_and_full_match_is_silent(results, ext, recwarn):
    with pytest.raises(ValueError, match="results key"):
        join_external(results, ext, on="fmt", strict=True)
    j = join_external(results[results["fmt"] != "int8"], ext[ext["fmt"] != "int3"], on="fmt")
    assert not recwarn.list and j.unmatched_results.empty and j.unmatched_external.empty


def test_join_converts_key_types_and_maps_names(ext):
    res = pd.DataFrame({"w_bits": [4, 16, 8], "cycles": [1, 2, 3]})
    with pytest.warns(UserWarning):
        j = join_external(res, ext, on={"w_bits": "bits"})
    assert j.table["fmt"].tolist()[:2] == ["int4", "fp16"]  # "4" in the CSV joined 4
    assert j.unmatched_results["w_bits"].tolist() == [8]
    bad = pd.DataFrame({"w_bits": [4]})
    text = ext.assign(bits=["four", "16", "3"])
    with pytest.raises(ValueError, match=r"\['four'\] are not numbers"):
        join_external(bad, text, on={"w_bits": "bits"})


def test_join_errors(results, ext):
    with pytest.raises(ValueError, match=r"\['format'\] not in the results; its columns"):
        join_external(results, ext, on="format")
    with pytest.raises(ValueError, match="how must be"):
        join_external(results, ext, on="fmt", how="right")
    with pytest.raises(ValueError, match=r"\['cycles'\] already exist in the results"):
        join_external(results, ext.assign(cycles=1.0), on="fmt")


def test_shipped_example_csv_is_valid_and_cited():
    df = load_external(SHIPPED, keys=["weight_format", "method"], metric="wikitext2_ppl")
    assert len(df) >= 2 and (df["source"].str.contains("arXiv:2306.00978")).all()
    header = [ln for ln in SHIPPED.read_text().splitlines() if ln.startswith("#")]
    assert any("Table" in ln for ln in header)
    import hwsim.formats as F

    for name in df["weight_format"]:
        F.get(name)  # every key names a real hwsim format


def _study(tmp_path, external: str, plot: str = "") -> Path:
    (tmp_path / "data").mkdir(exist_ok=True)
    (tmp_path / "data" / "acc.csv").write_text("# made-up test values\nx,acc\n1,0.5\n2,0.9\n9,1\n")
    spec = tmp_path / "s.toml"
    spec.write_text(
        '[study]\nname = "t"\nevaluate = "selftest"\n[grid]\nx = [1, 2, 3]\n' + external + plot
    )
    return spec


def test_study_joins_external_metric_and_plots_it(tmp_path, capsys):
    spec = _study(
        tmp_path,
        '[external]\npath = "data/acc.csv"\non = ["x"]\nmetric = "acc"\n',
        '[[plot]]\nx = "y"\ny = "acc"\ncolor = "x"\n',
    )
    out = tmp_path / "o"
    assert main(["study", str(spec), "--out", str(out), "--workers", "1", "--quiet"]) == 0
    df = pd.read_csv(out / "results.csv")
    assert df["x"].tolist() == [1, 2, 3]  # every point kept
    assert df["acc"].tolist()[:2] == [0.5, 0.9] and pd.isna(df["acc"].iloc[2])
    assert pd.read_parquet(out / "results.parquet")["acc"].notna().sum() == 2
    summary = (out / "summary.md").read_text()
    assert "{'x': 3}" in summary and "{'x': '9'}" in summary  # unmatched, both sides
    assert "2 of 3 rows have a value" in summary
    assert (out / "plot0_acc_vs_y.png").exists()
    assert "external keys matching no results row" in capsys.readouterr().err


@pytest.mark.parametrize(
    "external, match",
    [
        ('[external]\npath = "data/acc.csv"\non = ["x"]\n', r"needs \['metric'\]"),
        (
            '[external]\npath = "data/acc.csv"\non = ["x"]\nmetric = "acc"\nsep = ";"\n',
            r"unknown key\(s\) \['sep'\]",
        ),
        ('[external]\npath = "nope.csv"\non = ["x"]\nmetric = "acc"\n', "does not exist"),
        (
            '[external]\npath = "data/acc.csv"\non = ["x"]\nmetric = "ppl"\n',
            r"missing column\(s\) \['ppl'\]",
        ),
        ('[external]\npath = "data/acc.csv"\non = 3\nmetric = "acc"\n', "on must be"),
        (
            '[external]\npath = "data/acc.csv"\non = ["x"]\nmetric = "acc"\nhow = "cross"\n',
            "how must be",
        ),
    ],
)
def test_bad_external_sections(tmp_path, external, match):
    with pytest.raises(ValueError, match=match):
        load_study(_study(tmp_path, external))


@pytest.mark.parametrize(
    "plot, match",
    [
        ('[[plot]]\nkind = "pie"\nx = "a"\n', r"unknown kind 'pie'"),
        ('[[plot]]\nkind = "energy_breakdown"\nx = "a"\n', r"needs \['by'\]"),
        ('[[plot]]\nx = "a"\ny = "b"\nby = "c"\n', r"unknown key\(s\) \['by'\]"),
        ('[[plot]]\nx = "a"\ny = "b"\nbetter = "high"\n', "better must be"),
        (
            '[[plot]]\nkind = "energy_breakdown"\nby = "d"\nparts = "energy_pj"\n',
            "parts must be a non-empty list",
        ),
        (
            '[[plot]]\nkind = "energy_breakdown"\nby = "d"\nnormalize = "yes"\n',
            "normalize must be true or false",
        ),
    ],
)
def test_bad_plot_entries(tmp_path, plot, match):
    with pytest.raises(ValueError, match=match):
        load_study(_study(tmp_path, "", plot))


def test_study_energy_breakdown_plot(tmp_path):
    spec = tmp_path / "e.toml"
    spec.write_text(
        '[study]\nname = "e"\nevaluate = "llm_pe"\n[fixed]\nphase = "decode"\nseq_len = 8\n'
        "rows = 16\ncols = 16\ndram_bw = 16\n"
        '[grid]\ndesign = ["mac_w8a8", "mac_w4a8"]\n'
        '[[plot]]\nkind = "energy_breakdown"\nby = "design"\nnormalize = true\n'
    )
    out = tmp_path / "o"
    assert main(["study", str(spec), "--out", str(out), "--workers", "1", "--quiet"]) == 0
    assert (out / "plot0_energy_share_by_design.png").exists()
    assert "Energy breakdown by design (all): share of total PE" in (out / "summary.md").read_text()

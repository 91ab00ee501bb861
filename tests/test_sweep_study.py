"""Sweeps and studies: expansion rules, determinism, resume, process pool and Dask paths."""

import json
from pathlib import Path

import pandas as pd
import pytest

from hwsim.cli import main
from hwsim.study import load_study
from hwsim.sweep import Sweep, point_id, run_sweep

ROOT = Path(__file__).resolve().parents[1]


def test_grid_expansion_with_rules():
    s = Sweep({"a": [1, 2, 3], "b": ["x", "y"]}, fixed={"c": 0}, exclude=({"a": 2},),
              only=({"b": "x"}, {"a": 3}))  # fmt: skip
    pts = s.points()
    assert pts == [
        {"c": 0, "a": 1, "b": "x"},
        {"c": 0, "a": 3, "b": "x"},
        {"c": 0, "a": 3, "b": "y"},
    ]
    assert point_id({"a": 1, "b": 2}) == point_id({"b": 2, "a": 1})
    with pytest.raises(ValueError, match="unknown parameter"):
        Sweep({"a": [1]}, exclude=({"z": 1},))
    with pytest.raises(ValueError, match="non-empty list"):
        Sweep({"a": []})


def test_serial_pool_and_resume_give_the_same_table(tmp_path):
    pts = Sweep({"x": [3, 1, 2, 5], "k": [0, 1]}).points()
    a = run_sweep(pts, "selftest", tmp_path / "a", workers=1, progress=False)
    b = run_sweep(pts, "selftest", tmp_path / "b", workers=2, progress=False)
    pd.testing.assert_frame_equal(a, b)
    assert a["y"].tolist() == [p["x"] ** 2 for p in pts]  # table in point order
    # resume: a stored point is not evaluated again (tamper with it to prove it is reused)
    f = tmp_path / "a" / "points" / f"{point_id(pts[0])}.json"
    rec = json.loads(f.read_text())
    rec["metrics"]["y"] = -1
    f.write_text(json.dumps(rec))
    c = run_sweep(pts, "selftest", tmp_path / "a", workers=1, progress=False)
    assert c["y"].iloc[0] == -1 and (tmp_path / "a" / "results.parquet").exists()


def test_failing_point_is_recorded_and_finished_points_kept(tmp_path):
    pts = [{"x": -1}, {"x": 1}]
    df = run_sweep(pts, "selftest", tmp_path, workers=2, progress=False)  # pool path
    assert df["status"].tolist() == ["failed", "ok"]
    assert df["error"].tolist() == ["ValueError: negative x", ""]
    assert (tmp_path / "points" / f"{point_id(pts[1])}.json").exists()


def test_dask_local_cluster_gives_the_same_table(tmp_path):
    distributed = pytest.importorskip("distributed", reason="pip install 'hwsim[dask]'")
    pts = Sweep({"x": [1, 2, 3], "k": [7]}).points()
    ref = run_sweep(pts, "selftest", tmp_path / "ref", workers=1, progress=False)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster:  # fmt: skip
        got = run_sweep(pts, "selftest", tmp_path / "dask", scheduler=cluster.scheduler_address,
                        progress=False)  # fmt: skip
    pd.testing.assert_frame_equal(ref, got)


def test_study_files_load_and_cli_runs_a_study(tmp_path):
    for f in (ROOT / "studies").glob("*.toml"):
        load_study(f)
    spec = tmp_path / "s.toml"
    spec.write_text(
        '[study]\nname = "t"\nevaluate = "format_error"\n[fixed]\nrows = 8\ncols = 64\n'
        '[grid]\nformat = ["mxfp4", "int4_g128", "mxint8"]\ndistribution = ["gaussian"]\n'
        '[[plot]]\nx = "bits_per_element"\ny = "sqnr_db"\ncolor = "format"\n'
    )
    assert (
        main(["study", str(spec), "--out", str(tmp_path / "o"), "--workers", "1", "--quiet"]) == 0
    )
    df = pd.read_csv(tmp_path / "o" / "results.csv")
    assert len(df) == 3 and (tmp_path / "o" / "plot0_sqnr_db_vs_bits_per_element.png").exists()
    assert "Pareto front" in (tmp_path / "o" / "summary.md").read_text()


def test_bad_study_files_are_clear_errors(tmp_path, capsys):
    bad = tmp_path / "bad.toml"
    bad.write_text('[study]\nname = "x"\nevaluate = "nope"\n[grid]\na = [1]\n')
    assert main(["study", str(bad)]) == 2
    assert "unknown evaluator 'nope'" in capsys.readouterr().err
    bad.write_text('[study]\nname = "x"\nevaluate = "selftest"\n[grdi]\na = [1]\n')
    with pytest.raises(ValueError, match="unknown section"):
        load_study(bad)


def test_mac_cost_uses_the_cost_tables():
    from hwsim.accel.cost import op_energy_pj
    from hwsim.evaluators import mac_cost

    c8 = mac_cost("int8", "int8")
    assert c8["mac_energy_pj"] == op_energy_pj("mul", 8) + op_energy_pj("add", 32)
    assert mac_cost("int4", "int8")["mac_energy_pj"] < c8["mac_energy_pj"]
    fp = mac_cost("fp8_e4m3", "fp8_e4m3")
    assert fp["mac_energy_pj"] > c8["mac_energy_pj"]  # fp32 accumulation dominates
    g = mac_cost("int8_g32", "int8")["mac_energy_pj"]
    assert g == pytest.approx(c8["mac_energy_pj"] + op_energy_pj("fmul", 16) / 32)
    with pytest.raises(ValueError, match="only int x int"):
        mac_cost("int8", "fp8_e4m3")


def test_llm_pe_evaluator_low_bit_weights_save_energy():
    from hwsim.evaluators import llm_pe

    base = {"phase": "decode", "seq_len": 8, "rows": 16, "cols": 16, "dram_bw": 16}
    w8 = llm_pe({**base, "design": "mac_w8a8"})
    w4 = llm_pe({**base, "design": "mac_w4a8"})
    assert w4["energy_pj"] < w8["energy_pj"] and w4["macs"] == w8["macs"]
    assert w8["macs_per_cycle"] == pytest.approx(w8["macs"] / w8["cycles"])
    with pytest.raises(ValueError, match="unknown design"):
        llm_pe({**base, "design": "tpu"})
    big = llm_pe({**base, "design": "mac_w8a8", "weight_sram_kib": 1024})
    assert big["area_sram_um2"] > w8["area_sram_um2"] and big["area_pe_um2"] == w8["area_pe_um2"]


def test_llm_pe_iso_area_and_rtl_areas(monkeypatch):
    import hwsim.evaluators as E

    base = {"phase": "decode", "seq_len": 8, "rows": 8, "cols": 8, "dram_bw": 16}
    for source in E.AREA_SOURCES:
        ref = E.llm_pe({**base, "design": "fp16_fma", "area_source": source})
        small = E.llm_pe({**base, "design": "mac_w4a8", "area_source": source,
                          "iso_area": "fp16_fma"})  # fmt: skip
        # the smaller PE gets more of them, for about the reference's PE-logic area
        assert small["array_rows"] * small["array_cols"] > 64
        assert small["area_pe_um2"] == pytest.approx(ref["area_pe_um2"], rel=0.1)
    rtl = E._rtl_area_table()
    got = E.llm_pe({**base, "design": "mixpe_w4a8", "area_source": "rtl"})
    assert got["area_pe_um2"] == pytest.approx(64 * rtl.loc["mixpe_w4a8", "area_um2"])
    assert got["area_pe_method"] == "Yosys: synthesized"
    assert "cost model" in E.llm_pe({**base, "design": "mixpe_w4a8"})["area_pe_method"]
    # every study-2 design with an RTL generator has a current synthesized (or lane-fitted)
    # area; the others are refused by name, also as an iso-area reference
    for design in E.LLM_DESIGNS:
        if design not in E.NO_RTL_DESIGNS:
            assert E._pe_area(design, "rtl") > 0
    assert set(E.NO_RTL_DESIGNS) <= set(E.LLM_DESIGNS)
    for design in E.NO_RTL_DESIGNS:
        for p in ({"design": design}, {"design": "mac_w4a8", "iso_area": design}):
            with pytest.raises(
                ValueError, match=f"no synthesized area for {design!r}: its PE has no RTL"
            ):
                E.llm_pe({**base, **p, "area_source": "rtl"})
    assert "linear fit in lanes" in E.pe_area_method("bipolar_w4a8", "rtl")
    with pytest.raises(ValueError, match="area_source must be"):
        E.llm_pe({**base, "design": "mac_w8a8", "area_source": "guess"})
    monkeypatch.setitem(E.LLM_DESIGNS, "mac_w8a8", ("int_mac", {"a_fmt": "int4"}))
    with pytest.raises(ValueError, match="stale"):
        E.llm_pe({**base, "design": "mac_w8a8", "area_source": "rtl"})


def test_study_claims_table_in_summary(tmp_path):
    spec = tmp_path / "c.toml"
    spec.write_text(
        '[study]\nname = "c"\nevaluate = "selftest"\n[grid]\nx = [2, 4]\n'
        '[[claim]]\nname = "x4 vs x2"\nmetric = "y"\nbetter = "max"\n'
        'design = { x = 4 }\nbaseline = { x = 2 }\nclaimed = 4.0\nexplanation = "squares"\n'
    )
    assert (
        main(["study", str(spec), "--out", str(tmp_path / "o"), "--workers", "1", "--quiet"]) == 0
    )
    claims = pd.read_csv(tmp_path / "o" / "claims.csv")
    assert claims.ours.tolist() == [16 / 4] and claims.ours_over_claimed.tolist() == [1.0]
    assert "| x4 vs x2 |" in (tmp_path / "o" / "summary.md").read_text()
    spec.write_text(spec.read_text().replace("claimed = 4.0", "claimd = 4.0"))
    with pytest.raises(ValueError, match="unknown key"):
        load_study(spec)


def test_plot_where_selects_rows(tmp_path, capsys):
    spec = tmp_path / "w.toml"
    spec.write_text(
        '[study]\nname = "w"\nevaluate = "selftest"\n[grid]\nx = [1, 2, 3]\nk = [0, 1]\n'
        '[[plot]]\nx = "x"\ny = "y"\ncolor = "x"\nwhere = { k = 1 }\n'
    )
    assert (
        main(["study", str(spec), "--out", str(tmp_path / "o"), "--workers", "1", "--quiet"]) == 0
    )
    assert "(all, k=1): 1, 2, 3" in (tmp_path / "o" / "summary.md").read_text()
    spec.write_text(spec.read_text().replace("k = 1 }", "k = 7 }"))
    assert main(["study", str(spec), "--out", str(tmp_path / "o"), "--quiet"]) == 2
    assert "no result row matches where = {'k': 7}" in capsys.readouterr().err
    spec.write_text(spec.read_text().replace("where = { k = 7 }", 'where = "k"'))
    with pytest.raises(ValueError, match="where must be a table"):
        load_study(spec)

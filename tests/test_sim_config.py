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


def test_mapping_layer_formats_and_kv_from_toml(tmp_path):
    """[mapping] (mode, objective, pinned layers), [layer_formats], kv format and buffer,
    preload overlap: all reach hwsim.simulate; typos are errors naming the key."""
    from hwsim.config import load_simulation

    cfg = tmp_path / "c.toml"
    cfg.write_text(
        '[accelerator]\nrows = 8\ncols = 8\ndataflow = "ws"\npreload_overlap = true\n'
        '[formats]\nweight = "int4"\nkv = "int4"\n[sram]\nkv_bytes = 65536\n'
        '[workload]\ngemm = [4, 64, 64]\nname = "g"\n'
        '[mapping]\nobjective = "energy"\n[mapping.layers.g]\n'
        'tiles = { M = 4, N = 16, K = 64 }\norder = ["N", "K"]\n'
        '[layer_formats]\ng = "int8"\n'
    )
    acc, wl, opts = load_simulation(cfg)
    assert acc.preload_overlap and acc.buffer("kv").size_bytes == 65536 and acc.bits("kv") == 4
    assert opts == {"mapping": {"g": {"tiles": {"M": 4, "N": 16, "K": 64}, "order": ["N", "K"]}},
                    "objective": "energy", "layer_formats": {"g": "int8"}}  # fmt: skip
    row = hwsim.simulate(acc, wl, **opts).layers.iloc[0]
    assert row["mapping"] == "sram B1 M4 N16 K64; dram N"
    assert row["dram_read_bytes_weight"] == 64 * 64  # int8 for this layer, read once
    bad = tmp_path / "bad.toml"
    bad.write_text('[accelerator]\nrows = 8\ncols = 8\n[mapping]\nmdoe = "optimal"\n')
    with pytest.raises(ValueError, match=r"unknown key\(s\) \['mdoe'\] in \[mapping\]"):
        load_simulation(bad)

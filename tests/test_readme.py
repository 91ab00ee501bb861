"""The README's examples run, and the numbers its comments state are what the code computes."""

import re
from pathlib import Path

import numpy as np

import hwsim.formats as F

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()


def test_readme_python_blocks_run():
    blocks = re.findall(r"```python\n(.*?)```", README, flags=re.S)
    assert blocks
    for code in blocks:
        exec(compile(code, "README.md", "exec"), {})


def test_readme_format_claims():
    assert F.get("fp8_e4m3").encode(np.float32([1.0625, 464.0])).tolist() == [56, 126]
    q = F.get("mxfp4").encode(np.random.default_rng(0).standard_normal((4, 64)), axis=-1)
    assert (q.codes.shape, q.scales.shape, q.storage_bits()) == ((4, 64), (4, 2), 1088)
    assert np.all(F.get("nvfp4").quantize(np.ones(16)) == 1.03125)


def test_readme_commands_exist():
    assert 'pip install -e ".[test]" && hwsim demo' in README
    assert "python -m pytest -q" in README


def test_readme_pe_simulator_and_cost_claims():
    import hwsim
    import hwsim.pe as pe
    from hwsim.accel.cost import op_energy_pj

    unit = pe.get("bitserial", scheme="booth", a_fmt="int8", w_fmt="int4")
    r = unit.dot([3, -1, 7, 2], [5, -8, 7, 1])
    assert (r.value, r.cycles, unit.dot_cycles(4096)) == (74, 2, 512)
    rep = hwsim.simulate(hwsim.accel.systolic(32, 32, pe="int_mac", dataflow="os"),
                         hwsim.workloads.gemm(1024, 1024, 1024))  # fmt: skip
    assert rep.cycles == 1_112_064 and round(rep.utilization, 3) == 0.943
    assert rep.layers["mapping"].iloc[0] == "sram B1 M128 N32 K1024; dram M>N"
    assert "sram B1 M128 N32 K1024; dram M>N" in README
    assert (op_energy_pj("mul", 8), op_energy_pj("add", 32)) == (0.2, 0.1)
    for cmd in ("hwsim run studies/configs/int_mac.toml --layer L0.q_proj",
                "hwsim study studies/formats_sqnr.toml"):  # fmt: skip
        path = cmd.split()[2]
        assert (Path(__file__).resolve().parents[1] / path).exists()

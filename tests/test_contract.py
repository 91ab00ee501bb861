"""The public names ../shared/CONTRACT.md promises (outside checks call them)."""

import numpy as np

import hwsim
import hwsim.formats as F
import hwsim.pe as pe
from hwsim.accel.cost import op_energy_pj
from hwsim.accel.mapping import map_layer

PRESETS = (
    [f"int{n}" for n in range(2, 9)] + [f"uint{n}" for n in range(2, 9)]
    + [f"bipolar{n}" for n in range(1, 9)]
    + ["fp8_e4m3", "fp8_e5m2", "fp8_e4m3fnuz", "fp8_e5m2fnuz", "fp6_e3m2", "fp6_e2m3",
       "fp4_e2m1", "fp16", "bf16", "e8m0", "mxfp8_e4m3", "mxfp8_e5m2", "mxfp6_e3m2",
       "mxfp6_e2m3", "mxfp4", "mxint8", "nvfp4", "ternary", "binary", "nf4", "pot4", "apot4"]
)  # fmt: skip


def test_format_contract():
    assert set(PRESETS) <= set(F.names())
    x = np.float32([0.3, -1.7, 2.5])
    for name in PRESETS:
        fmt = F.get(name)
        assert isinstance(fmt.bits, int)
        if getattr(fmt, "is_block", False):
            q = fmt.encode(np.tile(x, 11), axis=-1)
            assert q.codes.shape == (33,) and q.scales.size >= 1
            assert np.array_equal(fmt.quantize(np.tile(x, 11), axis=-1), q.dequantize())
        else:
            codes = fmt.encode(x)
            assert codes.dtype.kind == "u"
            assert fmt.decode(codes).dtype == np.float64
            assert np.array_equal(fmt.quantize(x), fmt.decode(codes), equal_nan=True)
    assert F.get("int4").encode([-1.0]).tolist() == [15]  # two's complement, scale 1
    assert F.get("bipolar3").decode([0, 7]).tolist() == [-7.0, 7.0]


def test_pe_contract():
    assert {"int_mac", "fp_fma", "dequant_mac", "bitserial", "lut", "shiftadd", "mixpe",
            "bipolar"} <= set(pe.kinds())  # fmt: skip
    unit = pe.get("int_mac")
    r = unit.dot([1, 2], [3, 4])
    assert r.value == 11 and isinstance(r.cycles, int) and isinstance(r.events, dict)
    m = unit.matmul(np.ones((2, 3)), np.ones((3, 2)))
    assert m.value.shape == (2, 2)
    assert all(isinstance(s, dict) for s in unit.step_trace([1, 2], [3, 4]))


def test_simulator_cost_mapping_contract():
    acc = hwsim.accel.systolic(8, 8, pe="int_mac", dataflow="os", dram_bw=None)
    rep = hwsim.simulate(acc, hwsim.workloads.gemm(16, 16, 16, name="g"))
    assert isinstance(rep.cycles, int) and len(rep.layers) == 1
    for f in ("stall_cycles", "utilization", "energy_pj", "area_um2"):
        assert np.isfinite(getattr(rep, f))
    assert len(hwsim.workloads.get("llama2-7b", phase="decode", seq_len=128).layers) > 0
    assert (op_energy_pj("mul", 8), op_energy_pj("add", 32), op_energy_pj("fmul", 16)) == (
        0.2, 0.1, 1.1)  # fmt: skip
    m = map_layer(acc, hwsim.workloads.gemm(16, 16, 16).layers[0], objective="latency")
    assert m.status == "optimal" and m.tiles and m.cycles > 0

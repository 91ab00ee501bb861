"""Derived cost rows and scaling results pinned to numbers computed by hand (issue 17).

Each literal below was computed from the published inputs with the arithmetic in its comment
(Horowitz ISSCC 2014 45 nm; Aladdin 40 nm; TPUv4i 7 nm; tiny_ge.lib gate equivalents AND2 1.33,
XOR2 2.00, MUX2 2.33, DFF 4.33 GE), not read back from the module.
"""

from __future__ import annotations

import pytest

import hwsim.accel.cost as C

# Cross-calibration ratios: Horowitz add32 / Aladdin add32, energy 0.1/0.21, area 137/278.
# AND per bit: energy 0.018/32 * 0.1/0.21 = 2.678571428571e-4 pJ, area 50/32 * 137/278 = 0.77001
PER_BIT_45NM = {
    # op: (energy pJ, area um2)
    "and": (2.678571428571e-4, 0.7700089928058),
    "xor": (4.027926960258e-4, 1.157908259858),  # AND * 2.00/1.33
    "mux": (4.692534908700e-4, 1.348963122735),  # AND * 2.33/1.33
    "reg_write": (4.285714285714e-3, 2.506871382593),  # 0.009 * 0.1/0.21; AND area * 4.33/1.33
}


@pytest.mark.parametrize("op", sorted(PER_BIT_45NM))
def test_per_bit_rows_pinned(op):
    e, a = PER_BIT_45NM[op]
    c = C.op_cost(op, 1, 45)
    assert c.energy_pj == pytest.approx(e, rel=1e-9)
    assert c.area_um2 == pytest.approx(a, rel=1e-9)
    # gate, mux and register banks scale linearly with width: 8 bits = 8 x one bit
    c8 = C.op_cost(op, 8, 45)
    assert c8.energy_pj == pytest.approx(8 * e, rel=1e-9)
    assert c8.area_um2 == pytest.approx(8 * a, rel=1e-9)


def test_shifter_area_pinned():
    # Aladdin 32-bit shifter 250 um2 * 137/278 = 123.2014388 um2; energy ShiftAddNet 0.13 pJ
    c = C.op_cost("shift", 32, 45)
    assert c.area_um2 == pytest.approx(123.2014388489, rel=1e-9)
    assert c.energy_pj == 0.13


def test_width_scaling_results_pinned():
    # add 24: between Horowitz add16 (0.05 pJ, 67 um2) and add32 (0.1, 137), log-log:
    #   energy 0.05 * (24/16)^(ln(0.1/0.05)/ln 2) = 0.05 * 1.5 = 0.075
    #   area 67 * (137/67)^log2(1.5) = 101.8101145
    c = C.op_cost("add", 24, 45)
    assert c.energy_pj == pytest.approx(0.075, rel=1e-12)
    assert c.area_um2 == pytest.approx(101.8101145100, rel=1e-9)
    # mul 16x16 (metric 256) between mul8 (64: 0.2 pJ, 282 um2) and mul32 (1024: 3.1, 3495):
    #   energy 0.2 * 4^(ln 15.5/ln 16) = 0.2 * sqrt(15.5) = 0.78740079; area sqrt(282*3495)
    c = C.op_cost("mul", 16, 45)
    assert c.energy_pj == pytest.approx(0.7874007874, rel=1e-9)
    assert c.area_um2 == pytest.approx(992.7688552730, rel=1e-9)
    # mul 4x4 (metric 16) below the mul8 anchor, power law exponent 1: 0.2 * 16/64, 282 / 4
    c = C.op_cost("mul", (4, 4), 45)
    assert c.energy_pj == pytest.approx(0.05, rel=1e-12)
    assert c.area_um2 == pytest.approx(70.5, rel=1e-12)


def test_node_scaling_results_pinned():
    # Geometric mean of the 8 verified 7 nm / 45 nm ratios:
    #   (0.007/0.03 * 0.07/0.2 * 0.03/0.1 * 1.48/3.1 * 0.16/0.4 * 0.34/1.1 * 0.38/0.9
    #    * 1.31/3.7) ** (1/8) = 0.34821933
    ratio = C.GEOMEAN_7NM_RATIO
    assert ratio == pytest.approx(0.3482193283, rel=1e-9)
    # 16 nm: t = ln(45/16)/ln(45/7) = 0.55572885;
    #   mul8 energy 0.2 * (0.07/0.2)^t = 0.11159775 pJ; area 282 * (16/45)^2 = 35.6503704 um2
    c = C.op_cost("mul", 8, 16)
    assert c.energy_pj == pytest.approx(0.1115977535, rel=1e-9)
    assert c.area_um2 == pytest.approx(35.65037037037, rel=1e-9)
    # AND per bit has no 7 nm row: 2.678571e-4 * 0.34821933^t = 1.4903822e-4 pJ
    assert C.op_energy_pj("and", 1, 16) == pytest.approx(1.490382197e-4, rel=1e-8)


def test_memory_energies_pinned():
    # Horowitz SRAM 64-bit reads: 8 KB 10 pJ, 32 KB 20 pJ, 1 MB 100 pJ (per bit: /64)
    assert C.sram_pj_per_bit(8 * 1024) == pytest.approx(10 / 64)
    assert C.sram_pj_per_bit(32 * 1024) == pytest.approx(20 / 64)
    assert C.sram_pj_per_bit(1024 * 1024) == pytest.approx(100 / 64)
    # 16 KB: log-log between 8 KB and 32 KB, slope ln 2 / ln 4 = 0.5: 10/64 * sqrt 2 = 0.2209709
    assert C.sram_pj_per_bit(16 * 1024) == pytest.approx(0.2209708691, rel=1e-9)
    # 256 KB: 20/64 * 8^(ln 5 / ln 32) = 0.3125 * 5^0.6 = 0.8207899
    assert C.sram_pj_per_bit(256 * 1024) == pytest.approx(0.8207899389, rel=1e-9)
    # Horowitz DRAM 640 pJ per 32-bit read = 20 pJ/bit: one byte 160 pJ
    assert C.dram_energy_pj(1, 0, "ddr") == pytest.approx(160.0)
    assert C.dram_energy_pj(3, 2, "ddr") == pytest.approx(5 * 160.0)

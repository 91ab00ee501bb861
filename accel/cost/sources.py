"""Citations for every default number in :mod:`hwsim.accel.cost`.

Each constant is a short citation string stored verbatim in the ``source`` field of a table row,
so reports can say where a number came from. Tags: [V] verified against a reproduced table or
code copy; [M] quoted from memory by the reference notes and not yet checked against the paper.
"""

from __future__ import annotations

HOROWITZ_2014 = (
    "Horowitz, 'Computing's energy problem (and what we can do about it)', ISSCC 2014, "
    "45 nm 0.9 V [V]"
)
TPUV4I_2021 = (
    "Jouppi et al., 'Ten Lessons From Three Generations Shaped Google's TPUv4i', ISCA 2021, "
    "7 nm (as reproduced in BitNet arXiv 2310.11453 Table 2) [V numbers, M attribution]"
)
TPUV4I_2021_BF16 = TPUV4I_2021.replace("[V numbers, M attribution]", "[M: bf16 rows unverified]")
SHIFTADDNET_2020 = (
    "ShiftAddNet (NeurIPS 2020) / ShiftAddViT pvt/hw_utils.py per-op constants, 45 nm [V code]"
)
ALADDIN_40NM = (
    "Aladdin 40 nm characterisation, 32-bit units @1 ns (gem5-Aladdin power_delay.h; "
    "Accelergy Aladdin plug-in) [V]"
)
YOSYS_GE_2026 = (
    "hwsim toolchain notes: tiny_ge.lib NAND2-equivalent cell areas (AND2 1.33, XOR2 2.00, "
    "MUX2 2.33, DFF 4.33 GE) [V]"
)
ANT_MIXPE_DRAM = "ANT / MixPE simulator stats.get_energy_breakdown DRAM constants [V code]"
BITMOD_DRAM = "BitMoD simulator DRAM: 1200 pJ per 64-bit access (18.75 pJ/bit) [V code]"
ZIGZAG_TPU_LIKE = "ZigZag tpu_like.yaml example (source of numbers not stated) [V code, U origin]"
SHIFTADDVIT_MEM = "ShiftAddViT pvt/hw_utils.py: DRAM 200 pJ per 16 bits [V code]"
HBM2_OCONNOR_2017 = (
    "O'Connor et al., 'Fine-Grained DRAM', MICRO 2017: HBM2 about 3.9 pJ/bit "
    "[M: from memory, verify against the paper]"
)
NII_2013_BITCELL = (
    "Nii et al., 'A Cost-effective 45nm 6T-SRAM ...', ISQED 2013: 0.37 um2 6T bitcell, 45 nm bulk"
)
DENNARD_AREA = "ideal (constant-field) area scaling ~ (node/45 nm)^2, Dennard et al. 1974 [rule]"
ASSUMPTION = "hwsim assumption (no published figure in the references; calibrate)"
BITFUSION_SYNTH = (
    "Sharma et al., 'Bit Fusion', ISCA 2018: artifact results/systolic_array_synth.csv, "
    "45 nm synthesis at 500 MHz, 1x1 array rows (area um2, leakage nW, dynamic nW) [V code]"
)
BITFUSION_CACTI = (
    "Sharma et al., 'Bit Fusion', ISCA 2018: artifact bitfusion/sram/cacti_sweep.csv, CACTI "
    "outputs at technology 0.045 um, itrs-hp cells and periphery, 360 K [V code]"
)
DUARTE_2002_CLOCK = (
    "Duarte, Vijaykrishnan, Irwin, 'A clock power model to evaluate impact of architectural and "
    "technology optimizations', IEEE TVLSI 10(6):844-855, 2002: clock generation and "
    "distribution take at least a quarter of a microprocessor's power budget [V abstract]"
)
CUI_2014_7NM = (
    "Cui, Xie, Wang, Nazarian, Pedram, '7nm FinFET standard cell layout characterization and "
    "power density prediction ...', IGCC 2014: 7 nm FinFET circuits have 10-20x the power "
    "density of the same 45 nm CMOS circuits [V abstract]"
)

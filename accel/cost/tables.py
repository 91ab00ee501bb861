"""Published per-operation energy/area tables, one frozen row per number, each with its source.

Units: energy in pJ per operation, area in um2, node in nm, voltage in V. ``bits`` uses the
width convention of :mod:`hwsim.accel.cost.widths` (int, ``(a, b)`` for ``mul``, ``"bf16"``).
Rows marked ``approximate=True`` are derived (cross-calibrated) or unverified numbers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from hwsim.accel.cost import sources as S
from hwsim.accel.cost.widths import Width


@dataclass(frozen=True)
class OpRow:
    """One table entry: the cost of one ``op`` at width ``bits`` in one technology node."""

    op: str
    bits: Width
    energy_pj: float | None
    area_um2: float | None
    source: str
    node_nm: float
    voltage_v: float | None = None
    notes: str = ""
    approximate: bool = False

    def __post_init__(self) -> None:
        if not self.op or not isinstance(self.op, str):
            raise ValueError(f"OpRow.op must be a non-empty string, got {self.op!r}")
        if self.energy_pj is None and self.area_um2 is None:
            raise ValueError(f"row {self.op} {self.bits}: give energy_pj or area_um2 (or both)")
        for name in ("energy_pj", "area_um2"):
            v = getattr(self, name)
            if v is not None and not (math.isfinite(v) and v > 0):
                raise ValueError(f"row {self.op} {self.bits}: {name} must be finite > 0, got {v}")
        if not (math.isfinite(self.node_nm) and self.node_nm > 0):
            raise ValueError(f"row {self.op} {self.bits}: node_nm must be > 0, got {self.node_nm}")
        if not self.source or not str(self.source).strip():
            raise ValueError(f"row {self.op} {self.bits}: source must be non-empty")


def _h(op: str, bits: Width, e: float, a: float | None, notes: str = "") -> OpRow:
    return OpRow(op, bits, e, a, S.HOROWITZ_2014, 45, 0.9, notes)


#: Horowitz ISSCC 2014, 45 nm, 0.9 V.
HOROWITZ_45NM: tuple[OpRow, ...] = (
    _h("add", 8, 0.03, 36),
    _h("add", 16, 0.05, 67),
    _h("add", 32, 0.1, 137),
    _h("mul", 8, 0.2, 282),
    _h("mul", 32, 3.1, 3495),
    _h("fadd", 16, 0.4, 1360),
    _h("fadd", 32, 0.9, 4184),
    _h("fmul", 16, 1.1, 1640),
    _h("fmul", 32, 3.7, 7700),
)


def _t(op: str, bits: Width, e: float) -> OpRow:
    return OpRow(op, bits, e, None, S.TPUV4I_2021, 7, None, "no area given")


#: 7 nm table (Jouppi et al., ISCA 2021, via BitNet Table 2). bf16 rows are [M]
#: (unverified).
TPUV4I_7NM: tuple[OpRow, ...] = (
    _t("add", 8, 0.007),
    _t("mul", 8, 0.07),
    _t("add", 32, 0.03),
    _t("mul", 32, 1.48),
    _t("fadd", 16, 0.16),
    _t("fmul", 16, 0.34),
    _t("fadd", 32, 0.38),
    _t("fmul", 32, 1.31),
    OpRow("fadd", "bf16", 0.11, None, S.TPUV4I_2021_BF16, 7, None, "about 0.11 pJ", True),
    OpRow("fmul", "bf16", 0.21, None, S.TPUV4I_2021_BF16, 7, None, "about 0.21 pJ", True),
)

#: ShiftAddNet / ShiftAddViT constants, 45 nm (You et al., NeurIPS 2020). Only the shift rows
#: are new;
#: mult 32 = 3.7 and add 32 = 0.9 are Horowitz's FP32 numbers, listed here as fmul/fadd.
SHIFTADDNET_45NM: tuple[OpRow, ...] = (
    OpRow("shift", 8, 0.024, None, S.SHIFTADDNET_2020, 45),
    OpRow("shift", 32, 0.13, None, S.SHIFTADDNET_2020, 45),
    OpRow("mul", 8, 0.2, None, S.SHIFTADDNET_2020, 45, notes="= Horowitz 8b mult"),
    OpRow("add", 8, 0.03, None, S.SHIFTADDNET_2020, 45, notes="= Horowitz 8b add"),
    OpRow("fmul", 32, 3.7, None, S.SHIFTADDNET_2020, 45, notes="'mult 32' = Horowitz FP32 mult"),
    OpRow("fadd", 32, 0.9, None, S.SHIFTADDNET_2020, 45, notes="'add 32' = Horowitz FP32 add"),
)


def _a(op: str, bits: Width, e: float, a: float | None, notes: str = "") -> OpRow:
    return OpRow(op, bits, e, a, S.ALADDIN_40NM, 40, None, "1 ns latency point; " + notes)


#: Aladdin 40 nm, 32-bit units at 1 ns (Shao et al., ISCA 2014). Shifter varies 0.30-0.92 pJ
#: across Aladdin versions; register is 0.009 pJ per bit (area not given).
ALADDIN_40NM_TABLE: tuple[OpRow, ...] = (
    _a("add", 32, 0.21, 278),
    _a("mul", 32, 12.7, 6350, "12.68 pJ in the Accelergy plug-in CSV"),
    _a("shift", 32, 0.42, 250, "0.30-0.92 pJ across versions: order of magnitude only"),
    _a("and", 32, 0.018, 50, "'bitwise' unit"),
    _a("fadd", 32, 16.7, 4360),
    _a("fmul", 32, 35.3, 8970),
    _a("reg_write", 1, 0.009, None, "register, per bit"),
)

# Tiny-liberty cell areas in NAND2 gate equivalents (docs/rtl.md).
GE_AND2, GE_XOR2, GE_MUX2, GE_DFF = 1.33, 2.00, 2.33, 4.33


def _aladdin(op: str) -> OpRow:
    return next(r for r in ALADDIN_40NM_TABLE if r.op == op)


def derived_45nm_rows() -> tuple[OpRow, ...]:
    """Per-bit gate, mux and register rows at 45 nm, cross-calibrated into Horowitz's basis.

    Aladdin's 40 nm numbers are multiplied by Horowitz/Aladdin 32-bit adder ratios
    (energy 0.1/0.21, area 137/278) so that all default rows share one technology basis; XOR,
    MUX2 and DFF areas (and XOR/MUX energies) follow the tiny_ge.lib cell-area ratios to AND2.
    Shifter area comes from Aladdin's 32-bit shifter the same way.
    """
    add_h = next(r for r in HOROWITZ_45NM if r.op == "add" and r.bits == 32)
    add_a = _aladdin("add")
    e_ratio = add_h.energy_pj / add_a.energy_pj
    a_ratio = add_h.area_um2 / add_a.area_um2
    gate = _aladdin("and")
    and_e = gate.energy_pj / 32 * e_ratio
    and_a = gate.area_um2 / 32 * a_ratio
    basis = "Aladdin 40 nm x Horowitz/Aladdin add32 ratio (energy 0.1/0.21, area 137/278)"
    ge = f"{basis}; tiny_ge.lib area ratio"
    src_gate = f"derived: {basis} [{S.ALADDIN_40NM}; {S.HOROWITZ_2014}]"
    src_ge = f"derived: {ge} [{S.ALADDIN_40NM}; {S.HOROWITZ_2014}; {S.YOSYS_GE_2026}]"
    reg = _aladdin("reg_write")
    shifter = _aladdin("shift")

    def row(op: str, e: float | None, a: float | None, src: str, notes: str) -> OpRow:
        return OpRow(op, 1 if op != "shift" else 32, e, a, src, 45, 0.9, notes, True)

    return (
        row("and", and_e, and_a, src_gate, "per bit: Aladdin 32-bit 'bitwise' / 32"),
        row("xor", and_e * GE_XOR2 / GE_AND2, and_a * GE_XOR2 / GE_AND2, src_ge, "per bit"),
        row("mux", and_e * GE_MUX2 / GE_AND2, and_a * GE_MUX2 / GE_AND2, src_ge, "2:1, per bit"),
        row(
            "reg_write",
            reg.energy_pj * e_ratio,
            and_a * GE_DFF / GE_AND2,
            src_ge,
            "per bit: Aladdin register 0.009 pJ/bit; area DFF/AND2 GE ratio",
        ),
        row("shift", None, shifter.area_um2 * a_ratio, src_gate, "area only, 32-bit barrel"),
    )


def default_rows() -> tuple[OpRow, ...]:
    """Rows of the default table: Horowitz 45 nm, 7 nm, ShiftAddNet shifts, derived per-bit rows."""
    shifts = tuple(r for r in SHIFTADDNET_45NM if r.op == "shift")
    return HOROWITZ_45NM + TPUV4I_7NM + shifts + derived_45nm_rows()

"""SRAM, register-file and DRAM/HBM energy and area models.

SRAM read energy per bit follows Horowitz's 64-bit read energies (8 KB 10 pJ, 32 KB 20 pJ,
1 MB 100 pJ, 45 nm), interpolated log-log in the capacity of one bank and extrapolated as
sqrt(capacity) (bit-line and word-line length grow with the side of the array, the CACTI-style
first-order law; the anchors themselves give exponents 0.50 and 0.46). Energy per access is
linear in word width (consistent with Horowitz's 5 pJ per 32-bit 8 KB read = 10 pJ / 64-bit).
Area = capacity x bitcell area / array efficiency x port factor, node-scaled ideally.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from hwsim.accel._checks import pos_int as _pos_int
from hwsim.accel.cost import scaling
from hwsim.accel.cost import sources as S
from hwsim.accel.cost.costtable import CostTable


@dataclass(frozen=True)
class MemoryFigure:
    """A published memory energy figure: ``energy_pj`` per access of ``bits`` bits."""

    name: str
    capacity_bytes: int | None
    bits: int
    energy_pj: float
    source: str
    node_nm: float | None = 45
    notes: str = ""

    @property
    def pj_per_bit(self) -> float:
        return self.energy_pj / self.bits


#: Horowitz ISSCC 2014 SRAM reads (its 32-bit row too).
SRAM_FIGURES: tuple[MemoryFigure, ...] = (
    MemoryFigure("sram_8KB", 8 * 1024, 64, 10.0, S.HOROWITZ_2014),
    MemoryFigure("sram_32KB", 32 * 1024, 64, 20.0, S.HOROWITZ_2014),
    MemoryFigure("sram_1MB", 1024 * 1024, 64, 100.0, S.HOROWITZ_2014),
    MemoryFigure("sram_8KB_32b", 8 * 1024, 32, 5.0, S.HOROWITZ_2014, notes="consistency check"),
    MemoryFigure(
        "zigzag_2MB", 2 * 1024 * 1024, 2048, 416.0, S.ZIGZAG_TPU_LIKE, None, "write 378 pJ"
    ),
)

#: Off-chip memory energy per bit, pJ/bit (reads unless noted).
DRAM_FIGURES: tuple[MemoryFigure, ...] = (
    MemoryFigure("dram_horowitz", None, 32, 640.0, S.HOROWITZ_2014, 45, "32-bit DRAM read"),
    MemoryFigure(
        "dram_horowitz_64b_hi", None, 64, 2600.0, S.HOROWITZ_2014, 45, "range 1300-2600 pJ"
    ),
    MemoryFigure("dram_bitmod", None, 64, 1200.0, S.BITMOD_DRAM, None, "read = write"),
    MemoryFigure("dram_shiftaddvit", None, 16, 200.0, S.SHIFTADDVIT_MEM, None),
    MemoryFigure("dram_zigzag", None, 64, 700.0, S.ZIGZAG_TPU_LIKE, None, "write 750 pJ"),
    MemoryFigure("dram_ant_mixpe", None, 1, 0.644304, S.ANT_MIXPE_DRAM, None, "write 0.784104"),
    MemoryFigure("hbm2", None, 1, 3.9, S.HBM2_OCONNOR_2017, None, "unverified [M]"),
)

#: 45 nm 6T bitcell area (um2), Nii et al. ISQED 2013.
BITCELL_UM2_45NM = 0.37
#: Fraction of macro area that is bitcells; hwsim assumption (CACTI reports 0.3-0.8).
DEFAULT_ARRAY_EFFICIENCY = 0.6
#: Per extra port, each bitcell side grows by this fraction; hwsim assumption.
DEFAULT_PORT_GROWTH = 0.3


def _figure(name: str, table: tuple[MemoryFigure, ...]) -> MemoryFigure:
    return next(f for f in table if f.name == name)


_SRAM_ANCHORS = tuple((f.capacity_bytes, f.pj_per_bit) for f in SRAM_FIGURES[:3])
_SQRT_RULE = scaling.ScalingRule(lambda k: float(k[0]), 0.5, 0.5, "SRAM per-bit ~ sqrt(capacity)")


def sram_pj_per_bit(capacity_bytes: float) -> float:
    """Read energy per bit (pJ) of one single-ported 45 nm SRAM array of ``capacity_bytes``."""
    if not capacity_bytes > 0:
        raise ValueError(f"capacity_bytes must be > 0, got {capacity_bytes}")
    return scaling.interpolate(float(capacity_bytes), _SRAM_ANCHORS, _SQRT_RULE)


def _nonneg(name: str, v: float) -> None:
    if not (isinstance(v, int | float) and math.isfinite(v) and v >= 0):
        raise ValueError(f"{name} must be a finite number >= 0, got {v!r}")


@dataclass(frozen=True)
class SramConfig:
    """One SRAM macro: capacity (bytes), access word (bits), banks, ports, node (nm).

    ``leakage_mw``: static power of the macro (mW; default 0: not modelled unless given).
    ``write_to_read``: write/read energy ratio (1.0 default; ZigZag's 2 MB example has 0.91).
    """

    capacity_bytes: int
    word_bits: int = 64
    banks: int = 1
    ports: int = 1
    node_nm: float = 45
    leakage_mw: float = 0.0
    write_to_read: float = 1.0
    array_efficiency: float = DEFAULT_ARRAY_EFFICIENCY
    port_growth: float = DEFAULT_PORT_GROWTH

    def __post_init__(self) -> None:
        for name in ("capacity_bytes", "word_bits", "banks", "ports"):
            object.__setattr__(self, name, _pos_int(name, getattr(self, name)))
        if self.capacity_bytes * 8 < self.word_bits * self.banks:
            raise ValueError(
                f"capacity {self.capacity_bytes} bytes is smaller than one {self.word_bits}-bit "
                f"word per bank x {self.banks} banks"
            )
        if self.node_nm not in scaling.SUPPORTED_NODES_NM:
            raise ValueError(
                f"unknown technology node {self.node_nm} nm; supported: "
                f"{list(scaling.SUPPORTED_NODES_NM)}"
            )
        for name in ("leakage_mw", "port_growth"):
            _nonneg(name, getattr(self, name))
        if not (0 < self.array_efficiency <= 1):
            raise ValueError(f"array_efficiency must be in (0, 1], got {self.array_efficiency}")
        if not (self.write_to_read > 0 and math.isfinite(self.write_to_read)):
            raise ValueError(f"write_to_read must be > 0, got {self.write_to_read}")


@dataclass(frozen=True)
class SramCost:
    """Per-access energies (pJ), area (um2) and leakage (mW) of one :class:`SramConfig`."""

    read_pj: float
    write_pj: float
    area_um2: float
    leakage_mw: float
    source: str


def sram_cost(cfg: SramConfig) -> SramCost:
    """CACTI-like analytical SRAM model anchored to Horowitz's 45 nm read energies."""
    bank_bytes = cfg.capacity_bytes / cfg.banks
    port = 1.0 + cfg.port_growth * (cfg.ports - 1)
    e45 = cfg.word_bits * sram_pj_per_bit(bank_bytes) * port
    read = scaling.scale_energy_node(e45, None, cfg.node_nm)
    cell = BITCELL_UM2_45NM * port**2 / cfg.array_efficiency
    area = scaling.scale_area_node(cfg.capacity_bytes * 8 * cell, cfg.node_nm)
    src = (
        f"energy: {S.HOROWITZ_2014} SRAM 64-bit reads, log-log in bank capacity, x word bits, "
        f"port factor {port:g} [{S.ASSUMPTION}], node scaling geomean; area: {S.NII_2013_BITCELL}"
        f" / array efficiency {cfg.array_efficiency:g} [{S.ASSUMPTION}]; {S.DENNARD_AREA}"
    )
    return SramCost(read, read * cfg.write_to_read, area, cfg.leakage_mw, src)


@dataclass(frozen=True)
class RegisterFileConfig:
    """A flip-flop register file: ``entries`` words of ``word_bits`` bits, at ``node_nm``."""

    entries: int
    word_bits: int
    node_nm: float = 45

    def __post_init__(self) -> None:
        object.__setattr__(self, "entries", _pos_int("entries", self.entries))
        object.__setattr__(self, "word_bits", _pos_int("word_bits", self.word_bits))


def register_file_cost(cfg: RegisterFileConfig, table: CostTable | None = None) -> SramCost:
    """Register file built from the cost table: a write is ``reg_write_w``; a read walks a
    log2(entries)-deep 2:1 mux tree (``mux_w`` per level); area = entries x (DFF + mux) x w."""
    table = table or CostTable.default()
    reg = table.op_cost("reg_write", cfg.word_bits, cfg.node_nm)
    mux = table.op_cost("mux", cfg.word_bits, cfg.node_nm)
    levels = math.ceil(math.log2(cfg.entries)) if cfg.entries > 1 else 0
    read = levels * mux.energy_pj
    area = cfg.entries * reg.area_um2 + (cfg.entries - 1) * mux.area_um2
    src = f"register file from reg_write/mux rows: {reg.source} | {mux.source}"
    return SramCost(read, reg.energy_pj, area, 0.0, src)


@dataclass(frozen=True)
class DramSpec:
    """Off-chip memory: energy per bit read/written (pJ/bit) and its source."""

    name: str
    read_pj_per_bit: float
    write_pj_per_bit: float
    source: str

    def __post_init__(self) -> None:
        for name in ("read_pj_per_bit", "write_pj_per_bit"):
            v = getattr(self, name)
            if not (math.isfinite(v) and v > 0):
                raise ValueError(f"{name} must be finite > 0, got {v}")


def _dram(name: str, fig: str, write: float | None = None) -> DramSpec:
    f = _figure(fig, DRAM_FIGURES)
    return DramSpec(name, f.pj_per_bit, write or f.pj_per_bit, f.source)


#: Named off-chip memories. "ddr" (the default) is Horowitz's 640 pJ per 32-bit read = 20 pJ/bit.
DRAM_SPECS: dict[str, DramSpec] = {
    "ddr": _dram("ddr", "dram_horowitz"),
    "ddr_bitmod": _dram("ddr_bitmod", "dram_bitmod"),
    "ddr_zigzag": _dram("ddr_zigzag", "dram_zigzag", 750.0 / 64),
    "ant_mixpe": _dram("ant_mixpe", "dram_ant_mixpe", 0.784104),
    "hbm2": _dram("hbm2", "hbm2"),
}


def dram_spec(name: str = "ddr") -> DramSpec:
    """A named :class:`DramSpec`: ddr, ddr_bitmod, ddr_zigzag, ant_mixpe or hbm2."""
    if name not in DRAM_SPECS:
        raise ValueError(f"unknown DRAM spec {name!r}; known: {sorted(DRAM_SPECS)}")
    return DRAM_SPECS[name]


def dram_energy_pj(read_bytes: int, write_bytes: int = 0, spec: DramSpec | str = "ddr") -> float:
    """Energy (pJ) to move ``read_bytes`` from and ``write_bytes`` to off-chip memory."""
    spec = dram_spec(spec) if isinstance(spec, str) else spec
    for name, v in (("read_bytes", read_bytes), ("write_bytes", write_bytes)):
        _nonneg(name, v)
    return 8.0 * (read_bytes * spec.read_pj_per_bit + write_bytes * spec.write_pj_per_bit)


def static_energy_pj(power_mw: float, cycles: int, freq_hz: float) -> float:
    """Leakage or clock energy (pJ) of ``power_mw`` over ``cycles`` at ``freq_hz``."""
    _nonneg("power_mw", power_mw)
    _nonneg("cycles", cycles)
    if not freq_hz > 0:
        raise ValueError(f"freq_hz must be > 0, got {freq_hz}")
    return power_mw * 1e-3 * cycles / freq_hz * 1e12

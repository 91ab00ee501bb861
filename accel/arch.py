"""Accelerator configuration: frozen, validated dataclasses (sizes in bytes, time in cycles)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from .cost.memory import DRAM_SPECS, DramSpec
from .formats_bits import storage_bits
from .pe_adapter import pe_operand_formats
from .systolic import check_dataflow

OPERANDS = ("act", "weight", "out")

# Default SRAM sizes: MixPE/ANT simulator configs (Act_SRAM 256 KB, Wgt_SRAM 128 KB,
# Out_SRAM 128 KB; MixPE simulator, Zhang et al., arXiv 2411.16158).
DEFAULT_SRAM_BYTES = {"act": 256 * 1024, "weight": 128 * 1024, "out": 128 * 1024}
# SRAM word 64 bits, 1 bank: Horowitz ISSCC 2014 quotes SRAM energy per 64-bit access.
DEFAULT_WORD_BITS = 64
# 2 SRAM ports (one fill/drain port, one array port) and 1 channel / 2 DMA engines (one read, one
# write stream): hwsim assumptions mirroring SCALE-Sim's separate read and write ports.
DEFAULT_PORTS = 2
DEFAULT_DMA_ENGINES = 2
# At most 64 simulated tiles per layer: a speed knob (cycles are exact with ideal memory for any
# value; with finite bandwidth, finer tiles model the overlap more finely).
DEFAULT_MAX_TILES = 64
# Clock 500 MHz: MixPE/ANT/BitFusion configs (Zhang et al.,
# arXiv 2411.16158, its simulator); only used to report time.
DEFAULT_FREQ_HZ = 500e6


# Largest array side and SRAM size accepted: far beyond built arrays (TPU v1: 256 x 256, Jouppi
# et al., ISCA 2017) and memories, small enough that cycle, byte and event counts stay exact.
MAX_ARRAY_DIM = 2**20
MAX_COUNT = 2**53  # bytes, cycles


def _pos_int(name: str, v: object, most: int | None = None) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or v <= 0:
        raise ValueError(f"{name} must be a positive int, got {v!r}")
    if most is not None and v > most:
        raise ValueError(f"{name} = {v} exceeds the simulator's limit of {most:,}")
    return v


@dataclass(frozen=True)
class BufferConfig:
    """One per-operand on-chip SRAM buffer.

    ``size_bytes``: capacity (bytes); ``banks``, ``ports``, ``width_bits`` (access word, bits);
    ``double_buffered``: half the capacity is loaded while the other half is computed on.
    """

    name: str
    size_bytes: int
    banks: int = 1
    ports: int = DEFAULT_PORTS
    width_bits: int = DEFAULT_WORD_BITS
    double_buffered: bool = True

    def __post_init__(self) -> None:
        _pos_int(f"buffer {self.name!r} size_bytes", self.size_bytes, MAX_COUNT)
        for f in ("banks", "ports", "width_bits"):
            _pos_int(f"buffer {self.name!r} {f}", getattr(self, f))
        if not isinstance(self.double_buffered, bool):
            raise ValueError(
                f"buffer {self.name!r} double_buffered must be true or false, "
                f"got {self.double_buffered!r}"
            )
        if self.size_bytes * 8 < self.width_bits * self.banks:
            raise ValueError(
                f"buffer {self.name!r}: {self.size_bytes} bytes is smaller than one "
                f"{self.width_bits}-bit word in each of {self.banks} banks"
            )

    @property
    def tile_bytes(self) -> int:
        """Capacity one tile may use (bytes): half the buffer when double-buffered."""
        return self.size_bytes // 2 if self.double_buffered else self.size_bytes


@dataclass(frozen=True)
class DramConfig:
    """Off-chip DRAM/HBM channel(s) and DMA engines.

    ``bandwidth_bytes_per_cycle``: per channel; None = unlimited (SCALE-Sim's
    ``InterfaceBandwidth: CALC`` mode, which never stalls; SCALE-Sim, Samajdar et al., ISPASS 2020).
    ``latency_cycles``: added to every transfer (0 by default, as SCALE-Sim's reported totals).
    ``channels``: concurrent transfers; ``dma_engines``: transfers in flight per direction.
    ``spec``: energy figure name for hwsim.accel.cost (``"ddr"``: Horowitz 20 pJ/bit).
    """

    bandwidth_bytes_per_cycle: float | None = None
    latency_cycles: int = 0
    channels: int = 1
    dma_engines: int = DEFAULT_DMA_ENGINES
    spec: str = "ddr"

    def __post_init__(self) -> None:
        bw = self.bandwidth_bytes_per_cycle
        if bw is not None and (
            isinstance(bw, bool)
            or not isinstance(bw, int | float)
            or not (math.isfinite(bw) and bw > 0)
        ):
            raise ValueError(f"DRAM bandwidth_bytes_per_cycle must be > 0 or None, got {bw!r}")
        if isinstance(self.latency_cycles, bool) or not isinstance(self.latency_cycles, int):
            raise ValueError(f"DRAM latency_cycles must be an int, got {self.latency_cycles!r}")
        if not 0 <= self.latency_cycles <= MAX_COUNT:
            raise ValueError(f"DRAM latency_cycles must be in 0..2^53, got {self.latency_cycles}")
        _pos_int("DRAM channels", self.channels)
        _pos_int("DRAM dma_engines", self.dma_engines)
        if not isinstance(self.spec, DramSpec) and not (
            isinstance(self.spec, str) and self.spec in DRAM_SPECS
        ):
            raise ValueError(f"unknown DRAM spec {self.spec!r}; known: {sorted(DRAM_SPECS)}")

    def transfer_cycles(self, nbytes: float) -> float:
        """Channel occupancy (cycles) of moving ``nbytes`` (latency excluded)."""
        bw = self.bandwidth_bytes_per_cycle
        return 0.0 if bw is None or nbytes <= 0 else math.ceil(nbytes / bw)


@dataclass(frozen=True)
class Accelerator:
    """A rows x cols systolic array of one PE kind with per-operand buffers and DRAM.

    ``formats``: bits per element or hwsim.formats names for ``act``, ``weight``, ``out``.
    ``pe_params``: keyword parameters for ``hwsim.pe.get(pe, **params)`` as sorted pairs.
    ``max_tiles``: steps per layer above which consecutive steps are merged (speed).
    """

    rows: int
    cols: int
    pe: str = "int_mac"
    dataflow: str = "os"
    buffers: tuple[BufferConfig, ...] = field(
        default_factory=lambda: tuple(BufferConfig(o, s) for o, s in DEFAULT_SRAM_BYTES.items())
    )
    dram: DramConfig = field(default_factory=DramConfig)
    formats: tuple[tuple[str, float | str], ...] = (
        ("act", "int8"),
        ("weight", "int8"),
        ("out", "int8"),
    )
    pe_params: tuple[tuple[str, object], ...] = ()
    freq_hz: float = DEFAULT_FREQ_HZ
    max_tiles: int = DEFAULT_MAX_TILES
    name: str = "systolic"

    def __post_init__(self) -> None:
        _pos_int("rows", self.rows, MAX_ARRAY_DIM)
        _pos_int("cols", self.cols, MAX_ARRAY_DIM)
        _pos_int("max_tiles", self.max_tiles)
        object.__setattr__(self, "dataflow", check_dataflow(self.dataflow))
        names = [b.name for b in self.buffers]
        if sorted(names) != sorted(OPERANDS):
            raise ValueError(f"buffers must be exactly one per operand {OPERANDS}, got {names}")
        fmts = dict(self.formats)
        unknown = sorted(set(fmts) - set(OPERANDS))
        if unknown:
            raise ValueError(f"unknown operand(s) in formats: {unknown}; expected {OPERANDS}")
        missing = sorted(set(OPERANDS) - set(fmts))
        if missing:
            raise ValueError(f"formats missing for operand(s) {missing}")
        for op, f in fmts.items():
            try:
                storage_bits(f)
            except ValueError as exc:
                raise ValueError(f"operand {op!r}: {exc}") from None
        f = self.freq_hz
        if isinstance(f, bool) or not (isinstance(f, int | float) and 0 < f < math.inf):
            raise ValueError(f"freq_hz must be > 0, got {self.freq_hz!r}")

    def buffer(self, operand: str) -> BufferConfig:
        """The buffer holding ``operand`` ("act", "weight" or "out")."""
        for b in self.buffers:
            if b.name == operand:
                return b
        raise ValueError(f"no buffer for operand {operand!r}")

    def bits(self, operand: str) -> float:
        """Storage bits per element of ``operand`` (bits, scale overhead included)."""
        return storage_bits(dict(self.formats)[operand])

    @property
    def num_pes(self) -> int:
        return self.rows * self.cols


@dataclass(frozen=True)
class Heterogeneous:
    """Several arrays (clusters); each layer runs on the cluster that finishes it first,
    or on ``cluster_of[layer name]`` when given."""

    clusters: tuple[Accelerator, ...]
    cluster_of: tuple[tuple[str, int], ...] = ()

    def __post_init__(self) -> None:
        if not self.clusters:
            raise ValueError("a heterogeneous accelerator needs at least one cluster")
        for layer, i in self.cluster_of:
            if not (isinstance(i, int) and 0 <= i < len(self.clusters)):
                raise ValueError(f"layer {layer!r} mapped to missing cluster {i!r}")


def systolic(
    rows: int,
    cols: int,
    pe: str = "int_mac",
    dataflow: str = "os",
    *,
    act_sram_bytes: int = DEFAULT_SRAM_BYTES["act"],
    weight_sram_bytes: int = DEFAULT_SRAM_BYTES["weight"],
    out_sram_bytes: int = DEFAULT_SRAM_BYTES["out"],
    sram_banks: int = 1,
    sram_ports: int = DEFAULT_PORTS,
    sram_width_bits: int = DEFAULT_WORD_BITS,
    double_buffered: bool = True,
    dram_bw: float | None = None,
    dram_latency: int = 0,
    dram_channels: int = 1,
    dma_engines: int = DEFAULT_DMA_ENGINES,
    dram_spec: str = "ddr",
    act_fmt: float | str | None = None,
    weight_fmt: float | str | None = None,
    out_fmt: float | str | None = None,
    pe_params: dict | None = None,
    freq_hz: float = DEFAULT_FREQ_HZ,
    max_tiles: int = DEFAULT_MAX_TILES,
    name: str = "systolic",
) -> Accelerator:
    """Build an :class:`Accelerator` (sizes in bytes, ``dram_bw`` in bytes/cycle, None = unlimited).

    Operand formats left as None come from the PE model's ``a_fmt`` / ``w_fmt`` (weights
    include group-scale overhead); the output defaults to the activation format (written back
    requantized, as SCALE-Sim's one-word ofmap); int8 when the PE does not say.

    >>> acc = systolic(32, 32, dataflow="ws", dram_bw=64)
    >>> acc.dram.bandwidth_bytes_per_cycle
    64
    """
    pe_fmts = pe_operand_formats(pe, tuple(sorted((pe_params or {}).items())))
    act_fmt = act_fmt if act_fmt is not None else pe_fmts.get("act", "int8")
    weight_fmt = weight_fmt if weight_fmt is not None else pe_fmts.get("weight", "int8")
    out_fmt = out_fmt if out_fmt is not None else act_fmt
    sizes = {"act": act_sram_bytes, "weight": weight_sram_bytes, "out": out_sram_bytes}
    buffers = tuple(
        BufferConfig(o, s, sram_banks, sram_ports, sram_width_bits, double_buffered)
        for o, s in sizes.items()
    )
    return Accelerator(
        rows=rows,
        cols=cols,
        pe=pe,
        dataflow=dataflow,
        buffers=buffers,
        dram=DramConfig(dram_bw, dram_latency, dram_channels, dma_engines, dram_spec),
        formats=(("act", act_fmt), ("weight", weight_fmt), ("out", out_fmt)),
        pe_params=tuple(sorted((pe_params or {}).items())),
        freq_hz=freq_hz,
        max_tiles=max_tiles,
        name=name,
    )

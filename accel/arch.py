"""Accelerator configuration: frozen, validated dataclasses (sizes in bytes, time in cycles)."""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, field, replace

from ._checks import pos_int as _pos_int
from .cost.memory import DRAM_SPECS, DramSpec
from .formats_bits import storage_bits
from .pe_adapter import pe_operand_formats
from .systolic import check_dataflow, step_compute_cycles

OPERANDS = ("act", "weight", "out")
KV = "kv"  # the KV cache: its own format (default: the activation format) and optional buffer
#: optional accumulator buffer: partial sums at the accumulator width between SRAM and DRAM
ACCUM = "accum"
ARRAYS = ("systolic", "tensor_core")

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
        for f in ("size_bytes", "banks", "ports", "width_bits"):
            most = MAX_COUNT if f == "size_bytes" else None
            v = _pos_int(f"buffer {self.name!r} {f}", getattr(self, f), most)
            object.__setattr__(self, f, v)
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
        if isinstance(self.latency_cycles, bool) or not isinstance(
            self.latency_cycles, numbers.Integral
        ):
            raise ValueError(f"DRAM latency_cycles must be an int, got {self.latency_cycles!r}")
        if not 0 <= self.latency_cycles <= MAX_COUNT:
            raise ValueError(f"DRAM latency_cycles must be in 0..2^53, got {self.latency_cycles}")
        object.__setattr__(self, "latency_cycles", int(self.latency_cycles))
        object.__setattr__(self, "channels", _pos_int("DRAM channels", self.channels))
        object.__setattr__(self, "dma_engines", _pos_int("DRAM dma_engines", self.dma_engines))
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
    array: str = "systolic"
    preload_overlap: bool = False
    preload_rows_per_cycle: int = 1

    def __post_init__(self) -> None:
        if self.array not in ARRAYS:
            raise ValueError(f"array must be one of {ARRAYS}, got {self.array!r}")
        if not isinstance(self.preload_overlap, bool):
            raise ValueError(f"preload_overlap must be true or false, got {self.preload_overlap!r}")
        object.__setattr__(
            self, "preload_rows_per_cycle",
            _pos_int("preload_rows_per_cycle", self.preload_rows_per_cycle),
        )  # fmt: skip
        if self.array == "tensor_core" and self.dataflow != "os":
            raise ValueError("a tensor_core array computes dot products in place: dataflow 'os'")
        if self.preload_overlap and (self.array != "systolic" or self.dataflow == "os"):
            raise ValueError(
                "preload_overlap hides the stationary-operand preload of a systolic ws/is "
                f"array; this is a {self.array} array with dataflow {self.dataflow!r}"
            )
        for f in ("rows", "cols", "max_tiles"):
            most = None if f == "max_tiles" else MAX_ARRAY_DIM
            object.__setattr__(self, f, _pos_int(f, getattr(self, f), most))
        object.__setattr__(self, "dataflow", check_dataflow(self.dataflow))
        names = [b.name for b in self.buffers]
        extra = (KV, ACCUM)
        if sorted(n for n in names if n not in extra) != sorted(OPERANDS) or any(
            names.count(x) > 1 for x in extra
        ):
            raise ValueError(
                f"buffers must be exactly one per operand {OPERANDS} (plus an optional {KV!r} "
                f"buffer for the KV cache and an optional {ACCUM!r} accumulator buffer), "
                f"got {names}"
            )
        if any(b.name == ACCUM and b.double_buffered for b in self.buffers):
            raise ValueError(
                f"the {ACCUM!r} buffer holds partial sums in place: not double-buffered"
            )
        fmts = dict(self.formats)
        unknown = sorted(set(fmts) - {*OPERANDS, KV})
        if unknown:
            raise ValueError(
                f"unknown operand(s) in formats: {unknown}; expected {(*OPERANDS, KV)}"
            )
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

    @property
    def accumulator_bytes(self) -> int:
        """Capacity of the accumulator buffer (bytes; 0 without one)."""
        return next((b.size_bytes for b in self.buffers if b.name == ACCUM), 0)

    @property
    def preload_cycles(self) -> int:
        """Cycles to shift a stationary tile into the array (cycles): rows / rows per cycle."""
        return -(-self.rows // self.preload_rows_per_cycle)

    def compute_cycles(self, folds, stream_cycles):
        """Per-step compute cycles of this array (see ``systolic.step_compute_cycles``)."""
        return step_compute_cycles(
            self.dataflow, self.rows, self.cols, folds, stream_cycles,
            array=self.array, preload_overlap=self.preload_overlap,
            preload_cycles=self.preload_cycles,
        )  # fmt: skip

    def buffer(self, operand: str) -> BufferConfig:
        """The buffer holding ``operand`` ("act", "weight", "out"; "kv": its own buffer if
        configured, else the weight buffer, which holds the attention products' second
        operand)."""
        for b in self.buffers:
            if b.name == operand:
                return b
        if operand == KV:
            return self.buffer("weight")
        raise ValueError(f"no buffer for operand {operand!r}")

    def bits(self, operand: str) -> float:
        """Storage bits per element of ``operand`` (bits, scale overhead included); the KV
        cache defaults to the activation format (K and V are activations)."""
        fmts = dict(self.formats)
        if operand == KV and KV not in fmts:
            operand = "act"
        if operand not in fmts:
            raise ValueError(f"no format for operand {operand!r}")
        return storage_bits(fmts[operand])

    def kv_format(self) -> float | str:
        """The KV cache's storage format (the activation format unless ``kv`` is given)."""
        fmts = dict(self.formats)
        return fmts.get(KV, fmts["act"])

    def with_kv_in(self, slot: str) -> Accelerator:
        """This accelerator seen by a layer whose ``slot`` operand is the KV cache: "weight"
        for the attention products (K and V are read as their second operand), "out" for the
        k/v projections (they write the cache): that slot takes the KV format and buffer."""
        if slot not in ("weight", "out"):
            raise ValueError(f"the KV cache takes the 'weight' or 'out' slot, not {slot!r}")
        fmts = dict(self.formats)
        fmts[slot] = self.kv_format()
        fmts.pop(KV, None)
        bufs = [b for b in self.buffers if b.name != KV]
        if any(b.name == KV for b in self.buffers):
            kvb = self.buffer(KV)
            bufs = [replace(kvb, name=slot) if b.name == slot else b for b in bufs]
        return replace(self, formats=tuple(fmts.items()), buffers=tuple(bufs))

    def with_formats(self, overrides: dict) -> Accelerator:
        """This accelerator with some operands' storage formats replaced (per-layer formats)."""
        fmts = dict(self.formats)
        for op, f in overrides.items():
            if op not in (*OPERANDS, KV):
                raise ValueError(f"unknown operand {op!r} in layer formats; use {(*OPERANDS, KV)}")
            fmts[op] = f
        return replace(self, formats=tuple(fmts.items()))

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
    kv_fmt: float | str | None = None,
    kv_sram_bytes: int | None = None,
    accumulator_bytes: int | None = None,
    pe_params: dict | None = None,
    freq_hz: float = DEFAULT_FREQ_HZ,
    max_tiles: int = DEFAULT_MAX_TILES,
    name: str = "systolic",
    preload_overlap: bool = False,
    preload_rows_per_cycle: int = 1,
    array: str = "systolic",
) -> Accelerator:
    """Build an :class:`Accelerator` (sizes in bytes, ``dram_bw`` in bytes/cycle, None = unlimited).

    ``preload_overlap`` (ws/is): the next stationary tile loads while the current one
    computes, ``preload_rows_per_cycle`` rows per cycle (the array fill bandwidth).

    Operand formats left as None come from the PE model's ``a_fmt`` / ``w_fmt`` (weights
    include group-scale overhead); the output defaults to the activation format (written back
    requantized, as SCALE-Sim's one-word ofmap); int8 when the PE does not say. ``kv_fmt``:
    the KV cache's storage format (default: the activation format); ``kv_sram_bytes``: a
    buffer of its own for it (default: K/V tiles use the weight buffer).

    >>> acc = systolic(32, 32, dataflow="ws", dram_bw=64)
    >>> acc.dram.bandwidth_bytes_per_cycle
    64
    """
    pe_fmts = pe_operand_formats(pe, tuple(sorted((pe_params or {}).items())))
    act_fmt = act_fmt if act_fmt is not None else pe_fmts.get("act", "int8")
    weight_fmt = weight_fmt if weight_fmt is not None else pe_fmts.get("weight", "int8")
    out_fmt = out_fmt if out_fmt is not None else act_fmt
    sizes = {"act": act_sram_bytes, "weight": weight_sram_bytes, "out": out_sram_bytes}
    if kv_sram_bytes is not None:
        sizes[KV] = kv_sram_bytes
    buffers = tuple(
        BufferConfig(o, s, sram_banks, sram_ports, sram_width_bits, double_buffered)
        for o, s in sizes.items()
    )
    if accumulator_bytes is not None:
        buffers += (
            BufferConfig(ACCUM, accumulator_bytes, sram_banks, sram_ports, sram_width_bits, False),
        )
    formats = [("act", act_fmt), ("weight", weight_fmt), ("out", out_fmt)]
    if kv_fmt is not None:
        formats.append((KV, kv_fmt))
    return Accelerator(
        rows=rows,
        cols=cols,
        pe=pe,
        dataflow=dataflow,
        buffers=buffers,
        dram=DramConfig(dram_bw, dram_latency, dram_channels, dma_engines, dram_spec),
        formats=tuple(formats),
        pe_params=tuple(sorted((pe_params or {}).items())),
        freq_hz=freq_hz,
        max_tiles=max_tiles,
        name=name,
        array=array,
        preload_overlap=preload_overlap,
        preload_rows_per_cycle=preload_rows_per_cycle,
    )


def tensor_core(rows: int, cols: int, pe: str = "int_mac", **params) -> Accelerator:
    """An array of rows x cols dot-product units (the PE kind's lanes reduce K inside each
    unit) with activations broadcast along rows and weights along columns: each fold computes
    a rows x cols output tile, ``dot_cycles(K tile)`` cycles, no systolic skew or preload.
    The organisation LUT Tensor Core and MixPE are evaluated in. ``params``: as
    :func:`systolic` (buffers, DRAM, formats, ``pe_params``)."""
    for bad in ("dataflow", "array", "preload_overlap", "preload_rows_per_cycle"):
        if bad in params:
            raise ValueError(f"tensor_core takes no {bad!r}: it is an output-stationary array "
                             "of dot-product units")  # fmt: skip
    params.setdefault("name", "tensor_core")
    return systolic(rows, cols, pe, "os", array="tensor_core", **params)

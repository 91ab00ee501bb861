"""The one place that touches hwsim.pe: per-dot-product cycles and events of a PE kind."""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, field

# Event names of one int8 MAC (docs/conventions.md): used only when hwsim.pe is missing.
_FALLBACK_MAC_EVENTS = {"mul_8x8": 1, "add_32": 1, "reg_write_32": 1}
#: dot-product length for the area inventory: Llama-2-7B hidden size (a typical LLM reduction
#: length, shapes in hwsim.workloads), long enough to amortise per-group and per-table events
INVENTORY_K = 4096
#: outputs sharing one activation row in the inventory GEMM: LUT-TC's N_DIM = 64
#: (LUT Tensor Core RTL, Mo et al., ISCA 2025)
INVENTORY_N = 64
#: units busier than this fraction of cycles are per PE; rarer ones are time-shared
SHARED_BELOW = 1 / 8


@dataclass
class PETiming:
    """Cycles and events of length-k dot products on one PE, memoised per k.

    Falls back to 1 cycle per MAC (int_mac only) when hwsim.pe cannot be imported.
    """

    kind: str
    params: tuple = ()
    _unit: object = field(default=None, repr=False)
    _cycles: dict = field(default_factory=dict, repr=False)
    _events: dict = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        try:
            from hwsim import pe
        except ImportError:
            if self.kind != "int_mac":
                raise ValueError(
                    f"PE kind {self.kind!r} needs hwsim.pe, which is not importable"
                ) from None
            return
        try:
            self._unit = pe.get(self.kind, **dict(self.params))
        except Exception as exc:  # PEError derives from ValueError; keep message
            raise ValueError(f"cannot build PE {self.kind!r}: {exc}") from None

    @property
    def acc_bits(self) -> float:
        """Partial-sum width (bits): the PE's ``acc_bits``, or its ``acc_fmt``'s storage bits;
        32 (an INT32/FP32 accumulator) when the PE does not say."""
        cfg = getattr(self._unit, "cfg", None)
        width = getattr(cfg, "acc_bits", None)
        if isinstance(width, int) and not isinstance(width, bool):
            return float(width)
        fmt = getattr(cfg, "acc_fmt", None)
        if isinstance(fmt, str):
            from .formats_bits import storage_bits

            return float(storage_bits(fmt))
        return 32.0

    def dot_cycles(self, k: int) -> int:
        """Exact cycles (cycles) of one length-k dot product."""
        k = int(k)
        if k not in self._cycles:
            self._cycles[k] = k if self._unit is None else int(self._unit.dot_cycles(k))
        return self._cycles[k]

    def dot_events(self, k: int) -> dict[str, int]:
        """Event counts of one length-k dot product (names per docs/conventions.md)."""
        k = int(k)
        if k not in self._events:
            if self._unit is None:
                self._events[k] = {n: c * k for n, c in _FALLBACK_MAC_EVENTS.items()}
            else:
                self._events[k] = {n: int(c) for n, c in self._unit.dot_events(k).items()}
        return self._events[k]

    def gemm_events(self, m: int, n: int, k: int) -> dict[str, int]:
        """Event counts of an m x k by k x n GEMM as the PE model defines them (per-group
        dequantization once per k-group, LUT tables shared across n), independent of how a
        dataflow maps the GEMM onto the array."""
        key = ("gemm", int(m), int(n), int(k))
        if key not in self._events:
            if self._unit is None:
                self._events[key] = {e: c * m * n for e, c in self.dot_events(k).items()}
            else:
                ev = self._unit.matmul_events(int(m), int(n), int(k))
                self._events[key] = {e: int(c) for e, c in ev.items()}
        return self._events[key]

    def unit_inventory(self, k: int = INVENTORY_K) -> dict[str, float]:
        """Hardware units of one PE for the area model (approximate), following the PE's RTL
        structure (``hwsim.rtl.emit*``), from its events on a 1 x k by k x INVENTORY_N GEMM:

        * per-PE units (events that grow with the number of outputs n): a kind with rate r
          events per cycle counts ceil(r) units (a 16-lane PE has 16 term muxes), except that
          a unit busy less than SHARED_BELOW of the cycles counts r: it is time-shared by 1/r
          PEs, as MixPE's per-group dequantizer is (Zhang et al., arXiv 2411.16158); the
          sharing muxes are not counted.
        * per-row units (events that do not grow with n: LUT-TC's table precompute and fill,
          one table per activation row shared by the row's N_DIM = INVENTORY_N lanes): one
          unit of each kind per row, 1 / INVENTORY_N per PE, whatever the weight bits. The
          generated LUT lane takes its table as an input port and LUT-TC runs the precompute
          as a separate operator outside the tile (Mo et al., ISCA 2025), and the PE model
          charges it events but no tile cycles, so its throughput never sizes these units;
          rounding a busy precompute adder up per PE made a 1-bit LUT PE 3x dearer than the
          4-bit one.

        Wiring, control and registers that emit no event are missing; prefer RTL synthesis
        figures (`hwsim.rtl.synth`) where a generator exists."""
        if isinstance(k, bool) or not isinstance(k, numbers.Integral) or k < 1:
            raise ValueError(f"inventory dot-product length k must be an int >= 1, got {k!r}")
        cycles = INVENTORY_N * self.dot_cycles(k)
        twice = self.gemm_events(1, 2 * INVENTORY_N, k)
        out: dict[str, float] = {}
        for name, n in self.gemm_events(1, INVENTORY_N, k).items():
            if n <= 0:
                continue
            if twice.get(name, 0) < 2 * n:  # shared by the row's outputs
                out[name] = 1 / INVENTORY_N
                continue
            rate = n / cycles
            out[name] = rate if rate < SHARED_BELOW else float(math.ceil(rate - 1e-9))
        return out


def pe_operand_formats(kind: str, params: tuple = ()) -> dict[str, float | str]:
    """Default storage formats of a PE kind's operands: ``{"act": a_fmt, "weight": w_fmt or
    bits incl. group-scale overhead}`` (e.g. dequant_mac int4 + fp16 per 128 -> 4.125 bits).
    Empty when hwsim.pe is missing (callers fall back to int8)."""
    timing = PETiming(kind, params)
    cfg = getattr(timing._unit, "cfg", None)
    if cfg is None:
        return {}
    out: dict[str, float | str] = {}
    a_fmt = getattr(cfg, "a_fmt", None)
    w_fmt = getattr(cfg, "w_fmt", None)
    if isinstance(a_fmt, str):
        out["act"] = a_fmt
    if isinstance(w_fmt, str):
        out["weight"] = w_fmt
        group = getattr(cfg, "group_size", None)
        scale_bits = getattr(cfg, "scale_bits", None)
        scale_fmt = getattr(cfg, "scale_fmt", None)
        if scale_bits is None and isinstance(scale_fmt, str):
            from .formats_bits import storage_bits

            scale_bits = storage_bits(scale_fmt)
        if isinstance(group, int) and group > 0 and scale_bits:
            from .formats_bits import storage_bits

            out["weight"] = storage_bits(w_fmt) + scale_bits / group
    return out

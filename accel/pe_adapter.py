"""The one place that touches hwsim.pe: per-dot-product cycles and events of a PE kind."""

from __future__ import annotations

from dataclasses import dataclass, field

# Event names of one int8 MAC (docs/conventions.md): used only when hwsim.pe is missing.
_FALLBACK_MAC_EVENTS = {"mul_8x8": 1, "add_32": 1, "reg_write_32": 1}


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

    def unit_inventory(self) -> dict[str, int]:
        """Hardware units of one PE for the area model: each event kind of a 1-element dot
        product counted once (an approximation until hwsim.pe exports an inventory)."""
        return {name: 1 for name in self.dot_events(1)}


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

"""Verilog-2005 generators for the PE datapaths (one Python function per PE kind).

Every generator takes a PE model (`hwsim.pe.get(kind, **params)`) and returns a `Design`
(module name, Verilog text, port description). Widths are computed here from the operand
formats, so there are no per-width copies: the same function emits 2..16-bit variants.
Everything lane-wise is unrolled by Python, which keeps each module free of loops and of
`verilator -Wall` width warnings. Intentionally dropped bits are the only lint waivers.

Common interface of a "chunk-serial" PE (one dot-product chunk of `lanes` operand pairs
takes CPC clock cycles; CPC = 1 for int_mac/shiftadd):

    clk, rst (sync, active high), en (clock enable: en=0 holds every register),
    start   first cycle of a new dot product (clears the accumulator and overflow flag),
    last    the chunk being presented is the last of the dot product,
    <operand ports>   held stable by the driver for the CPC cycles of a chunk,
    acc     signed ACC-bit accumulator (wrap or saturate, as the model's `overflow`),
    ovf     sticky overflow flag of the current dot product,
    done    registered: the last cycle of the dot product happened,
    sip     (multi-cycle PEs) the chunk partial-sum register,
    cnt     (multi-cycle PEs) the serial step counter (bit / digit / plane pair index).

Register state after each rising edge equals the step model's state dict of that cycle.
"""

from __future__ import annotations

# shared helpers and Design (rtl/emit_base.py), re-exported: `hwsim.rtl.emit.Design` etc.
from .emit_base import (  # noqa: F401
    CONTROL_PORTS,
    Design,
    V,
    _acc_tail,
    _header,
    _lane_operand,
    _maxabs,
    _popcount,
    _sum,
    const,
    cw,
    module_name,
    sext,
    swidth,
    zeros,
)
from .emit_fp import gen_dequant_mac, gen_fp_fma, gen_mixpe
from .emit_int import gen_bipolar, gen_bitserial, gen_int_mac, gen_lut, gen_shiftadd

GENERATORS = {
    "int_mac": gen_int_mac,
    "bitserial": gen_bitserial,
    "bipolar": gen_bipolar,
    "shiftadd": gen_shiftadd,
    "lut": gen_lut,
    "fp_fma": gen_fp_fma,
    "dequant_mac": gen_dequant_mac,
    "mixpe": gen_mixpe,
}


def generate(kind: str, **params) -> Design:
    """Generate the RTL of PE `kind` for the model `hwsim.pe.get(kind, **params)`.

    `kind="systolic"` takes rows, cols, pe (the PE kind of every cell, default "int_mac"),
    row_broadcast (default False) and that PE's parameters (rtl/emit_array.py)."""
    import hwsim.pe as pe

    if kind == "systolic":
        from .emit_array import gen_systolic

        rows, cols = params.pop("rows", 2), params.pop("cols", 2)
        cell, bcast = params.pop("pe", "int_mac"), bool(params.pop("row_broadcast", False))
        if cell == "systolic":
            raise ValueError("systolic: pe must be a PE kind, not 'systolic'")
        return gen_systolic(cell, rows, cols, generate(cell, **params), bcast)
    if kind not in GENERATORS:
        raise NotImplementedError(
            f"no RTL generator for PE {kind!r} yet; available: {sorted(GENERATORS)} + systolic"
        )
    return GENERATORS[kind](pe.get(kind, **params))

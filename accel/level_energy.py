"""Energy (pJ) of the loop-nest levels the operand buffers do not cover: the PE-local
register file and the accumulator buffer.

* Register file (``reg_{read,write}_bytes_{op}`` of a row): per bit, a write is the cost
  table's ``reg_write`` row and a read walks a log2(entries)-deep 2:1 mux tree
  (``hwsim.accel.cost.register_file_cost``; Aladdin's register figure cross-calibrated to
  Horowitz, docs/cost_model.md). One entry per operand, two when the stationary tile is
  double-buffered in the PE (``preload_overlap``). Both rows scale linearly in width, so
  the energy is per bit times the bits moved at the level's width (the accumulator width
  for partial sums).
* Accumulator buffer (``sram_{read,write}_bytes_accum``): an SRAM of its capacity and banks,
  per bit as the operand buffers (``cost.sram_pj_per_bit``, Horowitz 45 nm, node-scaled).

Returns zeros for rows without these columns (the ``scalesim`` path, elementwise layers).
"""

from __future__ import annotations

import math

from .arch import ACCUM, OPERANDS, Accelerator

#: word width at which the per-bit register figures are read (bits); both rows are linear in it
_REF_BITS = 32


def level_energy_pj(acc: Accelerator, row: dict, node_nm: float = 45) -> dict:
    """{"energy_reg_pj", "energy_accum_pj"} of one layer row (pJ); NaN if the cost model
    lacks a figure."""
    try:
        from hwsim.accel import cost
    except ImportError:
        return {"energy_reg_pj": math.nan, "energy_accum_pj": math.nan}
    entries = 2 if acc.preload_overlap else 1
    rf = cost.register_file_cost(cost.RegisterFileConfig(entries, _REF_BITS, node_nm))
    reg = 0.0
    for o in OPERANDS:
        reg += 8 * row.get(f"reg_read_bytes_{o}", 0.0) * rf.read_pj / _REF_BITS
        reg += 8 * row.get(f"reg_write_bytes_{o}", 0.0) * rf.write_pj / _REF_BITS
    bits = 8 * sum(row.get(f"sram_{rw}_bytes_{ACCUM}", 0.0) for rw in ("read", "write"))
    accum = 0.0
    if bits:
        b = acc.buffer(ACCUM)
        accum = cost.scale_energy_node(bits * cost.sram_pj_per_bit(b.size_bytes / b.banks), None,
                                       node_nm)  # fmt: skip
    return {"energy_reg_pj": reg, "energy_accum_pj": accum}


def with_level_energy(energy: dict, levels: dict) -> dict:
    """``energy`` (from ``costing.layer_energy_pj``) with the level energies added to its
    ``energy_pj`` total and kept under their own names."""
    out = {**energy, **levels}
    out["energy_pj"] = energy["energy_pj"] + sum(levels.values())
    return out

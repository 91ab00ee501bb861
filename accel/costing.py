"""The one bridge to hwsim.accel.cost: energy (pJ) of a layer's events, its static (leakage and
clock) energy, and the array's area (um2).

Returns NaN (and a note) when the cost model is not importable or lacks a figure.
"""

from __future__ import annotations

import math

from .arch import OPERANDS, Accelerator


def _cost():
    try:
        from hwsim.accel import cost
    except ImportError:
        return None
    return cost


def layer_energy_pj(acc: Accelerator, row: dict, node_nm: float = 45) -> tuple[dict, str]:
    """({"energy_pe_pj", "energy_sram_pj", "energy_dram_pj", "energy_pj"}, note)."""
    nan = {k: math.nan for k in ("energy_pe_pj", "energy_sram_pj", "energy_dram_pj", "energy_pj")}
    cost = _cost()
    if cost is None:
        return nan, "hwsim.accel.cost not importable"
    try:
        pe = cost.event_energy_total_pj(row["events"], node_nm)
        sram = 0.0
        for o in OPERANDS:
            bits = 8 * (row[f"sram_read_bytes_{o}"] + row[f"sram_write_bytes_{o}"])
            sram += bits * cost.sram_pj_per_bit(acc.buffer(o).size_bytes / acc.buffer(o).banks)
        # sram_pj_per_bit is a 45 nm figure: node-scale it like sram_cost does.
        sram = cost.scale_energy_node(sram, None, node_nm) if sram else 0.0
        reads = sum(row[f"dram_read_bytes_{o}"] for o in OPERANDS)
        writes = sum(row[f"dram_write_bytes_{o}"] for o in OPERANDS)
        dram = cost.dram_energy_pj(reads, writes, acc.dram.spec)
    except (ValueError, KeyError, LookupError) as exc:
        return nan, f"cost model: {exc}"
    return {
        "energy_pe_pj": pe,
        "energy_sram_pj": sram,
        "energy_dram_pj": dram,
        "energy_pj": pe + sram + dram,
    }, ""


#: Static columns of a report row (pJ); ``energy_static_pj`` is their sum. Clock energy is
#: grouped with leakage because both are charged per cycle, whether the array is busy or not.
STATIC_COLUMNS = ("energy_leak_logic_pj", "energy_leak_sram_pj", "energy_clock_pj")


def layer_static_energy_pj(
    acc: Accelerator, area_um2: dict[str, float], cycles: int, node_nm: float = 45
) -> tuple[dict, str]:
    """({"energy_leak_logic_pj", "energy_leak_sram_pj", "energy_clock_pj",
    "energy_static_pj"}, note) of a layer lasting ``cycles`` at ``acc.freq_hz``.

    ``area_um2``: {"pe": um2, "sram": um2} as returned by :func:`array_area_um2` at the same
    ``node_nm`` (pass the whole chip's area: idle clusters leak too). NaN area gives NaN + note.
    """
    keys = (*STATIC_COLUMNS, "energy_static_pj")
    nan = dict.fromkeys(keys, math.nan)
    cost = _cost()
    if cost is None:
        return nan, "hwsim.accel.cost not importable"
    if any(isinstance(a, float) and math.isnan(a) for a in area_um2.values()):
        return nan, "static energy: area unknown (NaN)"
    try:
        parts = cost.static_energy_parts_pj(area_um2, cycles, acc.freq_hz, node_nm)
    except (ValueError, KeyError, LookupError) as exc:
        return nan, f"cost model static energy: {exc}"
    out = {
        "energy_leak_logic_pj": parts["logic_leakage"],
        "energy_leak_sram_pj": parts["sram_leakage"],
        "energy_clock_pj": parts["clock"],
    }
    out["energy_static_pj"] = sum(out.values())
    return out, ""


def total_energy_pj(dynamic: dict, static: dict) -> dict:
    """{"energy_dynamic_pj", "energy_pj"}: the dynamic total of :func:`layer_energy_pj` kept
    under its own name, and ``energy_pj`` = dynamic + static (pJ)."""
    dyn = dynamic["energy_pj"]
    return {"energy_dynamic_pj": dyn, "energy_pj": dyn + static["energy_static_pj"]}


def array_area_um2(
    acc: Accelerator, units: dict[str, int], node_nm: float = 45
) -> tuple[dict[str, float], str]:
    """Area (um2) of rows x cols PEs (``units`` per PE, event grammar) and of the SRAM
    buffers: ``({"pe": um2, "sram": um2}, note)``."""
    cost = _cost()
    if cost is None:
        return math.nan, "hwsim.accel.cost not importable"
    try:
        sram = {
            b.name: cost.SramConfig(b.size_bytes, b.width_bits, b.banks, b.ports, node_nm)
            for b in acc.buffers
        }
        df = cost.area_breakdown({"pe": units}, {"pe": acc.num_pes}, sram, node_nm=node_nm)
    except (ValueError, KeyError, LookupError) as exc:
        return {"pe": math.nan, "sram": math.nan}, f"cost model area: {exc}"
    by = df.groupby("category")["um2_total"].sum()
    return {"pe": float(by.get("logic", 0.0)), "sram": float(by.get("sram", 0.0))}, ""


def pe_area_um2(units: dict[str, int], node_nm: float = 45) -> float:
    """Logic area (um2) of one PE from its unit inventory (``PETiming.unit_inventory``);
    approximate (see there). Raises ValueError when the cost model lacks a unit's figure."""
    cost = _cost()
    if cost is None:
        raise ValueError("hwsim.accel.cost not importable: no PE area")
    return float(cost.area_breakdown({"pe": units}, node_nm=node_nm)["um2_total"].sum())

"""Module-level per-operation cost functions over a :class:`CostTable` (default: the default)."""

from __future__ import annotations

from hwsim.accel.cost.costtable import Cost, CostTable
from hwsim.accel.cost.widths import Width


def op_cost(op: str, bits: Width, node_nm: float = 45, table: CostTable | None = None) -> Cost:
    """Energy (pJ), area (um2) and provenance of one ``op`` at width ``bits`` and ``node_nm``.

    ``bits``: int width in bits, ``(a, b)`` for an a-bit x b-bit ``mul``, or a float width
    name (``"bf16"``, ``"e4m3"``) for ``fadd``/``fmul``/``ffma``.
    """
    return (table or CostTable.default()).op_cost(op, bits, node_nm)


def op_energy_pj(
    op: str, bits: Width, node_nm: float = 45, table: CostTable | None = None
) -> float:
    """Energy of one operation in pJ; Horowitz's own values at 45 nm and the widths he lists."""
    c = op_cost(op, bits, node_nm, table)
    if c.energy_pj is None:
        raise ValueError(f"no energy figure for {op} {bits!r} at {node_nm} nm: {c.source}")
    return c.energy_pj


def op_area_um2(op: str, bits: Width, node_nm: float = 45, table: CostTable | None = None) -> float:
    """Area of one operator instance in um2 (ValueError if no table or rule gives one)."""
    c = op_cost(op, bits, node_nm, table)
    if c.area_um2 is None:
        raise ValueError(f"no area figure for {op} {bits!r} at {node_nm} nm: {c.area_source}")
    return c.area_um2


def mac_energy_pj(
    a_bits: int, w_bits: int, acc_bits: int, node_nm: float = 45, table: CostTable | None = None
) -> float:
    """One integer MAC: an a x w multiply plus an acc-bit add, in pJ (INT8/INT32: 0.2 + 0.1)."""
    return op_energy_pj("mul", (a_bits, w_bits), node_nm, table) + op_energy_pj(
        "add", acc_bits, node_nm, table
    )

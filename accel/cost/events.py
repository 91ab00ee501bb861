"""Pricing PE event counts (names in the grammar of docs/conventions.md) in pJ."""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import lru_cache

import numpy as np
import pandas as pd

from hwsim.accel.cost.costtable import CostTable
from hwsim.accel.cost.widths import OPS, Width, label, normalize

EVENT_COLUMNS = ["name", "op", "widths", "count", "pj_each", "pj_total", "source", "approximate"]
_WIDTH = re.compile(r"^(\d+|\d+x\d+|bf16|e\d+m\d+)$")


def parse_event(name: str) -> tuple[str, Width]:
    """Split an event name into ``(op, bits)``: 'mul_4x8' -> ('mul', (4, 8)), 'fadd_bf16' ->
    ('fadd', 'bf16'), 'lut_read_16' -> ('lut_read', 16). ValueError names a bad event."""
    if not isinstance(name, str):
        raise ValueError(f"event name must be a string, got {name!r}")
    op, sep, width = name.rpartition("_")
    if not sep or op not in OPS:
        raise ValueError(
            f"unknown event {name!r}: expected '<op>_<width>' with op in {list(OPS)} "
            "(docs/conventions.md)"
        )
    if not _WIDTH.match(width):
        raise ValueError(f"unknown event {name!r}: bad width {width!r}")
    if width.isdigit():
        bits: Width = int(width)
    elif "x" in width:
        a, b = width.split("x")
        bits = (int(a), int(b))
    else:
        bits = width
    try:
        normalize(op, bits)
    except ValueError as exc:
        raise ValueError(f"unknown event {name!r}: {exc}") from None
    return op, bits


def event_energy_pj(
    events: Mapping[str, int], node_nm: float = 45, table: CostTable | None = None
) -> pd.DataFrame:
    """One row per event: name, op, widths, count, pj_each, pj_total, source, approximate.

    ``events`` maps event names (e.g. ``{"mul_8x8": 64, "add_32": 64}``) to non-negative counts.
    """
    table = table or CostTable.default()
    rows = []
    for name, count in events.items():
        if isinstance(count, bool) or not isinstance(count, int | np.integer):
            raise ValueError(f"count of event {name!r} must be an int, got {count!r}")
        if count < 0:
            raise ValueError(f"count of event {name!r} must be >= 0, got {count}")
        op, bits = parse_event(name)
        cost = table.op_cost(op, bits, node_nm)
        if cost.energy_pj is None:
            raise ValueError(f"no energy figure for event {name!r}: {cost.source}")
        rows.append(
            (
                name,
                op,
                label(op, normalize(op, bits)),
                int(count),
                cost.energy_pj,
                cost.source,
                cost.approximate,
            )
        )
    df = pd.DataFrame(rows, columns=[c for c in EVENT_COLUMNS if c != "pj_total"])
    df["count"] = df["count"].astype("int64")
    df["pj_each"] = df["pj_each"].astype("float64")
    df.insert(5, "pj_total", df["count"].to_numpy(dtype=np.float64) * df["pj_each"].to_numpy())
    return df[EVENT_COLUMNS]


@lru_cache(maxsize=4096)
def _pj_each(name: str, node_nm: float) -> float:
    op, bits = parse_event(name)
    cost = CostTable.default().op_cost(op, bits, node_nm)
    if cost.energy_pj is None:
        raise ValueError(f"no energy figure for event {name!r}: {cost.source}")
    return float(cost.energy_pj)


def event_energy_total_pj(events: Mapping[str, int], node_nm: float = 45) -> float:
    """Total pJ of ``events`` with the default table: the sum of :func:`event_energy_pj`'s
    ``pj_total`` column (same figures, per-event prices memoised; for the simulator's loop)."""
    total = 0.0
    for name, count in events.items():
        if isinstance(count, bool) or not isinstance(count, int | np.integer) or count < 0:
            raise ValueError(f"count of event {name!r} must be an int >= 0, got {count!r}")
        total += int(count) * _pj_each(name, float(node_nm))
    return total

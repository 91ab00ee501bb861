"""``CostTable``: the default tables plus calibration overrides, with per-number provenance.

Lookup order for one quantity (energy or area) of ``op`` at width ``bits`` and node ``n``:

1. an exact row (op, width, n) - later rows (overrides) win;
2. a composite op priced from its parts (``ffma`` = fmul + fadd, ``cmp``/``popcount`` = add,
   ``lut_write`` = reg_write, ``lut_read`` = (entries - 1) 2:1 muxes), unless 1. applies;
3. width scaling from the op's rows at node ``n`` (see :mod:`~hwsim.accel.cost.scaling`);
4. width scaling at 45 nm, then node scaling (energy: towards the 7 nm rows; area: ideal).

CSV override columns (header required): ``op, bits, node_nm, energy_pj, area_um2, source``;
optional ``voltage_v, notes``. ``bits`` is ``8``, ``4x8``, ``bf16`` or ``-`` (component rows);
an empty ``energy_pj`` or ``area_um2`` cell keeps the default for that quantity.
"""

from __future__ import annotations

import csv
import functools
import math
import numbers
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from hwsim.accel.cost import scaling
from hwsim.accel.cost.tables import OpRow, default_rows
from hwsim.accel.cost.widths import FLOAT_OPS, OPS, Width, label, normalize

REQUIRED_COLUMNS = ("op", "bits", "node_nm", "energy_pj", "area_um2", "source")
OPTIONAL_COLUMNS = ("voltage_v", "notes")
_QUANTITIES = ("energy_pj", "area_um2")


@dataclass(frozen=True)
class Cost:
    """Energy (pJ per op) and area (um2) of one op with where each number came from.

    ``source`` describes the energy (and the area unless ``area_source`` differs);
    ``approximate`` is False only for numbers read straight from a published table.
    A quantity the table cannot give is ``None`` with the reason in its source.
    """

    energy_pj: float | None
    area_um2: float | None
    source: str
    approximate: bool
    area_source: str = ""
    area_approximate: bool = True


@dataclass(frozen=True)
class _Priced:
    value: float
    source: str
    approximate: bool


def _key(op: str, bits: Width) -> tuple:
    if op in OPS:
        return normalize(op, bits)
    return (str(bits if bits is not None else "-"),)


def _label(op: str, key: tuple) -> str:
    return label(op, key) if op in OPS else str(key[0])


def _check_node(node_nm: float) -> float:
    if isinstance(node_nm, bool) or not isinstance(node_nm, int | float):
        raise ValueError(f"node_nm must be a number of nanometres, got {node_nm!r}")
    return float(node_nm)


@dataclass(frozen=True)
class CostTable:
    """Immutable set of cost rows plus the knobs of the composite rules.

    ``lut_entries``: table entries behind one ``lut_read`` (16 = a 4-bit T-MAC index).
    """

    rows: tuple[OpRow, ...]
    lut_entries: int = 16
    name: str = "custom"
    _index: dict = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if isinstance(self.lut_entries, bool) or not isinstance(self.lut_entries, numbers.Integral):
            raise ValueError(f"lut_entries must be an int, got {self.lut_entries!r}")
        object.__setattr__(self, "lut_entries", int(self.lut_entries))
        if self.lut_entries < 2:
            raise ValueError(f"lut_entries must be >= 2, got {self.lut_entries}")
        index: dict[tuple, dict[str, OpRow]] = {}
        for row in self.rows:
            if not isinstance(row, OpRow):
                raise ValueError(f"CostTable rows must be OpRow, got {type(row).__name__}")
            k = (row.op, _key(row.op, row.bits), float(row.node_nm))
            slot = index.setdefault(k, {})
            for q in _QUANTITIES:
                if getattr(row, q) is not None:
                    slot[q] = row
        object.__setattr__(self, "_index", index)

    # ----------------------------------------------------------------- construction
    @classmethod
    def default(cls) -> CostTable:
        """Horowitz 45 nm + 7 nm + ShiftAddNet shifts + derived per-bit rows."""
        return _default_table()

    def with_rows(self, rows: Iterable[OpRow], name: str | None = None) -> CostTable:
        """A new table with ``rows`` added after (and so overriding) the current ones."""
        return CostTable(self.rows + tuple(rows), self.lut_entries, name or self.name)

    def with_overrides(self, overrides: Mapping[str, Mapping] | Iterable) -> CostTable:
        """A new table overridden by a dict ``{event_name: {energy_pj, area_um2, source, ...}}``,
        a list of CSV-style records, or ``OpRow`` objects. Every number must name its source."""
        if isinstance(overrides, Mapping):
            records = []
            for name, rec in overrides.items():
                if not isinstance(rec, Mapping):
                    raise ValueError(f"override {name!r} must map to a dict, got {rec!r}")
                op, bits = split_override_name(str(name))
                records.append({"op": op, "bits": bits, **rec})
            return self.with_rows([row_from_record(r, i) for i, r in enumerate(records)])
        rows = [
            r if isinstance(r, OpRow) else row_from_record(r, i) for i, r in enumerate(overrides)
        ]
        return self.with_rows(rows)

    @classmethod
    def from_csv(cls, path: str | Path, base: CostTable | None = None) -> CostTable:
        """``base`` (default: the default table) overridden by the rows of a CSV file."""
        base = cls.default() if base is None else base
        return base.with_rows(read_rows_csv(path), name=f"{base.name}+{Path(path).name}")

    def to_frame(self) -> pd.DataFrame:
        """All rows as a DataFrame (one row per OpRow, in override order)."""
        cols = [
            "op",
            "bits",
            "energy_pj",
            "area_um2",
            "node_nm",
            "voltage_v",
            "source",
            "notes",
            "approximate",
        ]
        data = [{c: getattr(r, c) for c in cols} for r in self.rows]
        return pd.DataFrame(data, columns=cols)

    # ----------------------------------------------------------------- lookup
    def nodes(self) -> tuple[float, ...]:
        """Nodes accepted: the scaling rule's standard nodes plus any node with rows."""
        return tuple(
            sorted({*map(float, scaling.SUPPORTED_NODES_NM), *(k[2] for k in self._index)})
        )

    def op_cost(self, op: str, bits: Width, node_nm: float = 45) -> Cost:
        """Energy/area of one ``op`` of width ``bits`` (bits; pair for ``mul``) at ``node_nm``."""
        if not isinstance(op, str) or not op:
            raise ValueError(f"op must be a non-empty string, got {op!r}")
        node = _check_node(node_nm)
        known_ops = {k[0] for k in self._index}
        if op not in OPS and op not in known_ops:
            raise ValueError(f"unknown op {op!r}; known ops: {sorted(set(OPS) | known_ops)}")
        key = _key(op, bits)
        if node not in self.nodes():
            raise ValueError(
                f"unknown technology node {node_nm} nm; supported: {list(self.nodes())}"
            )
        out: dict[str, _Priced | str] = {}
        for q in _QUANTITIES:
            try:
                out[q] = self._price(q, op, key, node)
            except _NoData as exc:
                out[q] = str(exc)
        e, a = out["energy_pj"], out["area_um2"]
        e_ok, a_ok = isinstance(e, _Priced), isinstance(a, _Priced)
        return Cost(
            energy_pj=e.value if e_ok else None,
            area_um2=a.value if a_ok else None,
            source=e.source if e_ok else f"no energy figure: {e}",
            approximate=e.approximate if e_ok else True,
            area_source=a.source if a_ok else f"no area figure: {a}",
            area_approximate=a.approximate if a_ok else True,
        )

    def _exact(self, q: str, op: str, key: tuple, node: float) -> OpRow | None:
        return self._index.get((op, key, node), {}).get(q)

    def _anchors(self, q: str, op: str, node: float) -> list[tuple[tuple, OpRow]]:
        return [
            (k[1], slot[q])
            for k, slot in self._index.items()
            if k[0] == op and k[2] == node and q in slot
        ]

    def _price(self, q: str, op: str, key: tuple, node: float) -> _Priced:
        row = self._exact(q, op, key, node)
        if row is not None:
            return _Priced(getattr(row, q), f"table: {row.source}", row.approximate)
        if op in _COMPOSITES:
            return _COMPOSITES[op](self, q, key, node)
        rule = scaling.RULES.get(op)
        if rule is None:
            raise _NoData(f"no {q} row for {op} {_label(op, key)} at {node:g} nm and no rule")
        if self._anchors(q, op, node):
            v, src = self._width_scale(q, op, key, node, rule)
            return _Priced(v, src, True)
        if not scaling.SMALL_NODE_NM <= node <= scaling.REFERENCE_NODE_NM:
            raise _NoData(f"no {q} rows for {op} at {node:g} nm, outside the 7-45 nm scaling range")
        ref = scaling.REFERENCE_NODE_NM
        if not self._anchors(q, op, ref):
            raise _NoData(f"no {q} rows for {op} at {node:g} nm or {ref:g} nm")
        v45, src45 = self._width_scale(q, op, key, ref, rule)
        if q == "area_um2":
            v = scaling.scale_area_node(v45, node)
            return _Priced(v, f"{src45}; node {ref:g}->{node:g} nm: ideal (n/45)^2", True)
        small = scaling.SMALL_NODE_NM
        if self._anchors(q, op, small):
            v7, _ = self._width_scale(q, op, key, small, rule)
            how = f"geometric interpolation towards the {small:g} nm rows of {op}"
        else:
            v7 = None
            how = f"geomean 7/45 nm ratio {scaling.GEOMEAN_7NM_RATIO:.3f}"
        v = scaling.scale_energy_node(v45, v7, node)
        return _Priced(v, f"{src45}; node {ref:g}->{node:g} nm: {how}", True)

    def _width_scale(
        self, q: str, op: str, key: tuple, node: float, rule: scaling.ScalingRule
    ) -> tuple[float, str]:
        anchors = self._anchors(q, op, node)
        exact = [r for k, r in anchors if k == key]
        if exact:
            return getattr(exact[0], q), f"table: {exact[0].source}"
        pts = [(rule.metric(k), getattr(r, q)) for k, r in anchors]
        v = scaling.interpolate(rule.metric(key), pts, rule)
        labels = ", ".join(f"{op}_{_label(op, k)}" for k, _ in sorted(anchors, key=lambda a: a[0]))
        cites = "; ".join(dict.fromkeys(r.source for _, r in anchors))
        return v, f"scaled from {labels} @{node:g} nm ({rule.description}) [{cites}]"


class _NoData(LookupError):
    pass


def _sum_parts(
    table: CostTable, q: str, node: float, parts: list[tuple[str, tuple, float]], what: str
) -> _Priced:
    total, srcs, approx = 0.0, [], False
    for op, key, mult in parts:
        p = table._price(q, op, key, node)
        total += mult * p.value
        srcs.append(p.source)
        approx = approx or p.approximate
    return _Priced(total, f"composite {what} <- " + " | ".join(srcs), True)


_COMPOSITES = {
    "ffma": lambda t, q, k, n: _sum_parts(
        t, q, n, [("fmul", k, 1.0), ("fadd", k, 1.0)], "ffma = fmul + fadd (unfused upper bound)"
    ),
    # L-Mul (Luo & Sun, arXiv 2410.00907): an approximate FP multiply of (e, m) operands is
    # one integer add of the two (exponent | mantissa) fields, e + m bits (the constant
    # offset folded into that adder as a third, constant input), plus the sign XOR
    "lmul": lambda t, q, k, n: _sum_parts(
        t,
        q,
        n,
        [("add", (k[0] + k[1],), 1.0), ("xor", (1,), 1.0)],
        "lmul(e, m) = add of e + m bits + 1-bit sign xor (L-Mul, arXiv 2410.00907)",
    ),
    "cmp": lambda t, q, k, n: _sum_parts(t, q, n, [("add", k, 1.0)], "cmp = add (subtractor)"),
    "popcount": lambda t, q, k, n: _sum_parts(
        t, q, n, [("add", k, 1.0)], "popcount_w ~ add_w (about w full adders in the tree)"
    ),
    "lut_write": lambda t, q, k, n: _sum_parts(
        t, q, n, [("reg_write", k, 1.0)], "lut_write = reg_write of one entry"
    ),
    "lut_read": lambda t, q, k, n: _sum_parts(
        t,
        q,
        n,
        [("mux", k, float(t.lut_entries - 1))],
        f"lut_read = {t.lut_entries}:1 mux tree = {t.lut_entries - 1} 2:1 muxes x width",
    ),
}


@functools.cache
def _default_table() -> CostTable:
    return CostTable(default_rows(), name="default")


# --------------------------------------------------------------------- override parsing
def split_override_name(name: str) -> tuple[str, str]:
    """'mul_4x8' -> ('mul', '4x8'); names outside the grammar are component rows (bits '-')."""
    op, sep, width = name.rpartition("_")
    if sep and op in OPS:
        return op, width
    return name, "-"


def _parse_bits(op: str, text: object) -> Width:
    s = str(text).strip()
    if op not in OPS:
        return s or "-"
    if s.isdigit():
        return int(s)
    if op in FLOAT_OPS:
        return s
    a, x, b = s.partition("x")
    if x and a.isdigit() and b.isdigit():
        return (int(a), int(b))
    raise ValueError(f"bad bits {s!r} for op {op!r}")


def _parse_number(value: object, column: str, where: str, required: bool) -> float | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise ValueError(f"{where}: column {column!r} is empty")
        return None
    if isinstance(value, float) and math.isnan(value):
        return None if not required else float("nan")
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{where}: column {column!r} has non-numeric value {value!r}") from None
    if not math.isfinite(v) or v <= 0:
        raise ValueError(f"{where}: column {column!r} must be finite and > 0, got {value!r}")
    return v


def row_from_record(rec: Mapping, index: int = 0, where: str | None = None) -> OpRow:
    """An OpRow from one CSV/dict record (columns as in the module docstring)."""
    where = where or f"override record {index}"
    if "op" not in rec or not str(rec["op"]).strip():
        raise ValueError(f"{where}: missing 'op'")
    op = str(rec["op"]).strip()
    if not str(rec.get("source", "") or "").strip():
        raise ValueError(f"{where} ({op}): every override needs a non-empty 'source'")
    try:
        bits = _parse_bits(op, rec.get("bits", "-"))
        if op in OPS:
            normalize(op, bits)
    except ValueError as exc:
        raise ValueError(f"{where} ({op}): {exc}") from None
    node = _parse_number(rec.get("node_nm", 45), "node_nm", where, True)
    energy = _parse_number(rec.get("energy_pj"), "energy_pj", where, False)
    area = _parse_number(rec.get("area_um2"), "area_um2", where, False)
    volt = _parse_number(rec.get("voltage_v"), "voltage_v", where, False)
    if energy is None and area is None:
        raise ValueError(f"{where} ({op}): give energy_pj or area_um2")
    return OpRow(
        op, bits, energy, area, str(rec["source"]).strip(), node, volt, str(rec.get("notes") or "")
    )


def read_rows_csv(path: str | Path) -> tuple[OpRow, ...]:
    """Parse an override CSV; a missing column or bad value raises ValueError naming it."""
    path = Path(path)
    with path.open(newline="") as fh:
        reader = csv.DictReader(fh)
        header = reader.fieldnames or []
        missing = [c for c in REQUIRED_COLUMNS if c not in header]
        if missing:
            raise ValueError(f"{path}: missing column(s) {missing}; required {REQUIRED_COLUMNS}")
        return tuple(
            row_from_record(rec, i, where=f"{path} line {i + 2}") for i, rec in enumerate(reader)
        )


def synthesis_rows(path: str | Path) -> tuple[OpRow, ...]:
    """Per-PE area rows (op ``pe_<kind>``, bits = operand width) from the RTL synthesis
    calibration CSV that ``hwsim.rtl.synth`` / ``benchmarks/synth_area.py`` write
    (columns pe, width, area_um2, yosys_version, source; rtl/data/pe_area_calibration.csv).

    Each row's source names the synthesis flow and the Yosys version. Rows with an empty
    area (a failed synthesis) are skipped. Use:
    ``CostTable.default().with_rows(synthesis_rows(csv))`` then
    ``table.op_cost("pe_int_mac", 8).area_um2``.
    """
    path = Path(path)
    with path.open(newline="") as fh:
        reader = csv.DictReader(fh)
        need = ("pe", "width", "area_um2", "yosys_version", "source")
        missing = [c for c in need if c not in (reader.fieldnames or [])]
        if missing:
            raise ValueError(f"{path}: missing column(s) {missing}; required {list(need)}")
        rows = []
        for i, rec in enumerate(reader):
            if not str(rec["area_um2"]).strip():
                continue
            rows.append(
                row_from_record(
                    {
                        "op": f"pe_{rec['pe']}",
                        "bits": rec["width"],
                        "area_um2": rec["area_um2"],
                        "source": f"{rec['source']} [{rec['yosys_version'].split(' (')[0]}]",
                        "notes": rec.get("params", ""),
                    },
                    i,
                    where=f"{path} line {i + 2}",
                )
            )
    return tuple(rows)

"""Systolic array wrapper of any generated PE (RTL kind "systolic").

`gen_systolic(kind, rows, cols, params)`: rows x cols copies of the PE `generate(kind,
**params)` builds, output-stationary. Every PE input port is either row-side (the activation
side: `a`, `mask`, the LUT `table_in`) or column-side (the weight side: `w` and the
per-group `scale` / `zero` ports); control (en, start, last) travels with the row side.
Row-side buses enter at the left edge (one slice per row) and move right one PE per cycle,
column-side buses enter at the top and move down, so PE(r, c) sees step t of the stream at
cycle t + r + c; the driver skews row r and column c by r and c cycles. Every output of
every PE is a top-level port named `<port>_<r>_<c>`.

`row_broadcast=True` wires each row bus to all PEs of the row without pipeline registers
(and the driver does not skew columns): PE(r, c) then sees step t at cycle t + r. A LUT
tile row (LUT Tensor Core: one precomputed table broadcast to the N lanes of row m, each
lane with its own weight bits; Mo et al., ISCA 2025) is
`pe="lut", rows=1, cols=N, row_broadcast=True`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .emit_base import Design, V, _header, module_name

#: weight-side input ports (move down the columns); everything else but clk/rst and the
#: control ports is activation-side (moves right along the rows)
COLUMN_PORTS = ("w", "scale", "zero", "s_dq", "z_dq", "zm")
CONTROL = ("en", "start", "last")  # bit 0, 1, 2 of every row bus
_PORT = re.compile(r"^\s*(input|output)\s+(?:wire|reg)\s+(signed\s+)?(?:\[(\d+):0\]\s*)?(\w+)")


@dataclass(frozen=True)
class Port:
    direction: str  # "input" | "output"
    name: str
    width: int  # bits
    signed: bool


def ports(design: Design) -> list[Port]:
    """The ports of a generated module, from its header."""
    text = design.verilog
    start = text.index(f"module {design.top} (")
    head = text[start : text.index(");", start)].splitlines()[1:]
    out = []
    for line in head:
        m = _PORT.match(line)
        if m:
            d, sg, hi, name = m.groups()
            out.append(Port(d, name, int(hi) + 1 if hi else 1, bool(sg)))
    return out


def split_ports(cell: Design) -> tuple[list[Port], list[Port], list[Port]]:
    """(row-side inputs, column-side inputs, outputs) of a PE design."""
    ps = ports(cell)
    names = {p.name for p in ps}
    missing = {"clk", "rst", *CONTROL} - names
    if missing:
        raise ValueError(f"{cell.top}: no {sorted(missing)} port(s); not a PE design")
    ins = [p for p in ps if p.direction == "input" and p.name not in ("clk", "rst", *CONTROL)]
    row = [p for p in ins if p.name not in COLUMN_PORTS]
    col = [p for p in ins if p.name in COLUMN_PORTS]
    return row, col, [p for p in ps if p.direction == "output"]


def _slices(ps: list[Port], base: int) -> dict[str, tuple[int, int]]:
    """(hi, lo) of each port inside a bus whose first `base` bits are taken."""
    out, off = {}, base
    for p in ps:
        out[p.name] = (off + p.width - 1, off)
        off += p.width
    return out


def gen_systolic(
    kind: str, rows: int, cols: int, cell: Design, row_broadcast: bool = False
) -> Design:
    """rows x cols output-stationary array of `cell` (a generated PE of `kind`)."""
    if rows < 1 or cols < 1:
        raise ValueError(f"systolic: rows and cols must be >= 1, got {rows} x {cols}")
    row, col, outs = split_ports(cell)
    if not col:
        raise ValueError(f"{cell.top}: no weight-side input port ({COLUMN_PORTS})")
    rs, cs = _slices(row, len(CONTROL)), _slices(col, 0)
    HW = len(CONTROL) + sum(p.width for p in row)
    VW = sum(p.width for p in col)
    params = dict(cell.params, pe=kind, rows=rows, cols=cols)
    if row_broadcast:
        params["row_broadcast"] = True
    top = module_name("systolic", params)
    v = V()
    v("/* verilator lint_off DECLFILENAME */")
    v(cell.verilog.replace("`default_nettype wire\n", ""))
    decl = ["input  wire clk", "input  wire rst"]
    decl += [f"input  wire [{rows - 1}:0] {c}_in" for c in CONTROL]
    decl += [f"input  wire [{rows * p.width - 1}:0] {p.name}_in" for p in row]
    decl += [f"input  wire [{cols * p.width - 1}:0] {p.name}_in" for p in col]
    for r in range(rows):
        for c in range(cols):
            for p in outs:
                sg = "signed " if p.signed else ""
                rng = f"[{p.width - 1}:0] " if p.width > 1 else ""
                decl.append(f"output wire {sg}{rng}{p.name}_{r}_{c}")
    what = "row-broadcast" if row_broadcast else "systolic"
    _header(v, top, f"{what} OS array {rows}x{cols} of {cell.top} ({kind})", decl)
    for r in range(rows):  # row buses: h_r_k enters column k of row r
        for k in range(cols + 1):
            v(f"    wire [{HW - 1}:0] h_{r}_{k};")
        parts = [f"{p.name}_in[{r * p.width + p.width - 1}:{r * p.width}]" for p in row]
        parts = parts[::-1] + [f"{c}_in[{r}]" for c in CONTROL[::-1]]
        v(f"    assign h_{r}_0 = {{{', '.join(parts)}}};")
    for c in range(cols):  # column buses: v_k_c enters row k of column c
        for k in range(rows + 1):
            v(f"    wire [{VW - 1}:0] v_{k}_{c};")
        parts = [f"{p.name}_in[{c * p.width + p.width - 1}:{c * p.width}]" for p in col]
        v(f"    assign v_0_{c} = {{{', '.join(parts[::-1])}}};")
    for r in range(rows):
        for c in range(cols):
            n = f"{r}_{c}"
            v(f"    reg [{VW - 1}:0] vr_{n};")
            if row_broadcast:
                v(f"    assign h_{r}_{c + 1} = h_{n};")
            else:
                v(f"    reg [{HW - 1}:0] hr_{n};", "    always @(posedge clk) begin")
                v(f"        if (rst) hr_{n} <= {HW}'d0;", f"        else hr_{n} <= h_{n};")
                v("    end")
                v(f"    assign h_{r}_{c + 1} = hr_{n};")
            v("    always @(posedge clk) begin")
            v(f"        if (rst) vr_{n} <= {VW}'d0;", f"        else vr_{n} <= v_{n};", "    end")
            v(f"    assign v_{r + 1}_{c} = vr_{n};")
            conns = ["clk(clk)", "rst(rst)"]
            conns += [f"{name}(h_{n}[{i}])" for i, name in enumerate(CONTROL)]
            conns += [f"{p.name}(h_{n}[{rs[p.name][0]}:{rs[p.name][1]}])" for p in row]
            conns += [f"{p.name}(v_{n}[{cs[p.name][0]}:{cs[p.name][1]}])" for p in col]
            conns += [f"{p.name}({p.name}_{n})" for p in outs]
            v(f"    {cell.top} pe_{n} (")
            v(",\n".join(f"        .{x}" for x in conns), "    );")
    for r in range(rows):
        v(f"    wire unused_h{r} = ^h_{r}_{cols};")
    for c in range(cols):
        v(f"    wire unused_v{c} = ^v_{rows}_{c};")
    v("endmodule", "`default_nettype wire")
    info = dict(
        rows=rows,
        cols=cols,
        pe=kind,
        cell=cell.top,
        cell_info=cell.info,
        row_ports=[(p.name, p.width) for p in row],
        col_ports=[(p.name, p.width) for p in col],
        acc_bits=cell.info.get("acc_bits"),
    )
    return Design("systolic", top, v.text(), params, info)

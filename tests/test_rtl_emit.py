"""hwsim.rtl generators: every generated module lints clean with `verilator --lint-only -Wall`."""

from __future__ import annotations

import contextlib

import pytest

from hwsim.rtl import emit, tools
from hwsim.rtl.runner import DEFAULT_PARAMS
from hwsim.rtl.yosys import SWEEP_KINDS, WIDTHS, design_for

LINT_CASES = [(k, p) for k, ps in DEFAULT_PARAMS.items() for p in ps] + [
    ("int_mac", dict(a_fmt="int2", w_fmt="int2", lanes=4, acc_bits=4)),
    ("int_mac", dict(a_fmt="int16", w_fmt="uint8", acc_bits=40, overflow="saturate")),
    ("bitserial", dict(scheme="stripes", a_fmt="uint5", w_fmt="uint3", lanes=3)),
    ("bitserial", dict(scheme="booth", a_fmt="int2", w_fmt="int2", lanes=1)),
    ("bipolar", dict(a_fmt="bipolar1", w_fmt="bipolar1", lanes=1)),
    ("bipolar", dict(a_fmt="uint2", w_fmt="bipolar4", lanes=4)),
    ("shiftadd", dict(a_fmt="uint4", w_fmt="pot4", lanes=3, acc_bits=12)),
    ("bitserial", dict(scheme="bitmod", a_fmt="int4", w_fmt="uint5", lanes=2)),  # Booth path
    ("bitserial", dict(scheme="bitmod", a_fmt="int2", w_fmt="bitmod_fp3_ea_pos", lanes=1)),
    ("bitserial", dict(scheme="fusion", a_fmt="int8", w_fmt="int8", lanes=2, acc_bits=24)),
    ("bitserial", dict(scheme="fusion", a_fmt="uint2", w_fmt="int2", lanes=1)),
    ("bitserial", dict(scheme="bitmod", a_fmt="fp16", w_fmt="uint3", lanes=4)),
    ("shiftadd", dict(a_fmt="int2", w_fmt="apot3", lanes=1, acc_bits=6)),
    ("shiftadd", dict(a_fmt="fp16", w_fmt="pot8_nz", acc_fmt="fp32", ftz=True)),
    ("shiftadd", dict(mode="lmul", a_fmt="fp16", w_fmt="fp16", acc_fmt="bf16")),
    ("lut", dict(a_fmt="fp16", w_fmt="bipolar1", tile_k=1)),
    ("systolic", dict(rows=1, cols=1, a_fmt="int2", w_fmt="int2", acc_bits=6)),
    ("fp_fma", dict(a_fmt="int8", w_fmt="bf16", acc_fmt="fp16", prod_fmt="fp32", ftz=True)),
    ("dequant_mac", dict(a_fmt="fp32", w_fmt="int2", deq_fmt="fp32", scale_fmt="fp32")),
    ("mixpe", dict(a_fmt="int2", w_fmt="uint2", group_size=8, lanes=4, acc_bits=6)),
    ("mixpe", dict(a_fmt="bf16", w_fmt="int8", group_size=1, out_fmt="bf16", ftz=True)),
]


def _sweep_cases():
    out = []
    for kind in SWEEP_KINDS:
        for w in WIDTHS:
            with contextlib.suppress(ValueError):  # no such format (bipolar16, fp_fma 2/4)
                out.append((kind, w, design_for(kind, w)[2]))
    return out


def test_generation_is_deterministic_and_named_by_params():
    a = emit.generate("int_mac", a_fmt="int8", w_fmt="int4")
    b = emit.generate("int_mac", a_fmt="int8", w_fmt="int4")
    c = emit.generate("int_mac", a_fmt="int8", w_fmt="int8")
    assert a.verilog == b.verilog and a.top == b.top
    assert a.top != c.top and f"module {a.top} (" in a.verilog


def test_unsupported_kind_says_what_exists():
    with pytest.raises(NotImplementedError, match="available"):
        emit.generate("no_such_pe")


def test_array_wrapper_splits_ports_by_side():
    from hwsim.rtl.emit_array import ports, split_ports

    cell = emit.generate("mixpe", a_fmt="int8", w_fmt="int4", group_size=4, lanes=2)
    row, col, outs = split_ports(cell)
    assert [p.name for p in row] == ["a"]  # activation side moves right
    assert [p.name for p in col] == ["w", "s_dq", "z_dq"]  # weight side moves down
    assert {p.name for p in outs} >= {"acc", "done"}
    arr = emit.generate("systolic", pe="mixpe", rows=2, cols=3, **cell.params)
    names = {p.name: p for p in ports(arr)}
    widths = {p.name: p.width for p in ports(cell)}
    assert names["a_in"].width == 2 * widths["a"] and names["w_in"].width == 3 * widths["w"]
    assert names["s_dq_in"].width == 3 * widths["s_dq"] and names["en_in"].width == 2
    assert all(f"acc_{r}_{c}" in names for r in range(2) for c in range(3))
    assert arr.verilog.count(f"{cell.top} pe_") == 6
    tile_row = emit.generate("systolic", pe="lut", rows=1, cols=4)  # one shared table bus
    assert [n for n, _ in tile_row.info["row_ports"]] == ["table_in"]


def test_array_wrapper_bad_arguments():
    with pytest.raises(ValueError, match="rows and cols"):
        emit.generate("systolic", rows=0, cols=2)
    with pytest.raises(ValueError, match="must be a PE kind"):
        emit.generate("systolic", pe="systolic")
    with pytest.raises(NotImplementedError, match="available"):
        emit.generate("systolic", pe="no_such_pe")


def test_swidth():
    assert emit.swidth(-128, 127) == 8
    assert emit.swidth(-128, 128) == 9
    assert emit.swidth(0, 0) == 1


needs_verilator = pytest.mark.skipif(
    tools.verilator_bin_dir() is None, reason=tools.missing("verilator") or "verilator missing"
)


@needs_verilator
@pytest.mark.parametrize("kind,params", LINT_CASES, ids=lambda v: str(v))
def test_lint_clean(kind, params):
    from hwsim.rtl.lint import lint

    ok, out = lint(emit.generate(kind, **dict(params)))
    assert ok, out


@needs_verilator
def test_lint_clean_sweep_points():
    from hwsim.rtl.lint import lint

    for kind, w, d in _sweep_cases():
        ok, out = lint(d)
        assert ok, f"{kind} width {w}: {out}"

"""Floating-point RTL (hwsim.rtl.emit_fp): directed corner vectors through the step-model
bench, including a rounding corner that random stimulus practically never reaches.

Expected values always come from the PE step models (`hwsim.rtl.stimulus.directed_plan`);
the vectors below only choose *inputs*.
"""

from __future__ import annotations

import dataclasses

import pytest

from hwsim.rtl import tools
from hwsim.rtl.emit import generate

FP32 = dict(a_fmt="fp32", w_fmt="fp32", acc_fmt="fp32", fused=True)

# 24929 * 673 = 2^24 + 1: 25 significant bits, so the exact product lies halfway between
# two fp32 neighbours with an even lower one. The accumulator 2^-100 (from the first MAC) is
# so far below that it leaves the alignment window entirely and survives only as the sticky bit,
# which alone decides "round up" (2^24 + 2); without it RNE ties to even (2^24).
TIE_DOTS = [
    ([2.0**-50, 24929.0], [2.0**-50, 673.0], {}),
    ([-(2.0**-50), 24929.0], [2.0**-50, 673.0], {}),  # sticky below a tie, other sign
    ([2.0**-50, -24929.0], [-(2.0**-50), 673.0], {}),
]


def _bulk(kind, params, dots, design=None):
    from hwsim.rtl.bulk import run_bulk
    from hwsim.rtl.stimulus import directed_plan

    tools.setup_path()
    if tools.missing("icarus"):
        pytest.skip(tools.missing("icarus"))
    cycles = directed_plan(kind, params, dots)
    d = design or generate(kind, **params)
    return cycles, run_bulk(d, cycles, "icarus")


def test_sticky_decides_a_tie_and_the_rtl_agrees():
    import hwsim.pe as pe

    unit = pe.get("fp_fma", **FP32)
    assert unit.dot([2.0**-50, 24929.0], [2.0**-50, 673.0]).value == 2.0**24 + 2
    cycles, r = _bulk("fp_fma", FP32, TIE_DOTS)
    assert r["checked"] == len(cycles) and r["mismatches"] == 0, r["log"]


def test_dropped_alignment_sticky_is_caught_by_the_tie_vectors():
    d = generate("fp_fma", **FP32)
    old = "fa_ssh[0] | fa_lost"
    assert d.verilog.count(old) == 1
    bad = dataclasses.replace(d, verilog=d.verilog.replace(old, "fa_ssh[0]"))
    _, r = _bulk("fp_fma", FP32, TIE_DOTS, design=bad)
    assert r["mismatches"] >= 1, r["log"]


def test_unsupported_fp_configurations_say_why():
    # operands without inf are generated (E4M3 NaN-only top code, fnuz bias); the
    # accumulator needs inf in the model already
    assert (
        "da_nan = (&da_e) & (&da_f)"
        in generate("fp_fma", a_fmt="fp8_e4m3", w_fmt="fp8_e4m3", acc_fmt="fp16").verilog
    )
    with pytest.raises(NotImplementedError, match="integer, bipolar or float weights"):
        generate("dequant_mac", w_fmt="nf4", scale_fmt="fp16")  # a value table

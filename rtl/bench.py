"""cocotb test module (run inside the simulator by `hwsim.rtl.runner`).

Reads its job from the environment (HWSIM_RTL_JOB: JSON with kind, params, seed, nvec and
the path of the per-cycle plan that `hwsim.rtl.stimulus` derived from the PE step model in
the parent process, so the simulator process does not import numpy/numba) and checks every
register of the design after every rising edge. Inputs are driven on the falling edge and
outputs sampled on the next falling edge, so exactly one rising edge lies in between.
"""

from __future__ import annotations

import json
import os

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import FallingEdge

SIGNED = {"acc", "sip"}


class Cycle:
    __slots__ = ("inputs", "expect", "where", "operands")

    def __init__(self, inputs, expect, where, operands=""):
        self.inputs, self.expect, self.where, self.operands = inputs, expect, where, operands


def _job() -> dict:
    return json.loads(os.environ["HWSIM_RTL_JOB"])


def _read(dut, name: str, signed=SIGNED) -> int:
    v = getattr(dut, name).value
    if name in signed:
        return v.to_signed()
    return v.to_unsigned() if hasattr(v, "to_unsigned") else int(v)


@cocotb.test()
async def check_against_step_model(dut):
    job = _job()
    kind, params, seed = job["kind"], job["params"], job["seed"]
    with open(job["plan"]) as f:
        cycles = [Cycle(*c) for c in json.load(f)]
    signed = set(job.get("signed", SIGNED))
    widths = {}
    Clock(dut.clk, 10, unit="ns").start()
    for name in cycles[0].inputs:
        getattr(dut, name).value = 0
    dut.rst.value = 1
    await FallingEdge(dut.clk)
    await FallingEdge(dut.clk)
    dut.rst.value = 0
    for name in cycles[0].inputs:
        widths[name] = len(getattr(dut, name))
    for n, cyc in enumerate(cycles):
        for name, val in cyc.inputs.items():
            getattr(dut, name).value = val & ((1 << widths[name]) - 1)
        await FallingEdge(dut.clk)
        got = {}
        for name in cyc.expect:
            got[name] = _read(dut, name, signed=signed)
        if got != cyc.expect:
            bad = {k: (cyc.expect[k], got[k]) for k in cyc.expect if got[k] != cyc.expect[k]}
            raise AssertionError(
                f"{kind} {params} seed={seed}: mismatch at checked cycle {n} ({cyc.where}); "
                f"inputs={ {k: hex(v) for k, v in cyc.inputs.items()} } {cyc.operands}; "
                f"(expected, actual)={bad}; expected={cyc.expect} actual={got}"
            )
    dut._log.info("hwsim: %d cycles checked against the %s step model", len(cycles), kind)

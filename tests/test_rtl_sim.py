"""Generated RTL vs the hwsim.pe step models, every register every cycle (cocotb 2.1 runner).

Fast tier: DEFAULT_PARAMS of every kind, 2000 checked cycles each, Icarus and Verilator.
Slow tier (-m slow): exhaustive 8x8 operand sweeps and 1e5 random cycles via $readmemh
benches, Verilator gate-level re-simulation.
"""

from __future__ import annotations

import functools
import json

import pytest

from hwsim.rtl import tools
from hwsim.rtl.runner import DEFAULT_PARAMS, run_one

SEED = 20261122
CASES = [(k, p) for k, ps in DEFAULT_PARAMS.items() for p in ps]
# Icarus runs every parameter set; Verilator (about 3-10 s per fresh build) the first per kind
FAST = [(k, p, "icarus") for k, p in CASES] + [
    (k, ps[0], "verilator") for k, ps in DEFAULT_PARAMS.items()
]


@functools.lru_cache(maxsize=1)  # both simulators reuse one plan
def _exhaustive(kind, params_json):
    from hwsim.rtl.bulk import exhaustive_plan

    return exhaustive_plan(kind, json.loads(params_json))


@functools.lru_cache(maxsize=1)  # both simulators reuse one plan
def _random(kind, params_json, n):
    from hwsim.rtl.stimulus import plan

    return plan(kind, json.loads(params_json), SEED, n)


def _skip_if_missing(sim):
    tools.setup_path()
    why = tools.missing(sim)
    if why:
        pytest.skip(why)


def _check(r):
    assert r.passed, f"seed={r.seed} simulator={r.simulator} {r.kind} {r.params}:\n{r.message}"


@pytest.mark.parametrize("kind,params,sim", FAST, ids=lambda v: str(v))
def test_rtl_matches_step_model(kind, params, sim):
    _skip_if_missing(sim)
    _check(run_one(kind, dict(params), sim, nvec=2000, seed=SEED))


@pytest.mark.slow
@pytest.mark.parametrize("sim", tools.SIMULATORS)
@pytest.mark.parametrize(
    "kind,params",
    [
        ("int_mac", dict(a_fmt="int8", w_fmt="int8", acc_bits=32)),
        ("int_mac", dict(a_fmt="uint8", w_fmt="int8", acc_bits=12, overflow="saturate")),
        ("bitserial", dict(scheme="stripes", a_fmt="int8", w_fmt="int8", lanes=1, acc_bits=32)),
        ("bitserial", dict(scheme="booth", a_fmt="int8", w_fmt="int8", lanes=1, acc_bits=32)),
        ("bipolar", dict(a_fmt="bipolar8", w_fmt="bipolar8", lanes=1, acc_bits=32)),
        ("shiftadd", dict(a_fmt="int8", w_fmt="pot4", lanes=1, acc_bits=32)),
        ("shiftadd", dict(a_fmt="int8", w_fmt="apot5", lanes=1, acc_bits=32)),
        ("shiftadd", dict(mode="lmul", a_fmt="fp8_e4m3", w_fmt="fp8_e4m3", acc_fmt="fp16")),
        ("bitserial", dict(scheme="bitmod", a_fmt="int8", w_fmt="bitmod_fp4_ea_pos", lanes=1)),
        ("bitserial", dict(scheme="fusion", a_fmt="int8", w_fmt="int8", lanes=1, acc_bits=32)),
        ("lut", dict(a_fmt="int8", w_fmt="bipolar8", tile_k=1, acc_bits=32)),
        ("fp_fma", dict(a_fmt="fp8_e5m2", w_fmt="fp8_e5m2", acc_fmt="fp8_e5m2")),
        ("fp_fma", dict(a_fmt="fp8_e5m2", w_fmt="fp8_e5m2", acc_fmt="fp8_e5m2", fused=True)),
    ],
    ids=lambda v: str(v),
)
def test_exhaustive_8x8_bulk(kind, params, sim):
    from hwsim.rtl.bulk import run_bulk
    from hwsim.rtl.emit import generate

    _skip_if_missing(sim)
    cycles = _exhaustive(kind, json.dumps(params, sort_keys=True))
    r = run_bulk(generate(kind, **params), cycles, sim)
    assert r["checked"] == len(cycles)
    assert r["mismatches"] == 0, r["log"]


@pytest.mark.slow
@pytest.mark.parametrize("sim", tools.SIMULATORS)
@pytest.mark.parametrize(
    "kind,params", [c for c in CASES if c[0] != "systolic"], ids=lambda v: str(v)
)
def test_random_1e5_bulk(kind, params, sim):
    from hwsim.rtl.bulk import run_bulk
    from hwsim.rtl.emit import generate

    _skip_if_missing(sim)
    cycles = _random(kind, json.dumps(params, sort_keys=True), 100_000)
    r = run_bulk(generate(kind, **dict(params)), cycles, sim)
    assert r["mismatches"] == 0, f"seed={SEED}\n{r['log']}"

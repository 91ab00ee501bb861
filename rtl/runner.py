"""Build and run the cocotb bench (`hwsim.rtl.bench`) on Icarus and/or Verilator.

`run_one(kind, params, sim, nvec, seed)` simulates one generated design; `verify(...)`
loops over PE kinds and parameter sets and returns a tidy list of result dicts.
"""

from __future__ import annotations

import functools
import json
import os
import time
import xml.etree.ElementTree as ET
from dataclasses import asdict, dataclass
from pathlib import Path

from . import tools
from .emit import Design, generate
from .stimulus import plan, plan_systolic

#: parameter sets checked by default (small accumulators so that wrap/saturate happen)
DEFAULT_PARAMS: dict[str, list[dict]] = {
    "int_mac": [
        dict(a_fmt="int8", w_fmt="int8", lanes=1, acc_bits=20),
        dict(a_fmt="uint4", w_fmt="int4", lanes=3, acc_bits=9, overflow="saturate"),
    ],
    "bitserial": [
        dict(scheme="stripes", a_fmt="int8", w_fmt="int4", lanes=4, acc_bits=16),
        dict(scheme="booth", a_fmt="int8", w_fmt="int4", lanes=2, acc_bits=14, overflow="saturate"),
        dict(scheme="booth", a_fmt="uint4", w_fmt="uint3", lanes=1, acc_bits=12),
        dict(scheme="bitmod", a_fmt="int6", w_fmt="bitmod_fp4_ea_pos", lanes=4, acc_bits=12)
        | dict(overflow="saturate"),
        dict(scheme="bitmod", a_fmt="uint5", w_fmt="bitmod_fp3_er_neg", lanes=2, acc_bits=10),
        dict(scheme="fusion", a_fmt="int4", w_fmt="int2", lanes=1, acc_bits=10),
        dict(scheme="fusion", a_fmt="uint3", w_fmt="int8", lanes=1, acc_bits=14)
        | dict(overflow="saturate"),
        dict(scheme="bitmod", a_fmt="fp16", w_fmt="bitmod_fp4_er_pos", lanes=4),  # FP16 acts
        dict(scheme="bitmod", a_fmt="fp16", w_fmt="int8", lanes=2),  # Booth terms, bsig 0..6
    ],
    "bipolar": [
        dict(a_fmt="bipolar3", w_fmt="bipolar2", lanes=8, acc_bits=12),
        dict(a_fmt="int3", w_fmt="bipolar2", lanes=5, acc_bits=10, overflow="saturate"),
    ],
    "shiftadd": [
        dict(a_fmt="int8", w_fmt="pot4", lanes=2, acc_bits=20),
        dict(a_fmt="uint4", w_fmt="pot4", lanes=1, acc_bits=11, overflow="saturate"),
        dict(a_fmt="int5", w_fmt="apot5", lanes=2, acc_bits=10, overflow="saturate"),
        dict(a_fmt="int4", w_fmt="pot3_nz", lanes=3, acc_bits=7),
        dict(a_fmt="fp16", w_fmt="pot4", acc_fmt="fp16"),  # exponent add, FP16 accumulator
        dict(mode="lmul", a_fmt="fp8_e4m3", w_fmt="fp8_e4m3", acc_fmt="fp16", ftz=True),
        dict(mode="lmul", a_fmt="bf16", w_fmt="bf16"),  # FP32 accumulator
    ],
    "lut": [
        dict(a_fmt="int8", w_fmt="bipolar2", tile_k=4, acc_bits=16),
        dict(a_fmt="int4", w_fmt="bipolar3", tile_k=3, acc_bits=9, overflow="saturate"),
        dict(a_fmt="fp16", w_fmt="bipolar2", tile_k=4),  # FP16 table and accumulator, ftz
        dict(a_fmt="fp16", w_fmt="bipolar3", tile_k=2, ftz=False),  # subnormal entries
    ],
    "fp_fma": [
        dict(),
        dict(fused=True),
        dict(a_fmt="fp8_e5m2", w_fmt="fp8_e5m2", acc_fmt="fp8_e5m2"),
        # aligning datapath (emit_fp): 8-bit exponents, mixed formats, ftz
        dict(a_fmt="bf16", w_fmt="bf16", acc_fmt="fp32", fused=True),
        dict(a_fmt="fp32", w_fmt="fp32", acc_fmt="fp32", fused=True),
        dict(a_fmt="fp16", w_fmt="fp16", acc_fmt="fp32"),
        dict(a_fmt="bf16", w_fmt="bf16", acc_fmt="bf16", ftz=True),
        dict(a_fmt="fp8_e5m2", w_fmt="int4", acc_fmt="fp16", fused=True, ftz=True),
        # operands without inf: OCP E4M3 (NaN only at S.1111.111) x FP4 E2M1 (no specials)
        dict(a_fmt="fp8_e4m3", w_fmt="fp4_e2m1", acc_fmt="fp32", fused=True),
        dict(a_fmt="fp8_e4m3fnuz", w_fmt="fp8_e5m2fnuz", acc_fmt="fp16"),  # bias 8 / 16
    ],
    "dequant_mac": [
        dict(group_size=4),  # int4 -> fp16 weights, fp16 activations, fused fp32 MAC
        dict(a_fmt="bf16", w_fmt="uint4", deq_fmt="bf16", acc_fmt="bf16", scale_fmt="bf16")
        | dict(fused=False, group_size=3, ftz=True),
        dict(a_fmt="int8", w_fmt="int4", acc_fmt="fp16", prod_fmt="fp32", fused=False)
        | dict(group_size=2, ftz=True),
        dict(w_fmt="fp4_e2m1", group_size=4),  # FP4 weights x FP16 group scales (W4A16)
        dict(w_fmt="bipolar4", group_size=3, fused=False, acc_fmt="fp16"),
    ],
    "mixpe": [
        dict(a_fmt="int8", w_fmt="int4", group_size=4, lanes=2, acc_bits=12),  # W4A8
        dict(a_fmt="uint8", w_fmt="uint4", group_size=6, lanes=3, acc_bits=15)
        | dict(overflow="saturate", scale_fmt="bf16", out_fmt="bf16"),
        dict(a_fmt="int8", w_fmt="int4", group_size=3, acc_bits=16, out_fmt="fp16", ftz=True),
        dict(a_fmt="fp16", w_fmt="int4", group_size=3),  # W4A16
        dict(a_fmt="fp16", w_fmt="uint4", group_size=2, out_fmt="fp16", ftz=True),
    ],
    "systolic": [  # array wrapper (rtl/emit_array.py) of int_mac and other PE kinds
        dict(rows=2, cols=3, a_fmt="int4", w_fmt="int4", acc_bits=12),
        dict(pe="lut", rows=1, cols=4, a_fmt="int8", w_fmt="bipolar2", acc_bits=14),
        dict(pe="lut", rows=1, cols=3, row_broadcast=True),  # LUT-TC tile row, FP16 table
        dict(pe="bipolar", rows=2, cols=2, a_fmt="int4", w_fmt="bipolar2", lanes=4),
        dict(pe="bitserial", rows=2, cols=2, scheme="booth", a_fmt="int4", w_fmt="int4"),
        dict(pe="fp_fma", rows=2, cols=2, a_fmt="fp8_e5m2", w_fmt="fp8_e5m2", acc_fmt="fp16"),
        dict(pe="mixpe", rows=2, cols=2, a_fmt="int8", w_fmt="int4", group_size=4, lanes=2),
    ],
}
KINDS = tuple(DEFAULT_PARAMS)
#: no output splitting: big netlists otherwise use precompiled headers, which break with ccache
VERILATOR_ARGS = ["-Wno-fatal", "--output-split", "0", "--output-split-cfuncs", "0"]


@dataclass
class SimResult:
    kind: str
    params: dict
    simulator: str
    top: str
    seed: int
    vectors: int
    passed: bool | None  # None: skipped
    message: str
    build_s: float  # simulator build (s)
    plan_s: float  # step-model trace -> stimulus/expected plan (s)
    test_s: float  # simulation incl. simulator start-up (s)


def _failure_text(xml: Path) -> str:
    try:
        root = ET.parse(xml).getroot()
    except (OSError, ET.ParseError) as exc:
        return f"no results file ({exc})"
    msgs = [f.get("message", "") + "\n" + (f.text or "") for f in root.iter("failure")]
    msgs += [e.get("message", "") + "\n" + (e.text or "") for e in root.iter("error")]
    return "\n".join(m.strip() for m in msgs)


def signed_outputs(kind: str, info: dict) -> list[str]:
    """Output ports (of a design of `kind` with Design.info `info`) that hold two's
    complement values; the rest are codes / unsigned."""
    if kind == "systolic":  # every PE's signed outputs, as <port>_<r>_<c>
        names = signed_outputs(info["pe"], info["cell_info"])
        R, C = info["rows"], info["cols"]
        return [f"{n}_{r}_{c}" for n in names for r in range(R) for c in range(C)]
    # FP PEs: IEEE codes are unsigned; mixpe's integer group partial is signed
    fp_signed = dict(fp_fma=[], dequant_mac=[], mixpe=[] if info.get("fp") else ["psum"])
    names = fp_signed.get(kind, ["acc", "sip"])
    if info.get("acc_code"):  # lut fp16, shiftadd FP modes: acc holds an IEEE code
        names = [n for n in names if n != "acc"]
    return names + info.get("signed", [])  # e.g. BitMoD's acc_man


@functools.lru_cache(maxsize=8)
def _plan_json(kind: str, params_json: str, seed: int, nvec: int) -> str:
    """Per-cycle plan from the step model, as JSON (cached: both simulators share it)."""
    params = json.loads(params_json)
    if kind == "systolic":
        cycles = plan_systolic(params, seed, nvec)
    else:
        cycles = plan(kind, params, seed, nvec)
    return json.dumps([[c.inputs, c.expect, c.where, c.operands] for c in cycles])


def run_one(
    kind: str,
    params: dict,
    sim: str,
    nvec: int = 2000,
    seed: int = 1,
    design: Design | None = None,
    tag: str = "",
    build_dir: str | Path | None = None,
) -> SimResult:
    """Simulate the generated design of (kind, params) against its step model. Build files
    go to ``<build_dir>/<top><tag>_<sim>`` (default build_dir: a new `tools.run_dir`)."""
    tools.setup_path()
    design = design or generate(kind, **params)
    why = tools.missing(sim)
    if why:
        return SimResult(kind, params, sim, design.top, seed, nvec, None, why, 0.0, 0.0, 0.0)
    from cocotb_tools.check_results import get_results
    from cocotb_tools.runner import get_runner

    root = Path(build_dir) if build_dir is not None else tools.run_dir(what="verify")
    build_dir = root / f"{design.top}{tag}_{sim}"
    src = design.write(build_dir)
    runner = get_runner(sim)
    t0 = time.perf_counter()
    runner.build(
        sources=[src],
        hdl_toplevel=design.top,
        build_dir=build_dir,
        build_args=VERILATOR_ARGS if sim == "verilator" else [],
        timescale=("1ns", "1ps"),
        always=True,
        log_file=build_dir / "build.log",
    )
    t1 = time.perf_counter()
    plan_file = build_dir / f"plan_{seed}_{nvec}.json"
    plan_file.write_text(_plan_json(kind, json.dumps(params, sort_keys=True), seed, nvec))
    tp = time.perf_counter()
    job = dict(kind=kind, params=params, seed=seed, nvec=nvec, plan=str(plan_file))
    job["signed"] = signed_outputs(kind, design.info)
    env = {"HWSIM_RTL_JOB": json.dumps(job)}
    try:
        xml = runner.test(
            hdl_toplevel=design.top,
            test_module="hwsim.rtl.bench",
            build_dir=build_dir,
            test_dir=build_dir,
            extra_env=env,
            seed=seed,
            log_file=build_dir / "test.log",
        )
        xml = Path(xml)
        _, n_fail = get_results(xml)
    except SystemExit:  # cocotb's runner exits under pytest when a test fails
        xml = next(iter(sorted(build_dir.glob("*.xml"), key=os.path.getmtime, reverse=True)), None)
        n_fail = 1
    t2 = time.perf_counter()
    msg = "ok" if n_fail == 0 else (_failure_text(xml) if xml else "failed")
    if n_fail and not msg.strip():
        msg = f"failed; see {build_dir / 'test.log'}"
    return SimResult(
        kind, params, sim, design.top, seed, nvec, n_fail == 0, msg, t1 - t0, tp - t1, t2 - tp
    )


def verify(
    kinds=None, simulators=None, vectors: int = 2000, seed: int = 1, build_dir=None
) -> list[SimResult]:
    """Check generated RTL against the hwsim.pe step models, every cycle.

    kinds: PE kinds (default: all with a generator, plus "systolic"); simulators: subset of
    ("icarus", "verilator") (missing ones are reported as skipped); vectors: checked cycles
    per design; seed: stimulus seed (reported on failure); build_dir: parent of this run's
    own new build folder (default `tools.default_build_root()`). Returns one SimResult per
    (kind, parameter set, simulator); `passed` is None when the simulator is missing.
    """
    if isinstance(vectors, bool) or not isinstance(vectors, int) or vectors < 1:
        raise ValueError(f"vectors must be a positive int, got {vectors!r}")
    for kind in kinds or KINDS:
        if kind not in DEFAULT_PARAMS:
            raise ValueError(f"no RTL for {kind!r}; available: {list(KINDS)}")
    run = tools.run_dir(build_dir, "verify")
    out = []
    for kind in kinds or KINDS:
        if kind not in DEFAULT_PARAMS:
            raise ValueError(f"no RTL for {kind!r}; available: {list(KINDS)}")
        for params in DEFAULT_PARAMS[kind]:
            for sim in simulators or tools.SIMULATORS:
                out.append(run_one(kind, dict(params), sim, vectors, seed, build_dir=run))
    return out


def results_frame(results):
    import pandas as pd

    return pd.DataFrame([asdict(r) for r in results])

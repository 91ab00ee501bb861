"""The mapping-driven simulator: engine traffic == analytic counts, the mapper is optimal over
its space (scored independently by the access counts), pinned mappings, array timing."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

import hwsim
from hwsim import accel, workloads
from hwsim.accel.mapping.access import count_accesses
from hwsim.accel.mapping.gemm_mapper import DIMS, ROWS_COLS, STREAM, gemm_nest, map_gemm
from hwsim.accel.mapping.problem import gemm_problem
from hwsim.accel.nest_engine import dram_traffic, simulate_nest
from hwsim.accel.pe_adapter import PETiming


def _dram_bytes_from_counts(acc, nest, acc_bits):
    """DRAM bytes per operand from the analytic counts and the width rules (docstrings of
    access.count_accesses): inputs at their storage bits; outputs: the final copy in the
    output format, partial sums at the accumulator width."""
    out = {}
    for a in count_accesses(nest):
        if a.level != "dram":
            continue
        if a.operand == "out":
            partial = a.updates - a.first
            out["out_w"] = a.first * acc.bits("out") / 8 + partial * acc_bits / 8
            out["out_r"] = a.reads * acc_bits / 8
        else:
            out[a.operand] = a.reads * acc.bits(a.operand) / 8
    return out


def _random_case(rng):
    df = str(rng.choice(["os", "ws", "is"]))
    rows, cols = (int(x) for x in rng.integers(1, 6, 2))
    acc = accel.systolic(rows, cols, dataflow=df, act_fmt=str(rng.choice(["int8", "int4"])),
                         weight_fmt=str(rng.choice(["int8", "int4", "mxfp4"])))  # fmt: skip
    m, n, k = (int(x) for x in rng.integers(1, 14, 3))
    prob = gemm_problem(m, n, k, int(rng.integers(1, 3)), shared_weight=bool(rng.random() < 0.7))
    tiles = {}
    unit = {d: 1 for d in DIMS} | dict(zip(ROWS_COLS[df], (rows, cols), strict=True))
    for d in DIMS:
        size = prob.size[d]
        mult = int(rng.integers(1, 4))
        t = min(unit[d] * mult, size)
        tiles[d] = t if (t == size or t % unit[d] == 0) else size
    order = tuple(rng.permutation(DIMS))
    return acc, prob, gemm_nest(acc, prob, tiles, order)


@pytest.mark.parametrize("seed", range(60))
def test_engine_traffic_equals_analytic_counts(seed):
    rng = np.random.default_rng(1000 + seed)
    acc, prob, nest = _random_case(rng)
    acc_bits = 24.0
    bits = {o: acc.bits(o) for o in ("act", "weight", "out")}
    tr = dram_traffic(nest, bits, acc_bits)
    want = _dram_bytes_from_counts(acc, nest, acc_bits)
    assert tr["read"]["act"].sum() == pytest.approx(want["act"], rel=1e-12)
    assert tr["read"]["weight"].sum() == pytest.approx(want["weight"], rel=1e-12)
    assert tr["write"]["out"].sum() == pytest.approx(want["out_w"], rel=1e-12)
    assert tr["read"]["out"].sum() == pytest.approx(want["out_r"], rel=1e-12)


def _all_nests(acc, prob):
    df = acc.dataflow
    unit = {d: 1 for d in DIMS} | dict(zip(ROWS_COLS[df], (acc.rows, acc.cols), strict=True))
    cands = []
    for d in DIMS:
        size = prob.size[d]
        cands.append(sorted({t for t in range(1, size + 1) if t == size or t % unit[d] == 0}))
    for tiles in itertools.product(*cands):
        for order in itertools.permutations(DIMS):
            yield dict(zip(DIMS, tiles, strict=True)), order


@pytest.mark.parametrize("df", ["os", "ws", "is"])
def test_mapper_beats_every_candidate_scored_by_counts(df):
    """Exhaustive over every tile (any multiple of the array edge) and order, each scored by
    the engine (traffic from the loop nest) with a capacity check computed here: the
    mapper's energy choice moves no more DRAM bytes than any fitting nest."""
    acc = accel.systolic(2, 3, dataflow=df, act_sram_bytes=96, weight_sram_bytes=96,
                         out_sram_bytes=256)  # fmt: skip
    timing = PETiming("int_mac")
    prob = gemm_problem(7, 9, 10)
    choice = map_gemm(acc, prob, timing.dot_cycles, timing.acc_bits, "energy")
    bits = {o: acc.bits(o) for o in ("act", "weight", "out")}

    def dram(nest):
        tr = dram_traffic(nest, bits, timing.acc_bits)
        return sum(v.sum() for v in tr["read"].values()) + sum(
            v.sum() for v in tr["write"].values()
        )

    def fits(nest):
        reduce = any(
            lp.dim == "K" and lp.trips > 1
            for lp in nest.loops()
            if lp.level <= 1 and lp.kind == "temporal"
        ) or (df != "os" and nest.tile(1)["K"] > acc.rows)
        t = nest.tile(1)
        need = {"act": t["B"] * t["M"] * t["K"] * 1, "weight": t["K"] * t["N"] * 1,
                "out": t["B"] * t["M"] * t["N"] * (4 if reduce else 1)}  # fmt: skip
        return all(need[o] <= acc.buffer(o).tile_bytes for o in need)

    scored = [dram(nest) for t, o in _all_nests(acc, prob)
              if fits(nest := gemm_nest(acc, prob, t, o))]  # fmt: skip
    got = dram(choice.nest)
    assert fits(choice.nest)
    assert got == pytest.approx(choice.dram_bytes)
    # balanced tiles dominate (traffic depends on trip counts only): optimal over every tile
    assert got == min(scored)


def test_preload_overlap_and_tensor_core_cycles_by_hand():
    wl = workloads.gemm(1, 8, 8)  # decode-like: M = 1
    # WS 4x4, 2 K-folds x 2 N-folds, stream T = 1 cycle per fold
    plain = hwsim.simulate(accel.systolic(4, 4, dataflow="ws"), wl, mapping="scalesim")
    assert plain.cycles == 4 * (2 * 4 + 4 - 2 + 1)  # SCALE-Sim: folds x (2R + C - 2 + T)
    over = hwsim.simulate(accel.systolic(4, 4, dataflow="ws", preload_overlap=True), wl)
    # once: preload 4 + skew 3 + drain 3; then 4 folds of max(T = 1, preload 4)
    assert over.cycles == (4 + 3 + 3) + 4 * 4
    fast = hwsim.simulate(
        accel.systolic(4, 4, dataflow="ws", preload_overlap=True, preload_rows_per_cycle=4), wl
    )
    assert fast.cycles == (1 + 3 + 3) + 4 * 1
    tc = hwsim.simulate(accel.tensor_core(4, 4), workloads.gemm(8, 8, 8))
    assert tc.cycles == 1 + 2 * 2 * 8  # pipeline 1 + (M/4 x N/4 folds) x K dot cycles


def test_decode_memory_bound_4bit_vs_16bit():
    """Llama-2-7B decode layer shapes (one block), WS 64x64 with preload overlap at
    32 B/cycle: weight-bandwidth bound, so 4-bit weights run >= 3x faster than 16-bit."""
    wl = workloads.get("llama2-7b", phase="decode", seq_len=512)
    block = workloads.Workload("L0", tuple(ly for ly in wl.layers if ly.name.startswith("L0.")
                                           and ly.kind == "gemm"))  # fmt: skip
    cyc = {}
    for wf in ("int4", "fp16"):
        acc = accel.systolic(64, 64, dataflow="ws", preload_overlap=True, dram_bw=32,
                             weight_fmt=wf, act_fmt="int8")  # fmt: skip
        cyc[wf] = hwsim.simulate(acc, block).cycles
    assert cyc["fp16"] >= 3 * cyc["int4"]


def test_pinned_mapping_errors_and_use():
    acc = accel.systolic(4, 4, dataflow="os", act_sram_bytes=128, weight_sram_bytes=256,
                         out_sram_bytes=256)  # fmt: skip
    wl = workloads.gemm(8, 8, 16, name="g")
    rep = hwsim.simulate(acc, wl, mapping={"g": {"tiles": {"M": 4, "N": 4, "K": 16},
                                                 "order": ["M", "N", "K", "B"]}})  # fmt: skip
    assert rep.layers["mapping"].iloc[0] == "sram B1 M4 N4 K16; dram M>N"
    with pytest.raises(ValueError, match=r"'act' tile .* needs 128 bytes, buffer 'act' has 64"):
        hwsim.simulate(acc, wl, mapping={"g": {"tiles": {"M": 8, "N": 4, "K": 16}}})
    with pytest.raises(ValueError, match="dimension M tile 6 is not a multiple of the block 4"):
        hwsim.simulate(acc, wl, mapping={"g": {"tiles": {"M": 6, "N": 4, "K": 16}}})
    with pytest.raises(ValueError, match=r"unknown dimension\(s\) \['X'\]"):
        hwsim.simulate(acc, wl, mapping={"g": {"tiles": {"X": 4}}})
    with pytest.raises(ValueError, match=r"pins unknown layer\(s\) \['nope'\]"):
        hwsim.simulate(acc, wl, mapping={"nope": {"tiles": {}}})
    with pytest.raises(ValueError, match="mapping must be one of"):
        hwsim.simulate(acc, wl, mapping="best")
    # checked up front, also when every layer is pinned and the mapper never runs
    pin = {"g": {"tiles": {"M": 4, "N": 4, "K": 16}}}
    with pytest.raises(ValueError, match="objective must be one of"):
        hwsim.simulate(acc, wl, mapping=pin, objective="fastest")
    with pytest.raises(ValueError, match="scalesim' models SCALE-Sim's plain systolic"):
        hwsim.simulate(accel.tensor_core(4, 4), wl, mapping="scalesim")


def test_stream_dims_follow_the_dataflow():
    assert STREAM == {"os": "K", "ws": "M", "is": "N"}


def test_optimal_not_worse_than_scalesim_traffic_on_llama_layer():
    acc = accel.systolic(64, 64, dataflow="os", act_sram_bytes=256 * 1024,
                         weight_sram_bytes=256 * 1024, out_sram_bytes=256 * 1024)  # fmt: skip
    wl = workloads.gemm(2048, 4096, 4096, name="q_proj")
    opt = hwsim.simulate(acc, wl, objective="energy")
    ss = hwsim.simulate(acc, wl, mapping="scalesim")
    moved = {r: rep.layers.filter(regex="^dram_").sum(axis=1).iloc[0] for r, rep in
             (("opt", opt), ("ss", ss))}  # fmt: skip
    assert moved["ss"] >= 2 * moved["opt"]


def test_simulate_nest_rows_have_the_report_columns():
    acc = accel.systolic(4, 4)
    timing = PETiming("int_mac")
    prob = gemm_problem(5, 6, 7)
    row = simulate_nest(acc, timing, map_gemm(acc, prob, timing.dot_cycles, 32).nest, 32.0)
    for o in ("act", "weight", "out"):
        for lv in ("dram_read", "dram_write", "sram_read", "sram_write"):
            assert f"{lv}_bytes_{o}" in row
    assert row["macs"] == 5 * 6 * 7

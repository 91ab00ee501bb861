"""Convolutions in their own 7 dimensions: conv nests through the mapper and the engine.

Engine traffic == analytic counts on random small convs (strides, dilation, ragged tiles);
the mapper is optimal over its space (scored independently by the engine); ResNet-18's
unique padded input counts by hand; mapping="scalesim" keeps the im2col view."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

import hwsim
from hwsim import accel, workloads
from hwsim.accel.conv_engine import simulate_conv_nest
from hwsim.accel.mapping.access import count_accesses
from hwsim.accel.mapping.conv_mapper import CONV_DIMS, SEARCH_DIMS, conv_nest, map_conv
from hwsim.accel.mapping.problem import conv_problem
from hwsim.accel.nest_engine import dram_traffic
from hwsim.accel.pe_adapter import PETiming
from hwsim.simulate import layer_problem

BIG = 64 * 1024 * 1024  # bytes per buffer: every layer of ResNet-18 fits whole


def _random_conv(rng):
    stride, dil = int(rng.integers(1, 4)), int(rng.integers(1, 3))
    g = {"N": int(rng.integers(1, 3)), "K": int(rng.integers(1, 6)),
         "C": int(rng.integers(1, 5)), "P": int(rng.integers(1, 8)),
         "Q": int(rng.integers(1, 7)), "R": int(rng.integers(1, 4)),
         "S": int(rng.integers(1, 4))}  # fmt: skip
    prob = conv_problem(*(g[d] for d in CONV_DIMS), stride=stride, dilation=dil)
    tiles = {d: int(rng.integers(1, g[d] + 1)) for d in CONV_DIMS}
    order = tuple(rng.permutation(CONV_DIMS))
    return prob, conv_nest(prob, tiles, order), stride, dil


@pytest.mark.parametrize("seed", range(60))
def test_conv_engine_traffic_equals_analytic_counts(seed):
    """Per-step DRAM bytes (engine) sum to count_accesses' DRAM rows with the width rules:
    inputs at their storage bits; outputs: final copy in the output format, partial sums
    at the accumulator width (spilled and refetched)."""
    rng = np.random.default_rng(2000 + seed)
    prob, nest, _, _ = _random_conv(rng)
    acc = accel.systolic(3, 2, act_fmt=str(rng.choice(["int8", "int4"])),
                         weight_fmt=str(rng.choice(["int8", "mxfp4"])))  # fmt: skip
    acc_bits = 24.0
    bits = {o: acc.bits(o) for o in ("act", "weight", "out")}
    tr = dram_traffic(nest, bits, acc_bits)
    rows = {a.operand: a for a in count_accesses(nest) if a.level == "dram"}
    assert tr["read"]["act"].sum() == pytest.approx(rows["act"].reads * bits["act"] / 8)
    assert tr["read"]["weight"].sum() == pytest.approx(rows["weight"].reads * bits["weight"] / 8)
    out = rows["out"]
    want_w = out.first * bits["out"] / 8 + (out.updates - out.first) * acc_bits / 8
    assert tr["write"]["out"].sum() == pytest.approx(want_w)
    assert tr["read"]["out"].sum() == pytest.approx(out.reads * acc_bits / 8)


def test_conv_engine_traffic_by_hand():
    """1 channel, 1 filter, 3x3 window, P = Q = 4 outputs, stride 1: input 6x6; P tiled by 2
    (two tiles of 2 output rows, each touching 4 input rows): 2 x 4 x 6 = 48 act elements."""
    prob = conv_problem(1, 1, 1, 4, 4, 3, 3)
    nest = conv_nest(prob, {"P": 2}, ("P",))
    tr = dram_traffic(nest, {"act": 8, "weight": 8, "out": 8}, 32)
    assert tr["read"]["act"].sum() == 48
    assert tr["read"]["weight"].sum() == 9  # whole filter, read once (P is irrelevant)
    assert tr["write"]["out"].sum() == 16


def _engine_dram(acc, nest, timing):
    bits = {o: acc.bits(o) for o in ("act", "weight", "out")}
    tr = dram_traffic(nest, bits, timing.acc_bits)
    return sum(v.sum() for v in tr["read"].values()) + sum(v.sum() for v in tr["write"].values())


@pytest.mark.parametrize("df", ["os", "ws", "is"])
def test_conv_mapper_optimal_over_its_space(df):
    """Every tile of its space (R, S whole; N, K, C, P, Q any value) and every order, scored
    by the engine's traffic, with capacities computed here by hand: the energy choice moves
    the fewest DRAM bytes among fitting nests whose tiles are in its candidate set."""
    acc = accel.systolic(2, 2, dataflow=df, act_sram_bytes=60, weight_sram_bytes=40,
                         out_sram_bytes=48)  # fmt: skip
    timing = PETiming("int_mac")
    stride, dil = 2, 1
    prob = conv_problem(1, 3, 2, 5, 3, 3, 2, stride=stride, dilation=dil)
    size = prob.size
    choice = map_conv(acc, prob, timing.dot_cycles, timing.acc_bits, "energy")

    def fits(t):
        rows = (t["P"] - 1) * stride + (size["R"] - 1) * dil + 1
        cols = (t["Q"] - 1) * stride + (size["S"] - 1) * dil + 1
        crs = t["C"] * size["R"] * size["S"]
        reduce = t["C"] < size["C"] or (df != "os" and crs > acc.rows)
        need = {"act": t["N"] * t["C"] * rows * cols, "weight": t["K"] * crs,
                "out": t["N"] * t["K"] * t["P"] * t["Q"] * (4 if reduce else 1)}  # fmt: skip
        return all(need[o] <= acc.buffer(o).tile_bytes for o in need)

    def in_space(t):  # powers of two (1 or edge 2 times 2^i) or the whole dimension
        return all(t[d] == size[d] or t[d] & (t[d] - 1) == 0 for d in SEARCH_DIMS)

    scored = []
    for vals in itertools.product(*(range(1, size[d] + 1) for d in SEARCH_DIMS)):
        t = dict(zip(SEARCH_DIMS, vals, strict=True))
        if not fits(t) or not in_space(t):
            continue
        for order in itertools.permutations(SEARCH_DIMS):
            scored.append(_engine_dram(acc, conv_nest(prob, t, order), timing))
    got = _engine_dram(acc, choice.nest, timing)
    assert fits(choice.tiles)
    assert got == pytest.approx(choice.dram_bytes)
    assert got == pytest.approx(min(scored))


def test_conv_mapper_compute_cycles_match_engine():
    """The mapper's closed-form compute cycles equal the engine's per-step sum."""
    for df in ("os", "ws", "is"):
        acc = accel.systolic(4, 3, dataflow=df, act_sram_bytes=300, weight_sram_bytes=200,
                             out_sram_bytes=400)  # fmt: skip
        timing = PETiming("int_mac")
        prob = conv_problem(2, 7, 5, 9, 6, 3, 3, stride=1, dilation=2)
        ch = map_conv(acc, prob, timing.dot_cycles, timing.acc_bits)
        row = simulate_conv_nest(acc, timing, ch.nest, timing.acc_bits)
        assert row["compute_cycles"] == ch.compute_cycles
        assert row["macs"] == prob.macs


def test_conv_mapper_capacity_error_names_the_buffer():
    acc = accel.systolic(2, 2, act_sram_bytes=8, weight_sram_bytes=1024, out_sram_bytes=1024)
    prob = conv_problem(1, 2, 1, 4, 4, 7, 7)
    timing = PETiming("int_mac")
    with pytest.raises(ValueError, match=r"fits buffer 'act': the smallest tile needs 49 bytes"):
        map_conv(acc, prob, timing.dot_cycles, timing.acc_bits)


def _padded_touched(h, pad, r, stride, dil=1):
    """Padded input rows the windows touch, by enumeration (independent of the code)."""
    out = (h + 2 * pad - dil * (r - 1) - 1) // stride + 1
    return len({o * stride + i * dil for o in range(out) for i in range(r)})


def test_resnet18_conv_reads_each_padded_input_once_with_large_buffers():
    acc = accel.systolic(32, 32, act_sram_bytes=BIG, weight_sram_bytes=BIG,
                         out_sram_bytes=BIG)  # fmt: skip
    wl = workloads.get("resnet18")
    by_name = {ly.name: ly for ly in wl.layers}
    sub = workloads.Workload("r18", (by_name["conv1"], by_name["layer1.0.conv1"]))
    rep = hwsim.simulate(acc, sub)
    act = dict(zip(rep.layers["layer"], rep.layers["dram_read_bytes_act"], strict=True))
    # conv1: 224x224x3, 7x7, stride 2, pad 3 -> rows 0..228 of the 230 padded ones
    assert _padded_touched(224, 3, 7, 2) == 229
    assert act["conv1"] == 3 * 229 * 229 == 157_323  # int8: 1 byte per element
    # layer1 3x3, stride 1, pad 1 on 56x56x64: the whole padded 58x58 plane
    assert _padded_touched(56, 1, 3, 1) == 58
    assert act["layer1.0.conv1"] == 64 * 58 * 58
    ss = hwsim.simulate(acc, sub, mapping="scalesim")
    ss_act = dict(zip(ss.layers["layer"], ss.layers["dram_read_bytes_act"], strict=True))
    assert ss_act["conv1"] == 112 * 112 * 7 * 7 * 3 == 1_843_968  # im2col matrix


def test_scalesim_conv_unchanged_and_optimal_not_slower():
    acc = accel.systolic(16, 16)
    layer = workloads.conv2d("c", 28, 28, 32, 64, 3, stride=2)
    gemm = workloads.Layer("c", "conv", layer.m, layer.n, layer.k)  # no geometry
    a = hwsim.simulate(acc, layer, mapping="scalesim").layers.iloc[0]
    b = hwsim.simulate(acc, gemm, mapping="scalesim").layers.iloc[0]
    for col in ("cycles", "dram_read_bytes_act", "dram_read_bytes_weight",
                "dram_write_bytes_out"):  # fmt: skip
        assert a[col] == b[col]
    opt = hwsim.simulate(acc, layer).layers.iloc[0]
    assert opt["mapping"].startswith("sram N1 K")
    assert opt["dram_read_bytes_act"] < a["dram_read_bytes_act"]


def test_layer_problem_of_conv_and_pinned_conv_mapping():
    layer = workloads.conv2d("c", 10, 10, 4, 8, 3, stride=2, pad=1)
    prob = layer_problem(layer)
    assert prob.size == {"N": 1, "K": 8, "C": 4, "P": 5, "Q": 5, "R": 3, "S": 3}
    acc = accel.systolic(4, 4, act_sram_bytes=4096, weight_sram_bytes=4096,
                         out_sram_bytes=4096)  # fmt: skip
    rep = hwsim.simulate(acc, layer, mapping={"c": {"tiles": {"P": 2}, "order": ["P"]}})
    assert rep.layers["mapping"].iloc[0] == "sram N1 K8 C4 P2 Q5 R3 S3; dram P"
    # three tiles of 2, 2, 1 output rows: (2-1)*2 + 3 = 5, 5, 3 padded rows of 11 columns
    assert rep.layers["dram_read_bytes_act"].iloc[0] == 4 * (5 + 5 + 3) * 11
    with pytest.raises(ValueError, match=r"unknown dimension\(s\) \['M'\] in conv mapping"):
        hwsim.simulate(acc, layer, mapping={"c": {"tiles": {"M": 4}}})
    small = accel.systolic(4, 4, act_sram_bytes=64)
    with pytest.raises(ValueError, match=r"the 'act' tile .* buffer 'act' has"):
        hwsim.simulate(small, layer, mapping={"c": {"tiles": {"P": 5}}})


@pytest.mark.parametrize("df", ["os", "ws"])
def test_pointwise_conv_equals_its_gemm(df):
    """A 1x1 stride-1 conv is the GEMM M = P*Q, N = K, K = C: with P tiled (whole rows of Q,
    so an M tile) and C split (partial sums), the conv engine's row (cycles, DRAM and SRAM
    bytes per operand) equals the GEMM engine's on the matching GEMM nest."""
    from hwsim.accel.mapping.gemm_mapper import gemm_nest
    from hwsim.accel.mapping.problem import gemm_problem
    from hwsim.accel.nest_engine import simulate_nest

    acc = accel.systolic(4, 3, dataflow=df, act_sram_bytes=BIG, weight_sram_bytes=BIG,
                         out_sram_bytes=BIG, dram_bw=8)  # fmt: skip
    timing = PETiming("int_mac")
    c_tile = 3 if df == "os" else 4  # WS: K on the rows, a multiple of the 4 rows
    conv = conv_nest(conv_problem(1, 7, 10, 6, 4, 1, 1), {"P": 2, "C": c_tile}, ("P", "C"))
    gemm = gemm_nest(acc, gemm_problem(24, 7, 10), {"M": 8, "K": c_tile}, ("M", "K", "B", "N"))
    a = simulate_conv_nest(acc, timing, conv, timing.acc_bits)
    b = simulate_nest(acc, timing, gemm, timing.acc_bits)
    for key, val in b.items():
        if key != "events":
            assert a[key] == pytest.approx(val), key
    assert a["events"] == b["events"]

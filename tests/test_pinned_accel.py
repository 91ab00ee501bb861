"""Accelerator timing, traffic and energy pinned to hand-computed values (issue 17).

Every expectation here is derived in the test, by hand arithmetic written out or by an
independent loop over the folds / tiles, never by calling the helper the code under test uses
(``fold_counts``, ``fill_drain_cycles``, ``plan_gemm``, ``evaluate_tiling``). Shapes are chosen
NOT to be multiples of the array and bandwidths NOT to divide the bytes, so that ceil vs floor
and truncation bugs change the numbers.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

import hwsim
from hwsim import accel, workloads
from hwsim.accel.arch import DramConfig
from hwsim.accel.mapping import map_layer
from hwsim.accel.mapping.tiling import tile_fits

KB32 = 32 * 1024

# gemm(M=48, N=40, K=70) on a 32x32 array, SCALE-Sim v2 per-fold cycles (docs/simulator.md):
#   OS: Sr=M=48, Sc=N=40, T=K=70; folds ceil(48/32)*ceil(40/32) = 2*2 = 4;
#       fold = R + C + T - 2 = 32 + 32 + 70 - 2 = 132;   total 4 * 132 = 528
#   WS: Sr=K=70, Sc=N=40, T=M=48; folds ceil(70/32)*ceil(40/32) = 3*2 = 6;
#       fold = 2R + C + T - 2 = 64 + 32 + 48 - 2 = 142;  total 6 * 142 = 852
#   IS: Sr=K=70, Sc=M=48, T=N=40; folds ceil(70/32)*ceil(48/32) = 3*2 = 6;
#       fold = 2R + C + T - 2 = 64 + 32 + 40 - 2 = 134;  total 6 * 134 = 804
GEMM_48_40_70 = {"os": (4, 528), "ws": (6, 852), "is": (6, 804)}

# these values pin the SCALE-Sim-compatible fixed loop orders (accel/memory.py, accel/engine.py)
SS = "scalesim"


def _acc(dataflow, rows=32, cols=32, sram=KB32, **kw):
    return accel.systolic(
        rows,
        cols,
        dataflow=dataflow,
        act_sram_bytes=sram,
        weight_sram_bytes=sram,
        out_sram_bytes=sram,
        **kw,
    )


@pytest.mark.parametrize("dataflow", ["os", "ws", "is"])
def test_gemm_cycles_not_a_multiple_of_the_array(dataflow):
    folds, cycles = GEMM_48_40_70[dataflow]
    assert int(accel.gemm_cycles(dataflow, 32, 32, 48, 40, 70)) == cycles
    rep = hwsim.simulate(_acc(dataflow), workloads.gemm(48, 40, 70), mapping=SS)
    assert rep.cycles == cycles
    assert int(rep.layers["folds"].iloc[0]) == folds
    # useful PE-cycles / (PEs * cycles): M*N dots of T (OS) or Sr*Sc dots of T = same MACs
    assert rep.utilization == pytest.approx(48 * 40 * 70 / (32 * 32 * cycles))


def test_dram_transfer_rounds_up_partial_cycles():
    # 10 bytes at 3 B/cycle: 3 + 3 + 3 + 1 -> 4 cycles; 100 B at 7 B/cycle: 14 full + 2 B -> 15
    assert DramConfig(bandwidth_bytes_per_cycle=3).transfer_cycles(10) == 4
    assert DramConfig(bandwidth_bytes_per_cycle=7).transfer_cycles(100) == 15
    assert DramConfig(bandwidth_bytes_per_cycle=2.5).transfer_cycles(6) == 3  # 2.4 -> 3
    assert DramConfig(bandwidth_bytes_per_cycle=4).transfer_cycles(8) == 2  # exact stays exact
    assert DramConfig().transfer_cycles(10**9) == 0  # unlimited bandwidth


def test_single_tile_layer_with_bandwidth_that_does_not_divide_the_bytes():
    # gemm(4, 4, 4), int8, OS on 4x4, one tile: load act 16 B + weight 16 B = 32 B at 3 B/cycle
    # = ceil(10.67) = 11 cycles; one fold 4 + 4 + 4 - 2 = 10 cycles; write 16 B = ceil(5.33) = 6.
    rep = hwsim.simulate(
        accel.systolic(4, 4, dram_bw=3, max_tiles=1), workloads.gemm(4, 4, 4), mapping=SS
    )
    assert rep.cycles == 11 + 10 + 6
    assert rep.stall_cycles == 11 + 6


def _loop_traffic(dataflow, R, C, m, n, k, act_fits_block, weight_fits, streamed_fits, out_fits):
    """Element counts by walking the folds in the documented loop order (docs/simulator.md)."""
    sram_r = dict.fromkeys(("act", "weight", "out"), 0)
    sram_w = dict.fromkeys(("act", "weight", "out"), 0)
    dram_r = dict.fromkeys(("act", "weight", "out"), 0)
    dram_w = dict.fromkeys(("act", "weight", "out"), 0)
    if dataflow == "os":  # outer: row folds over M, inner: column folds over N
        for i0 in range(0, m, R):
            rows = min(R, m - i0)
            for j, j0 in enumerate(range(0, n, C)):
                cols = min(C, n - j0)
                sram_r["act"] += rows * k  # the R x K activation block, streamed
                sram_r["weight"] += k * cols  # the K x C weight block, streamed
                sram_w["out"] += rows * cols
                if j == 0 or not act_fits_block:
                    dram_r["act"] += rows * k
                if i0 == 0 or not weight_fits:
                    dram_r["weight"] += k * cols
        dram_w["out"] = m * n
    else:
        stat, strm = ("weight", "act") if dataflow == "ws" else ("act", "weight")
        sr, sc, t = (k, n, m) if dataflow == "ws" else (k, m, n)
        for j, j0 in enumerate(range(0, sc, C)):  # outer: column folds
            cols = min(C, sc - j0)
            for i, i0 in enumerate(range(0, sr, R)):  # inner: row folds
                rows = min(R, sr - i0)
                sram_r[stat] += rows * cols
                dram_r[stat] += rows * cols
                sram_r[strm] += t * rows
                if j == 0 or not streamed_fits:
                    dram_r[strm] += t * rows
                sram_w["out"] += t * cols  # partial sums of this fold
                if i > 0:
                    sram_r["out"] += t * cols  # previous partial sums
                    if not out_fits:
                        dram_r["out"] += t * cols
                if not out_fits or i == len(range(0, sr, R)) - 1:
                    dram_w["out"] += t * cols
    for o in ("act", "weight"):  # every input DRAM read is written into the SRAM once
        sram_w[o] += dram_r[o]
    # (hwsim counts SRAM writes of ``out`` as the array's results only, not spilled partial
    # sums read back from DRAM; docs/testing.md)
    return dram_r, dram_w, sram_r, sram_w


# (dataflow, rows, cols, m, n, k, sram bytes, fits flags: act block, weight, streamed, out)
TRAFFIC_CASES = [
    ("os", 4, 3, 10, 7, 5, 1 << 16, (True, True, True, True)),
    ("ws", 4, 3, 10, 7, 5, 1 << 16, (True, True, True, True)),
    ("is", 4, 3, 10, 7, 5, 1 << 16, (True, True, True, True)),
    # 64-byte buffers (32 usable): OS act block 4*9 = 36 and weights 9*10 = 90 do not fit;
    # 3 row folds != 4 column folds, so re-reads per row fold and per column fold differ
    ("os", 4, 3, 10, 10, 9, 64, (False, False, False, False)),
    # WS: streamed act 10*9 = 90 and out column block 10*3 = 30 ... 30 <= 32 fits
    ("ws", 4, 3, 10, 7, 9, 64, (False, False, False, True)),
    # WS with M = 11: out column block 11*3 = 33 > 32 spills partial sums
    ("ws", 4, 3, 11, 7, 9, 64, (False, False, False, False)),
    # IS: streamed weights 9*7 = 63 do not fit, out block T*C = 7*3 = 21 fits
    ("is", 4, 3, 10, 7, 9, 64, (False, False, False, True)),
    # IS with N = 11: out block 11*3 = 33 spills
    ("is", 4, 3, 10, 11, 9, 64, (False, False, False, False)),
]


@pytest.mark.parametrize("case", TRAFFIC_CASES, ids=lambda c: f"{c[0]}-{c[3]}x{c[4]}x{c[5]}-{c[6]}")
def test_traffic_per_operand_by_loop_count(case):
    df, R, C, m, n, k, sram, fits = case
    rep = hwsim.simulate(_acc(df, R, C, sram), workloads.gemm(m, n, k), mapping=SS)
    row = rep.layers.iloc[0]
    dram_r, dram_w, sram_r, sram_w = _loop_traffic(df, R, C, m, n, k, *fits)
    for o in ("act", "weight", "out"):  # int8 everywhere: one byte per element
        assert row[f"dram_read_bytes_{o}"] == dram_r[o], ("dram read", o)
        assert row[f"dram_write_bytes_{o}"] == dram_w[o], ("dram write", o)
        assert row[f"sram_read_bytes_{o}"] == sram_r[o], ("sram read", o)
        assert row[f"sram_write_bytes_{o}"] == sram_w[o], ("sram write", o)


def test_sram_and_dram_energy_pinned():
    # gemm(48, 40, 70) OS on 32x32, int8, 32 KB buffers. Traffic by hand (bytes):
    #   act: DRAM 48*70 = 3360 read once; SRAM reads 3360 * 2 column folds = 6720, writes 3360
    #   weight: DRAM 70*40 = 2800 once (fits 16 KB); SRAM reads 2800 * 2 row folds = 5600
    #   out: 48*40 = 1920 written to SRAM and to DRAM
    # SRAM: Horowitz 32 KB, 20 pJ per 64-bit read = 0.3125 pJ/bit;
    #   (6720 + 3360 + 5600 + 2800 + 1920) B * 8 * 0.3125 = 51000 pJ
    # DRAM: Horowitz DDR 640 pJ per 32-bit read = 20 pJ/bit; (3360 + 2800 + 1920) * 8 * 20
    rep = hwsim.simulate(_acc("os"), workloads.gemm(48, 40, 70), mapping=SS)
    row = rep.layers.iloc[0]
    assert row["energy_sram_pj"] == pytest.approx(51000.0)
    assert row["energy_dram_pj"] == pytest.approx((3360 + 2800 + 1920) * 8 * 20.0)


# ---- tiling ILP: DRAM bytes of its mapping by an independent walk over the DRAM tiles -------


def _walk_bytes(order, size, tiles, bits, acc_bits=32):
    """DRAM bytes per operand of a GEMM tiling by walking the DRAM tile loops in ``order``
    (outer first): an input tile is fetched whenever a loop at or outside its innermost
    relevant loop (one with more than one tile) advances; an output tile is written back at
    the end of each visit (accumulator width until its last visit, then the output format)
    and read back at the start of every visit but the first."""
    rel = {"act": "MK", "weight": "KN", "out": "MN"}
    starts = {d: list(range(0, size[d], tiles[d])) for d in "MNK"}
    loops = [d for d in order if len(starts[d]) > 1]
    out = dict.fromkeys(rel, 0.0)
    last_key = dict.fromkeys(rel)
    visits = {}
    for idx in itertools.product(*(range(len(starts[d])) for d in loops)):
        at = dict(zip(loops, idx, strict=True))
        ext = {d: min(tiles[d], size[d] - starts[d][at.get(d, 0)]) for d in "MNK"}
        for o, dims in rel.items():
            inner = [i for i, d in enumerate(loops) if d in dims]
            key = idx[: inner[-1] + 1] if inner else ()
            if key == last_key[o]:
                continue
            last_key[o] = key
            e = math.prod(ext[d] for d in dims)
            if o != "out":
                out[o] += e * bits[o] / 8
            else:
                tile = tuple(at.get(d, 0) for d in dims)
                visits.setdefault(tile, [e, 0])[1] += 1
    for e, v in visits.values():
        out["out"] += e * bits["out"] / 8 + 2 * (v - 1) * e * acc_bits / 8
    return out


def test_walk_hand_example():
    # M=N=K=10, 4x4x4 tiles, int8, partial sums at 32 bits.
    # M>N>K (K innermost): act 10*10*ceil(10/4) = 300, weight 300, out 100 (no partial sums)
    b = {"act": 8, "weight": 8, "out": 8}
    t = {"M": 4, "N": 4, "K": 4}
    s = {"M": 10, "N": 10, "K": 10}
    assert _walk_bytes("MNK", s, t, b) == {"act": 300, "weight": 300, "out": 100}
    # M>K>N: act once (100), weight 300, each output visited 3 times: 100 finals + 2 spills
    # and 2 refills of 4 bytes each = 100 + 100 * 2 * 2 * 4 = 1700
    assert _walk_bytes("MKN", s, t, b) == {"act": 100, "weight": 300, "out": 1700}


@pytest.mark.parametrize("seed", range(4))
def test_ilp_mapping_bytes_match_an_independent_walk(seed):
    rng = np.random.default_rng(100 + seed)
    m, n, k = (int(v) for v in rng.integers(3, 120, 3))
    bw = float(rng.choice([1.5, 3, 7]))
    acc = accel.systolic(
        int(rng.choice([4, 8])),
        int(rng.choice([4, 8])),
        dataflow=str(rng.choice(["os", "ws", "is"])),
        act_sram_bytes=int(rng.choice([256, 1024])),
        weight_sram_bytes=int(rng.choice([256, 1024])),
        out_sram_bytes=int(rng.choice([1024, 4096])),
        dram_bw=bw,
        out_fmt="int16",
    )
    layer = workloads.gemm(m, n, k).layers[0]
    bits = {"act": 8, "weight": 8, "out": 16}
    size = {"M": m, "N": n, "K": k}
    for objective in ("traffic", "latency"):
        got = map_layer(acc, layer, objective)
        assert got.status == "optimal", got.reason
        tiles = {d.upper(): v for d, v in got.tiles.items()}
        order = [d for d in got.order.split(">") if d in "MNK"]
        order += [d for d in "MNK" if d not in order]
        walk = _walk_bytes(order, size, tiles, bits)
        assert got.dram_bytes == pytest.approx(walk)
        # latency: compute bound or the DRAM channel, whichever is longer
        assert got.cycles == pytest.approx(max(got.compute_cycles, sum(walk.values()) / bw))
        # the output tile fits at the accumulator width when K is split
        out_bits = 32 if tiles["K"] < k else 16
        fit = tile_fits(acc, tiles["M"], tiles["N"], tiles["K"], out_bits=out_bits)
        assert fit["out"] <= 0 or acc.dataflow != "os"


def test_elementwise_layer_by_hand():
    # 1001 elements, 3 int8 inputs, on a 4-column vector unit: ceil(1001/4) = 251 cycles;
    # reads 3 * 1001 = 3003 B, writes 1001 B. At 3 B/cycle (one tile): load ceil(3003/3) = 1001,
    # compute 251, write-back ceil(1001/3) = 334 -> 1586 cycles.
    from hwsim.workloads.layers import Layer

    wl = workloads.Workload("ew", (Layer("add", "elementwise", 1001, inputs=3),))
    rep = hwsim.simulate(accel.systolic(4, 4), wl, mapping=SS)
    row = rep.layers.iloc[0]
    assert rep.cycles == 251 and row["compute_cycles"] == 251
    assert (row["dram_read_bytes_act"], row["dram_write_bytes_out"]) == (3003, 1001)
    slow = hwsim.simulate(accel.systolic(4, 4, dram_bw=3), wl, mapping=SS)
    assert slow.cycles == 1001 + 251 + 334


def test_mapping_utilization_on_a_non_square_array():
    # OS gemm(48, 40, 70) on 32 rows x 16 cols: Sr = 48 -> 2 row folds, Sc = 40 -> 3 column
    # folds; useful PEs 48 * 40 = 1920 of 2 * 32 * 3 * 16 = 3072 -> 0.625.
    assert accel.mapping_utilization("os", 32, 16, 48, 40, 70) == pytest.approx(0.625)
    # WS: Sr = K = 70 -> 3 folds of 32, Sc = N = 40 -> 3 of 16: 2800 / (3*32*3*16) = 0.6076
    assert accel.mapping_utilization("ws", 32, 16, 48, 40, 70) == pytest.approx(2800 / 4608)
    # cycles on the same array: 6 folds of 32 + 16 + 70 - 2 = 116 -> 696
    assert int(accel.gemm_cycles("os", 32, 16, 48, 40, 70)) == 696

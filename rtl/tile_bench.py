"""cocotb test module of the generated tile (run inside the simulator by `hwsim.rtl.tile_check`).

Plays the DRAM: one channel; a transfer seen on `dma_req` at falling edge 0 moves its words
over `fill_*` (reads: one act/weight word per cycle, edges 0..words-1) or `drain_*` (writes:
one result row per cycle, rows + 1 words: address, then read) and raises `dma_ack` for one
cycle at edge max(ceil(bytes / bandwidth), words) + latency - 1. Counts DRAM bytes per
operand, checks every result against the expected values (from the PE model, computed in
the parent process) and writes what it measured as JSON (HWSIM_TILE_JOB: the job; its
"result" key: the output path).
"""

from __future__ import annotations

import json
import math
import os

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import FallingEdge

COUNTERS = ("n_cycles", "n_array", "n_rd_act", "n_rd_w", "n_wr_out")


def _signed(v: int, bits: int) -> int:
    return v - (1 << bits) if v >> (bits - 1) & 1 else v


@cocotb.test()
async def tile_against_model(dut):
    job = json.loads(os.environ["HWSIM_TILE_JOB"])
    s = job["spec"]
    R, C, K, A = s["rows"], s["cols"], s["k"], s["acc_bits"]
    FC = -(-s["n"] // C)
    bw, lat = s["dram_bw"], s["dram_latency"]
    expect = job["expect"]  # [m][n] signed ints
    Clock(dut.clk, 10, unit="ns").start()
    for name in ("start", "dma_ack", "fill_we", "fill_op", "fill_addr", "fill_data", "drain_row"):
        getattr(dut, name).value = 0
    dut.rst.value = 1
    await FallingEdge(dut.clk)
    await FallingEdge(dut.clk)
    dut.rst.value = 0
    dut.start.value = 1
    await FallingEdge(dut.clk)
    dut.start.value = 0
    dram = {"read_act": 0.0, "read_weight": 0.0, "write_out": 0.0}
    fills = {"act": 0, "weight": 0}
    written = {}
    bad = []
    xfer = None  # the transfer in progress
    n_xfer = 0
    cycles = 1  # the start cycle
    limit = job["max_cycles"]
    while True:
        await FallingEdge(dut.clk)
        cycles += 1
        if cycles > limit:
            raise AssertionError(f"tile did not finish within {limit} cycles (fin never rose)")
        if int(dut.dma_ack.value):
            dut.dma_ack.value = 0
        dut.fill_we.value = 0  # a fill word is driven for one cycle
        if int(dut.fin.value):
            break
        if xfer is None and int(dut.dma_req.value) and not int(dut.dma_ack.value):
            wr, op, blk = int(dut.dma_wr.value), int(dut.dma_op.value), int(dut.dma_blk.value)
            if wr:
                i, j = divmod(blk, FC)
                rv, cv = min(R, s["m"] - i * R), min(C, s["n"] - j * C)
                nbytes, words = rv * cv * s["out_bytes"], rv + 1  # address, then read
                dram["write_out"] += nbytes
            elif op == 0:
                rv = min(R, s["m"] - blk * R)
                nbytes, words = rv * K * s["act_bytes"], K
                dram["read_act"] += nbytes
                fills["act"] += rv * K
            else:
                cv = min(C, s["n"] - blk * C)
                nbytes, words = K * cv * s["weight_bytes"], K
                dram["read_weight"] += nbytes
                fills["weight"] += K * cv
            dur = max(0 if bw is None else math.ceil(nbytes / bw), words) + lat
            xfer = dict(wr=wr, op=op, blk=blk, t=0, dur=dur, words=words)
            n_xfer += 1
        if xfer is None:
            continue
        t = xfer["t"]
        if xfer["wr"]:
            if 1 <= t < xfer["words"]:  # row t-1, addressed one cycle ago
                r = t - 1
                i, j = divmod(xfer["blk"], FC)
                data = int(dut.drain_data.value)
                for c in range(min(C, s["n"] - j * C)):
                    got = _signed((data >> (c * A)) & ((1 << A) - 1), A)
                    m, n = i * R + r, j * C + c
                    written[(m, n)] = written.get((m, n), 0) + 1
                    if got != expect[m][n] and len(bad) < 5:
                        bad.append(f"Y[{m},{n}] = {got}, expected {expect[m][n]}")
            if t < xfer["words"] - 1:
                dut.drain_row.value = t
        else:
            if t < xfer["words"]:
                words = job["act_words" if xfer["op"] == 0 else "weight_words"][xfer["blk"]]
                base = xfer["blk"] * K if (xfer["op"] == 1 and s["weight_whole"]) else 0
                dut.fill_we.value, dut.fill_op.value = 1, xfer["op"]
                dut.fill_addr.value, dut.fill_data.value = base + t, words[t]
        xfer["t"] = t + 1
        if xfer["t"] >= xfer["dur"]:
            dut.dma_ack.value = 1
            xfer = None
    res = {c: int(getattr(dut, c).value) for c in COUNTERS}
    missing = sum(1 for m in range(s["m"]) for n in range(s["n"]) if written.get((m, n), 0) != 1)
    res.update(bench_cycles=cycles, dram=dram, fills=fills, transfers=n_xfer)
    res.update(bad=bad, outputs_not_written_once=missing)
    with open(job["result"], "w") as f:
        json.dump(res, f)
    dut._log.info("hwsim tile: %s", res)

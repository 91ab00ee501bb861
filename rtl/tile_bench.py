"""cocotb test module of the generated tile (run inside the simulator by `hwsim.rtl.tile_check`).

Plays the DRAM: one channel; a transfer seen on `dma_req` at falling edge 0 is looked up in
the job's plans by (kind, block) and moves its words over `fill_*` (reads: one act/weight
word per cycle at the plan's buffer addresses, edges 0..words-1) or `drain_*` (writes: one
result row per cycle at the plan's out-buffer addresses, rows + 1 words: address, then read)
and raises `dma_ack` for one cycle at edge max(ceil(bytes / bandwidth), words) + latency - 1.
Partial sums (a nest splitting K): a "write_psum" transfer stores the drained accumulators in
the model's DRAM by (block, element); a "read_psum" transfer fills the out buffer with what
was stored under its block (one out row per word through `fill_*`, fill_op 2), so a tile
reading a block it never wrote fails. Counts DRAM bytes per operand, the elements filled into
act/weight/out and read out of `out`,
checks every result against the expected values (from the PE model, computed in the parent
process) and writes what it measured as JSON (HWSIM_TILE_JOB: the job; its "result" key:
the output path).
"""

from __future__ import annotations

import json
import math
import os

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import FallingEdge

#: counter outputs of the tile (`n_rd_out` only where partial sums meet in `out`; else 0)
COUNTERS = ("n_cycles", "n_array", "n_rd_act", "n_rd_w", "n_wr_out", "n_rd_out")


def _signed(v: int, bits: int) -> int:
    return v - (1 << bits) if v >> (bits - 1) & 1 else v


@cocotb.test()
async def tile_against_model(dut):
    job = json.loads(os.environ["HWSIM_TILE_JOB"])
    s = job["spec"]
    A = s["acc_bits"]
    bw, lat = s["dram_bw"], s["dram_latency"]
    plans = job["plans"]
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
    dram = {
        "read_act": 0.0,
        "read_weight": 0.0,
        "read_psum": 0.0,
        "write_out": 0.0,
        "write_psum": 0.0,
    }
    fills = {"act": 0, "weight": 0, "out": 0}
    stored = {}  # (block, m, n) -> partial sum the tile wrote to DRAM (signed)
    drained = 0  # elements read out of the out buffer by write-backs
    written = {}
    bad = []
    xfer = None  # the transfer in progress
    n_xfer = 0
    cycles = 1  # the start cycle
    limit = job["max_cycles"]
    kinds = {0: "read_act", 1: "read_weight", 2: "read_psum"}
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
            kind = ("write_out" if op == 2 else "write_psum") if wr else kinds.get(op)
            plan = plans.get(f"{kind}:{blk}")
            if plan is None:
                raise AssertionError(f"tile requested {kind} block {blk}, which does not exist")
            dram[kind] += plan["bytes"]
            if wr:
                words = len(plan["drain"]) + 1  # address, then read
            else:
                words = len(plan["fill"])
                fills[("act", "weight", "out")[op]] += plan["elems"]
            dur = max(0 if bw is None else math.ceil(plan["bytes"] / bw), words) + lat
            xfer = dict(wr=wr, op=op, plan=plan, t=0, dur=dur, words=words, blk=blk)
            n_xfer += 1
        if xfer is None:
            continue
        t = xfer["t"]
        if xfer["wr"]:
            drain = xfer["plan"]["drain"]
            if 1 <= t < xfer["words"]:  # row t-1, addressed one cycle ago
                _, m, n0, ncols = drain[t - 1]
                data = int(dut.drain_data.value)
                drained += ncols
                for c in range(ncols):
                    got = _signed((data >> (c * A)) & ((1 << A) - 1), A)
                    n = n0 + c
                    if xfer["op"] == 3:  # partial sums: kept for the block's read-back
                        stored[(xfer["blk"], m, n)] = got
                        continue
                    written[(m, n)] = written.get((m, n), 0) + 1
                    if got != expect[m][n] and len(bad) < 5:
                        bad.append(f"Y[{m},{n}] = {got}, expected {expect[m][n]}")
            if t < xfer["words"] - 1:
                dut.drain_row.value = drain[t][0]
        else:
            if t < xfer["words"] and xfer["op"] == 2:  # partial sums written earlier
                addr, m, n0, ncols = xfer["plan"]["fill"][t]
                data = 0
                for c in range(ncols):
                    key = (xfer["blk"], m, n0 + c)
                    if key not in stored:
                        raise AssertionError(f"tile read partial sum {key} it never wrote")
                    data |= (stored[key] & ((1 << A) - 1)) << (c * A)
                dut.fill_we.value, dut.fill_op.value = 1, 2
                dut.fill_addr.value, dut.fill_data.value = addr, data
            elif t < xfer["words"]:
                addr, data = xfer["plan"]["fill"][t]
                dut.fill_we.value, dut.fill_op.value = 1, xfer["op"]
                dut.fill_addr.value, dut.fill_data.value = addr, data
        xfer["t"] = t + 1
        if xfer["t"] >= xfer["dur"]:
            dut.dma_ack.value = 1
            xfer = None
    res = {c: int(getattr(dut, c).value) if hasattr(dut, c) else 0 for c in COUNTERS}
    missing = sum(1 for m in range(s["m"]) for n in range(s["n"]) if written.get((m, n), 0) != 1)
    res.update(bench_cycles=cycles, dram=dram, fills=fills, drained=drained, transfers=n_xfer)
    res.update(bad=bad, outputs_not_written_once=missing)
    with open(job["result"], "w") as f:
        json.dump(res, f)
    dut._log.info("hwsim tile: %s", res)

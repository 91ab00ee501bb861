"""SimPy processes for one layer: DMA loads, array compute, write-backs (events = tiles).

A layer's folds are grouped into at most ``acc.max_tiles`` tiles; each tile is one load, one
compute and one write-back event, its DRAM traffic the layer's traffic (see
:mod:`hwsim.accel.memory`) spread evenly over the folds. Loads go through the DRAM channel
resource; a buffer-slot container allows one (single-) or two (double-buffered) tiles resident.
Compute waiting for its data is a stall, attributed to *dependency* (first tile: nothing to
overlap with; the write-back tail after the last tile), *capacity* (single-buffered, or the
share of traffic caused by blocks that do not fit their buffer) or *DRAM bandwidth* (the rest).
"""

from __future__ import annotations

import math
import numbers

import numpy as np
import simpy

from .arch import Accelerator
from .memory import GemmPlan, plan_gemm
from .pe_adapter import PETiming
from .systolic import fill_drain_cycles, spatial_temporal

TIMELINE_COLUMNS = ("layer", "resource", "step", "start_cycle", "end_cycle")


def _split(total: float, parts: np.ndarray) -> np.ndarray:
    """Spread ``total`` over groups proportionally to ``parts`` (counts)."""
    return total * parts / parts.sum()


def run_steps(
    acc: Accelerator,
    compute: np.ndarray,
    read_bytes: np.ndarray,
    write_bytes: np.ndarray,
    capacity_share: float,
    layer: str = "",
    timeline: list | None = None,
    tail_read_bytes: float = 0.0,
) -> dict:
    """Simulate steps (compute cycles, DRAM bytes in/out per step); returns cycle totals.
    ``tail_read_bytes``: bytes read after the last step's load, during its compute (the next
    layer's first weight tile, prefetched); the layer ends when that read is done too."""
    env = simpy.Environment()
    dram = simpy.Resource(env, capacity=acc.dram.channels)
    double = all(acc.buffer(o).double_buffered for o in ("act", "weight"))
    slots = simpy.Container(env, capacity=2 if double else 1, init=2 if double else 1)
    ready = simpy.Store(env)
    dma = simpy.Resource(env, capacity=acc.dram.dma_engines)
    lat = acc.dram.latency_cycles
    n = len(compute)
    stalls = {"dependency": 0.0, "capacity": 0.0, "dram_bw": 0.0}
    done = {"compute_end": 0.0, "writes": []}

    def transfer(nbytes: float, step: int, what: str):
        with dma.request() as d:
            yield d
            with dram.request() as req:
                yield req
                t0 = env.now
                yield env.timeout(acc.dram.transfer_cycles(nbytes))
            if lat:
                yield env.timeout(lat)
            if timeline is not None:
                timeline.append((layer, what, step, t0, env.now))

    def loader():
        for s in range(n):
            yield slots.get(1)
            if read_bytes[s] > 0:
                yield env.process(transfer(read_bytes[s], s, "dram_read"))
            ready.put(s)
        if tail_read_bytes > 0:
            yield env.process(transfer(tail_read_bytes, n, "prefetch_read"))

    def array():
        for s in range(n):
            t0 = env.now
            yield ready.get()
            wait = env.now - t0
            if s == 0:
                stalls["dependency"] += wait
            elif not double:
                stalls["capacity"] += wait
            else:
                stalls["capacity"] += wait * capacity_share
                stalls["dram_bw"] += wait * (1 - capacity_share)
            t1 = env.now
            yield env.timeout(compute[s])
            if timeline is not None:
                timeline.append((layer, "array", s, t1, env.now))
            slots.put(1)
            if write_bytes[s] > 0:
                done["writes"].append(env.process(transfer(write_bytes[s], s, "dram_write")))
        done["compute_end"] = env.now

    env.process(loader())
    env.process(array())
    env.run()
    end = env.now
    stalls["dependency"] += end - done["compute_end"]  # write-back tail
    return {"cycles": int(math.ceil(end)), **{f"stall_{k}": v for k, v in stalls.items()}}


def timing_row(res: dict, compute_cycles: int) -> dict:
    """The cycle columns of a layer row: total, compute, stalls (all and by cause)."""
    return {
        "cycles": res["cycles"],
        "compute_cycles": compute_cycles,
        "stall_cycles": res["cycles"] - compute_cycles,
        "stall_dram_bw": res["stall_dram_bw"],
        "stall_capacity": res["stall_capacity"],
        "stall_dependency": res["stall_dependency"],
    }


def _groups(steps: int, max_tiles: int) -> np.ndarray:
    """Steps per simulated tile: ``steps`` merged into at most ``max_tiles`` groups."""
    g = min(steps, max_tiles)
    base, extra = divmod(steps, g)
    return np.array([base + (i < extra) for i in range(g)], dtype=np.float64)


def simulate_gemm(
    acc: Accelerator,
    timing: PETiming,
    m: int,
    n: int,
    k: int,
    batch: int = 1,
    name: str = "",
    timeline: list | None = None,
) -> dict:
    """One (batched) GEMM layer: cycles, stalls, utilization, traffic (bytes) and events."""
    plan: GemmPlan = plan_gemm(acc, m, n, k, batch)
    sr, sc, t = spatial_temporal(acc.dataflow, m, n, k)
    stream = timing.dot_cycles(t)
    fold = fill_drain_cycles(acc.dataflow, acc.rows, acc.cols) + stream
    groups = _groups(plan.folds, acc.max_tiles)  # folds per simulated tile
    compute = groups * fold
    reads = sum(plan.dram_read.values())
    writes = sum(plan.dram_write.values())
    traffic = reads + writes
    res = run_steps(
        acc,
        compute,
        _split(reads, groups),
        _split(writes, groups),
        plan.capacity_bytes / traffic if traffic else 0.0,
        name,
        timeline,
    )
    dots = sr * sc * batch
    busy = dots * stream  # PE-cycles doing useful work
    row = {
        **timing_row(res, int(compute.sum())),
        "macs": m * n * k * batch,
        "folds": plan.folds,
        "tiles": len(groups),
        "utilization": busy / (acc.num_pes * res["cycles"]),
    }
    for o in ("act", "weight", "out"):
        row[f"dram_read_bytes_{o}"] = plan.dram_read[o]
        row[f"dram_write_bytes_{o}"] = plan.dram_write[o]
        row[f"sram_read_bytes_{o}"] = plan.sram_read[o]
        row[f"sram_write_bytes_{o}"] = plan.sram_write[o]
    row["events"] = {e: c * batch for e, c in timing.gemm_events(m, n, k).items()}
    return row


def simulate_elementwise(
    acc: Accelerator, elements: int, inputs: int = 2, name: str = "", timeline: list | None = None,
    tail_read_bytes: float = 0.0,
) -> dict:  # fmt: skip
    """An elementwise layer on a cols-wide vector unit: ceil(elements / cols) cycles of compute,
    ``inputs`` activation tensors read and one written (bytes of the act/out formats);
    ``tail_read_bytes`` as in :func:`run_steps`."""
    if isinstance(elements, bool) or not isinstance(elements, numbers.Integral) or elements <= 0:
        raise ValueError(f"elementwise size must be a positive int, got {elements!r}")
    elements = int(elements)
    compute_total = math.ceil(elements / acc.cols)
    steps = max(1, min(acc.max_tiles, math.ceil(compute_total / 4096)))
    groups = _groups(steps, acc.max_tiles)
    rd = elements * inputs * acc.bits("act") / 8
    wr = elements * acc.bits("out") / 8
    res = run_steps(
        acc,
        _split(compute_total, groups),
        _split(rd, groups),
        _split(wr, groups),
        0.0,
        name,
        timeline,
        tail_read_bytes,
    )
    row = {
        **timing_row(res, compute_total),
        "macs": 0,
        "folds": 0,
        "tiles": len(groups),
        "utilization": 0.0,
    }
    for o in ("act", "weight", "out"):
        row[f"dram_read_bytes_{o}"] = rd if o == "act" else 0.0
        row[f"dram_write_bytes_{o}"] = wr if o == "out" else 0.0
        row[f"sram_read_bytes_{o}"] = rd if o == "act" else 0.0
        row[f"sram_write_bytes_{o}"] = (rd if o == "act" else 0.0) + (wr if o == "out" else 0.0)
    row["events"] = {f"add_{int(math.ceil(acc.bits('act')))}": elements}
    row["prefetch_weight_bytes"] = row["weight_tile_bytes"] = 0.0
    return row

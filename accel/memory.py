"""Tiling plan and precision-aware traffic of one (batched) GEMM on a systolic array.

Loop order (one *step* = one outer iteration, all inner folds):

* OS: outer = row folds (an R x K activation block stays resident), inner = column folds;
  weights are re-streamed every step unless the whole weight matrix fits its buffer.
* WS / IS: outer = column folds (the partial-sum block stays resident in the output buffer),
  inner = row folds; the streamed input is re-read every step unless it fits whole.

A resident block larger than its buffer's tile capacity is re-read per fold (inputs) or
spilled as partial sums (outputs). All traffic beyond the compulsory (each input read once,
the output written once) is counted as *capacity* traffic.
Traffic is in bytes of the storage format (bits per element incl. scale overhead / 8).
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

from .arch import Accelerator
from .systolic import fold_counts, spatial_temporal


@dataclass(frozen=True)
class GemmPlan:
    """Steps, folds and per-operand traffic (bytes) of one batched GEMM."""

    steps: int  # outer iterations, all batch items (count)
    folds_per_step: int  # folds in one step (count)
    folds: int  # total folds (count)
    dram_read: dict  # operand -> bytes read from DRAM
    dram_write: dict  # operand -> bytes written to DRAM
    capacity_bytes: float  # part of DRAM traffic caused by blocks that do not fit (bytes)
    sram_read: dict  # operand -> bytes read from SRAM by the array
    sram_write: dict  # operand -> bytes written into SRAM (fills and results)


def _fits(acc: Accelerator, operand: str, elements: float) -> bool:
    return elements * acc.bits(operand) / 8 <= acc.buffer(operand).tile_bytes


def _require(acc: Accelerator, operand: str, elements: float, what: str) -> None:
    need = elements * acc.bits(operand) / 8
    cap = acc.buffer(operand).tile_bytes
    if need > cap:
        raise ValueError(
            f"{what} ({math.ceil(need)} bytes of {operand!r}) does not fit buffer {operand!r}: "
            f"{cap} bytes usable of {acc.buffer(operand).size_bytes} "
            f"({'double-buffered' if acc.buffer(operand).double_buffered else 'single'})"
        )


def plan_gemm(acc: Accelerator, m: int, n: int, k: int, batch: int = 1) -> GemmPlan:
    """Closed-form tiling and traffic of Y[M,N] = X[M,K] W[K,N] (``batch`` independent copies)."""
    for name, v in (("M", m), ("N", n), ("K", k), ("batch", batch)):
        if isinstance(v, bool) or not isinstance(v, numbers.Integral) or v <= 0:
            raise ValueError(f"GEMM {name} must be a positive int, got {v!r}")
    m, n, k, batch = int(m), int(n), int(k), int(batch)
    R, C, df = acc.rows, acc.cols, acc.dataflow
    sr, sc, t = spatial_temporal(df, m, n, k)
    fr, fc = (int(x) for x in fold_counts(df, R, C, m, n, k))
    size = {"act": m * k, "weight": k * n, "out": m * n}  # elements per batch item
    byte = {o: acc.bits(o) / 8 for o in size}
    rd = dict.fromkeys(size, 0.0)
    wr = dict.fromkeys(size, 0.0)
    # Streaming operands must at least hold one array-edge vector per tile.
    for op in ("act", "weight"):
        _require(acc, op, max(R, C), "one array-edge vector")
    if df == "os":
        _require(acc, "out", min(R, sr) * min(C, sc), "one output fold")
        outer, inner = fr, fc
        block = min(R, sr) * k
        rd["act"] = size["act"]
        if not _fits(acc, "act", block):
            rd["act"] = size["act"] * fc
        rd["weight"] = (
            size["weight"] if _fits(acc, "weight", size["weight"]) else size["weight"] * fr
        )
        wr["out"] = size["out"]
        sram_read = {"act": size["act"] * fc, "weight": size["weight"] * fr, "out": 0}
        sram_write = {"act": rd["act"], "weight": rd["weight"], "out": size["out"]}
    else:
        stationary, streamed = ("weight", "act") if df == "ws" else ("act", "weight")
        _require(acc, stationary, min(R, sr) * min(C, sc), "one stationary fold")
        outer, inner = fc, fr
        rd[stationary] = size[stationary]
        rd[streamed] = (
            size[streamed] if _fits(acc, streamed, size[streamed]) else size[streamed] * fc
        )
        block = t * min(C, sc)  # partial sums of one column fold
        wr["out"] = size["out"]
        if not _fits(acc, "out", block) and fr > 1:
            wr["out"] = size["out"] * fr
            rd["out"] = size["out"] * (fr - 1)
        sram_read = {
            stationary: size[stationary],
            streamed: size[streamed] * fc,
            "out": size["out"] * (fr - 1),
        }
        sram_write = {stationary: rd[stationary], streamed: rd[streamed], "out": size["out"] * fr}
    # Capacity traffic: everything beyond the compulsory traffic (inputs once, output once).
    cap = sum((rd[o] + wr[o] - size[o]) * byte[o] for o in size)
    return GemmPlan(
        steps=outer * batch,
        folds_per_step=inner,
        folds=fr * fc * batch,
        dram_read={o: rd[o] * byte[o] * batch for o in size},
        dram_write={o: wr[o] * byte[o] * batch for o in size},
        capacity_bytes=cap * batch,
        sram_read={o: sram_read[o] * byte[o] * batch for o in size},
        sram_write={o: sram_write[o] * byte[o] * batch for o in size},
    )

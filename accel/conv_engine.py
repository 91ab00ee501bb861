"""Execute a conv loop nest (from :mod:`hwsim.accel.mapping.conv_mapper`) through the engine.

DRAM: per step, the bytes of :func:`~hwsim.accel.nest_engine.dram_traffic` on the conv nest
(input tiles as distinct padded positions, halos refetched per tile, partial sums at the
accumulator width); they sum exactly to the analytic access counts (tested).

Array and SRAM: each step's tile is computed in its im2col view (M = n*p*q, N = k,
K = c*r*s) with the GEMM path's timing, and the SRAM reads by the array are that view's
(the im2col matrix is formed while the array reads the buffer: a sliding window reads an
input element once per filter tap it meets). SRAM writes are the DRAM fills (distinct
elements) and the array's output updates; outputs are read once per update that meets a
previous partial sum and once per write-back, at the accumulator width where partial sums
meet (the GEMM path's counts for a 1x1 conv, tested).
"""

from __future__ import annotations

import numpy as np

from .arch import Accelerator
from .engine import timing_row
from .mapping.access import count_accesses
from .mapping.conv_mapper import IM2COL, conv_out_bits, im2col_steps
from .mapping.gemm_mapper import DIMS, gemm_nest
from .mapping.loopnest import LoopNest
from .mapping.problem import gemm_problem
from .nest_engine import (
    OPERANDS,
    dram_traffic,
    level_columns,
    prefetch_columns,
    run_dram_steps,
)
from .pe_adapter import PETiming


def _array_counts(acc: Accelerator, m: int, n: int, k: int) -> list:
    """Access counts of the array computing one m x n x k tile held whole in the SRAM (the
    GEMM skeleton's ``sram`` and ``reg`` levels)."""
    prob = gemm_problem(m, n, k)
    return count_accesses(gemm_nest(acc, prob, {"B": 1, "M": m, "N": n, "K": k}, DIMS))


def _array_sram(counts: list) -> dict:
    """SRAM accesses (elements) of :func:`_array_counts`: {operand: (reads, writes)};
    outputs: (updates, updates) from the array."""
    out = {}
    for a in counts:
        if a.level != "sram":
            continue
        if a.operand == "out":
            out["out"] = (a.updates, a.updates)
        else:
            out[a.operand] = (a.reads, 0)
    return out


def sram_traffic(acc: Accelerator, ext: dict, tr: dict, bits: dict | None = None,
                 acc_bits: float = 32.0, outputs: int = 0) -> dict:  # fmt: skip
    """SRAM elements {operand: (reads, writes)} of a conv nest's steps (see module doc) and,
    under "levels", the register-file bytes of the array's im2col tiles
    (:func:`~hwsim.accel.nest_engine.level_columns`; needs ``bits``), counted per DRAM step:
    an output held in the PEs (OS) is re-filled in every step after its first (``outputs``:
    the layer's output elements), while a stationary input kept in its PE from one DRAM step
    to the next is counted as reloaded (exact on the GEMM path)."""
    view = np.stack([np.prod([ext[d] for d in ds], axis=0) for ds in IM2COL.values()], axis=1)
    shapes, counts = np.unique(view, axis=0, return_counts=True)
    reads = dict.fromkeys(OPERANDS, 0.0)
    writes = dict.fromkeys(OPERANDS, 0.0)
    levels: dict = {}
    visits = 0.0  # (PE, output) pairs summed over steps, when the output is held in the PEs
    for (m, n, k), cnt in zip(shapes, counts, strict=True):
        rows = _array_counts(acc, int(m), int(n), int(k))
        visits += sum(float(a.first) * cnt for a in rows if a.level == "reg" and a.operand == "out")
        for o, (r, w) in _array_sram(rows).items():
            reads[o] += float(r) * cnt
            writes[o] += float(w) * cnt
        if bits is not None:
            for c, v in level_columns(rows, bits, acc_bits).items():
                levels[c] = levels.get(c, 0.0) + v * float(cnt)
    if bits is not None and visits:
        levels["reg_write_bytes_out"] += (visits - outputs) * acc_bits / 8
    return {"reads": reads, "writes": writes, "levels": levels}


def simulate_conv_nest(
    acc: Accelerator,
    timing: PETiming,
    nest: LoopNest,
    acc_bits: float,
    name: str = "",
    timeline: list | None = None,
    prefetch: tuple[bool, float] = (False, 0.0),
) -> dict:
    """One conv layer executed as ``nest``: cycles, stalls, traffic per operand (bytes), PE
    events (the same row as :func:`~hwsim.accel.nest_engine.simulate_nest`)."""
    size = nest.problem.size
    bits = {o: acc.bits(o) for o in OPERANDS}
    tr = dram_traffic(nest, bits, acc_bits)
    ext = tr["extents"]
    folds, dots, useful = im2col_steps(acc, ext, timing.dot_cycles)
    compute_steps = acc.compute_cycles(folds, dots)
    res, tiles = run_dram_steps(acc, nest, compute_steps, tr, bits, name, timeline, prefetch)
    m = size["N"] * size["P"] * size["Q"]
    n, k = size["K"], size["C"] * size["R"] * size["S"]
    total_compute = int(compute_steps.sum())
    row = {
        **timing_row(res, total_compute),
        "macs": m * n * k,
        "folds": int(folds.sum()),
        "tiles": tiles,
        "utilization": float((useful * dots).sum()) / (acc.num_pes * res["cycles"])
        if res["cycles"]
        else 0.0,
    }
    sram = sram_traffic(acc, ext, tr, bits, acc_bits, nest.problem.elements("out"))
    ob = conv_out_bits(acc, nest, bits["out"], acc_bits)
    for o in OPERANDS:
        row[f"dram_read_bytes_{o}"] = float(tr["read"][o].sum())
        row[f"dram_write_bytes_{o}"] = float(tr["write"][o].sum())
        if o not in sram["reads"]:
            continue
        b = ob if o == "out" else bits[o]
        r, w = sram["reads"][o], sram["writes"][o]
        if o == "out":
            # an update reads the previous partial sum unless it is the element's first
            # (U - E reads); every write-back, the E finals and the spills, reads the SRAM
            # (E + refetched); refetched partial sums are written in: U + refetched each
            refetch = row["dram_read_bytes_out"] * 8 / acc_bits
            r += refetch
            w += refetch
        else:  # DRAM fills: the distinct elements of each tile
            w += row[f"dram_read_bytes_{o}"] * 8 / bits[o]
        row[f"sram_read_bytes_{o}"] = r * b / 8
        row[f"sram_write_bytes_{o}"] = w * b / 8
    row.update(sram["levels"])
    row.update(prefetch_columns(nest, tr, bits))
    row["events"] = dict(timing.gemm_events(m, n, k))
    return row

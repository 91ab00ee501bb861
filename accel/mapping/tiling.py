"""ILP mapping of one GEMM layer over the loop-nest space (``map_layer``).

The space is the systolic skeleton the simulator runs (``gemm_mapper.gemm_nest``): an SRAM
tile (B, M, N, K), each dimension from ``map_gemm``'s candidates (multiples of the array
edge times powers of two, balanced tiles, the whole dimension), and any of the 24 DRAM loop
orders. One ILP per order (PuLP/CBC), one binary per candidate value of each dimension:

* DRAM traffic of an operand: its distinct elements, times ``n_d = ceil(size_d / T_d)`` for
  its irrelevant dimension d when d is split and some relevant split loop runs inside it
  (Timeloop's reuse rule, as ``access.count_accesses``). Every operand has at most one
  irrelevant dimension (a shared-weight batch is folded into M, the same GEMM), so the
  term is ``E * (1 + sum_i w_i (n_i - 1))`` with ``w_i = a AND x_i`` linearized, ``a`` the
  "some relevant loop inside is split" indicator. Partial sums (output, K split and active)
  leave and re-enter the chip at the accumulator width; the final copy is in the output
  format.
* Capacities are linear in the log domain (sum of log tile extents <= log capacity); the
  output tile is at the accumulator width when partial sums meet in the SRAM (K split at
  DRAM, or for WS/IS the K tile takes more than one row fold), an exact 0/1 indicator.
* Compute cycles are the array's exact timing of the stream tile (linear in its binaries).

Objectives: "latency" (max(compute, DRAM bytes / bandwidth), then fewest bytes: a second
solve), "traffic" (fewest DRAM bytes, then latency), "energy" (DRAM energy plus each DRAM
byte's SRAM fill or drain; the array-side SRAM and register accesses, which barely depend on
the tiling, are priced after the solve, not optimized), "edp" (energy's optimum, scored by
energy x cycles across orders). The reported ``energy_pj`` counts every level of the chosen
nest from its exact access counts: DRAM, SRAM, register file (PE arithmetic does not depend on
the mapping and is left out). On the same space ``map_gemm`` (exhaustive) reaches the same
optimum (tests/test_mapping_tiling.py). The accumulator buffer is not in this ILP.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field

import numpy as np
import pulp

from hwsim.accel.arch import Accelerator
from hwsim.accel.mapping._ilp import new_var, solve
from hwsim.accel.mapping.gemm_mapper import DIMS, ROWS_COLS, STREAM, _candidates, gemm_nest
from hwsim.accel.mapping.loopnest import LoopNest
from hwsim.accel.mapping.problem import Problem, gemm_problem

ORDERS = tuple(itertools.permutations(DIMS))
#: the former three orders (innermost DRAM loop k, n or m), still accepted by evaluate_tiling
LEGACY_ORDERS = {"k": ("B", "M", "N", "K"), "n": ("B", "M", "K", "N"), "m": ("B", "N", "K", "M")}
OBJECTIVES = ("latency", "energy", "edp", "traffic")
_LOG_SLACK = 1e-9  # tolerance of the log-domain capacity rows
_UNSHARED = ("bmm", "attn_qk", "attn_pv")  # layer kinds whose second operand differs per batch


@dataclass(frozen=True)
class Mapping:
    """Outcome of ``map_layer``.

    status: "optimal" | "infeasible" | solver status; tiles: {"m": Tm, "n": Tn, "k": Tk} (and
    "b" for a per-batch weight); order: the DRAM loops outer to inner, e.g. "N>K>M" (split
    loops first); cycles: latency estimate (cycles); compute_cycles; dram_bytes: {operand:
    bytes}; energy_pj: DRAM + SRAM + register-file energy of the nest (pJ); reason: on
    infeasibility, the binding buffer and by how much; solve_s: solver seconds; nest: the
    chosen :class:`LoopNest` (what ``simulate`` runs).
    """

    status: str
    tiles: dict = field(default_factory=dict)
    order: str | None = None
    cycles: float = math.nan
    compute_cycles: int = 0
    dram_bytes: dict = field(default_factory=dict)
    energy_pj: float = math.nan
    objective: str = "latency"
    reason: str = ""
    solve_s: float = 0.0
    nest: LoopNest | None = field(default=None, repr=False)


def layer_gemm(layer) -> Problem:
    """The layer as a GEMM problem: a per-batch second operand keeps B; a shared weight folds
    the batch into M (the same GEMM)."""
    m, n, k, batch = int(layer.m), int(layer.n), int(layer.k), int(getattr(layer, "batch", 1))
    name = getattr(layer, "name", "gemm")
    if getattr(layer, "kind", "gemm") in _UNSHARED:
        return gemm_problem(m, n, k, batch, shared_weight=False, name=name)
    return gemm_problem(m * batch, n, k, name=name)


def out_bits_needed(acc: Accelerator, problem: Problem, tiles: dict, acc_bits: float) -> float:
    """Bits per output element in the SRAM: ``acc_bits`` when partial sums meet there (K split
    at DRAM, or for WS/IS the K tile takes more than one row fold), else the output format."""
    tk = min(tiles.get("K", problem.size["K"]), problem.size["K"])
    meet = tk < problem.size["K"] or (acc.dataflow != "os" and -(-tk // acc.rows) > 1)
    return acc_bits if meet else acc.bits("out")


def tile_fits(acc: Accelerator, tm: int, tn: int, tk: int, tb: int = 1, *,
              out_bits: float | None = None) -> dict:  # fmt: skip
    """Bytes each buffer needs for the tile minus its usable bytes (<= 0 means it fits);
    ``out_bits``: the output tile's width (default: the output format)."""
    bits = {o: acc.bits(o) for o in ("act", "weight", "out")}
    if out_bits is not None:
        bits["out"] = out_bits
    need = {"act": tb * tm * tk, "weight": tk * tn, "out": tb * tm * tn}
    return {o: e * bits[o] / 8 - acc.buffer(o).tile_bytes for o, e in need.items()}


def _prices(acc: Accelerator) -> dict:
    """pJ per byte: DRAM read / write, and each operand buffer's SRAM access (45 nm)."""
    from hwsim.accel import cost

    out = {
        "dram_r": cost.dram_energy_pj(1.0, 0.0, acc.dram.spec),
        "dram_w": cost.dram_energy_pj(0.0, 1.0, acc.dram.spec),
    }
    for o in ("act", "weight", "out"):
        b = acc.buffer(o)
        out[o] = 8.0 * cost.sram_pj_per_bit(b.size_bytes / b.banks)
    return out


def _stream_compute(acc: Accelerator, problem: Problem, dot_cycles, cands: np.ndarray):
    """Exact compute cycles (ideal memory) for each stream tile candidate (``map_gemm``'s)."""
    r, c = ROWS_COLS[acc.dataflow]
    s = STREAM[acc.dataflow]
    size = problem.size
    folds_nonstream = size["B"] * (-(-size[r] // acc.rows)) * (-(-size[c] // acc.cols))
    out = []
    for t in cands:
        full, last = divmod(size[s], int(t))
        folds = [folds_nonstream * full] + ([folds_nonstream] if last else [])
        dots = [dot_cycles(int(t))] + ([dot_cycles(last)] if last else [])
        out.append(float(acc.compute_cycles(np.array(folds), np.array(dots)).sum()))
    return out


def evaluate_tiling(acc, layer, order, tiles, compute=None, prices=None) -> dict:
    """Cycles, DRAM bytes per operand and energy of one tiling: ``tiles`` {"m","n","k"[,"b"]}
    (omitted: whole) and ``order`` (the DRAM loops outer first, as dims or "N>K>M", or one
    of the former "k"/"n"/"m"); counted exactly from the loop nest (``access``)."""
    from hwsim.accel.pe_adapter import PETiming

    timing = PETiming(acc.pe, acc.pe_params)
    problem = layer_gemm(layer)
    if isinstance(order, str):
        order = LEGACY_ORDERS.get(order) or tuple(order.split(">"))
    order = tuple(order) + tuple(d for d in DIMS if d not in order)
    bad = sorted(set(order) - set(DIMS)) + sorted(set(tiles) - {"b", "m", "n", "k"})
    if bad:
        raise ValueError(f"unknown dimension(s) {bad}; use {DIMS} / tiles m, n, k, b")
    size = problem.size
    t = {d: min(int(tiles.get(d.lower(), size[d])), size[d]) for d in DIMS}
    nest = gemm_nest(acc, problem, t, order)
    if compute is None:
        s = STREAM[acc.dataflow]
        compute = _stream_compute(acc, problem, timing.dot_cycles, [t[s]])[0]
    return _evaluate_nest(acc, nest, timing.acc_bits, compute, prices or _prices(acc))


def _evaluate_nest(acc, nest: LoopNest, acc_bits: float, compute: float, prices: dict) -> dict:
    from hwsim.accel.level_energy import level_energy_pj
    from hwsim.accel.mapping.access import count_accesses
    from hwsim.accel.nest_engine import level_columns, out_sram_bits

    bits = {o: acc.bits(o) for o in ("act", "weight", "out")}
    rows = count_accesses(nest)
    byts, energy = {}, 0.0
    for a in rows:
        if a.level == "dram":
            if a.operand == "out":
                w = a.first * bits["out"] / 8 + (a.updates - a.first) * acc_bits / 8
                r = a.reads * acc_bits / 8
            else:
                w, r = 0.0, a.reads * bits[a.operand] / 8
            byts[a.operand] = r + w
            energy += r * prices["dram_r"] + w * prices["dram_w"]
        elif a.level == "sram":
            b = out_sram_bits(rows, bits, acc_bits) if a.operand == "out" else bits[a.operand]
            energy += (a.reads + a.writes) * b / 8 * prices[a.operand]
    energy += level_energy_pj(acc, level_columns(rows, bits, acc_bits))["energy_reg_pj"]
    bw = acc.dram.bandwidth_bytes_per_cycle
    cycles = float(max(compute, sum(byts.values()) / bw if bw else 0.0))
    return {"cycles": cycles, "dram_bytes": byts, "energy_pj": energy, "nest": nest}


def _check_inputs(acc, layer, objective):
    if not all(hasattr(acc, a) for a in ("rows", "cols", "dataflow", "buffer")):
        raise TypeError(
            f"map_layer: acc must be an Accelerator (hwsim.accel.systolic(...)), "
            f"got {type(acc).__name__}"
        )
    if not (hasattr(layer, "layers") or all(hasattr(layer, a) for a in ("m", "n", "k"))):
        raise TypeError(
            "map_layer: layer must be a hwsim.workloads.Layer or a one-layer Workload "
            f"(e.g. hwsim.workloads.gemm(M, N, K)), got {type(layer).__name__}"
        )
    if hasattr(layer, "layers"):  # a one-layer Workload (e.g. hwsim.workloads.gemm(...))
        if len(layer.layers) != 1:
            raise ValueError(f"map_layer takes one layer; {layer.name!r} has {len(layer.layers)}")
        layer = layer.layers[0]
    if objective not in OBJECTIVES:
        raise ValueError(f"objective must be one of {OBJECTIVES}, got {objective!r}")
    if getattr(layer, "kind", "gemm") == "elementwise":
        raise ValueError(f"layer {layer.name!r} is elementwise: nothing to tile")
    return layer


def map_layer(acc: Accelerator, layer, objective: str = "latency") -> Mapping:
    """Choose the SRAM tile and DRAM loop order of one GEMM-like ``layer``
    (``hwsim.workloads.Layer``) on ``acc`` by ILP over the loop-nest space (module doc)."""
    from hwsim.accel.pe_adapter import PETiming

    layer = _check_inputs(acc, layer, objective)
    timing = PETiming(acc.pe, acc.pe_params)
    acc_bits = timing.acc_bits
    problem = layer_gemm(layer)
    size = problem.size
    r, c = ROWS_COLS[acc.dataflow]
    s = STREAM[acc.dataflow]
    unit = {d: 1 for d in DIMS} | {r: acc.rows, c: acc.cols}
    cand = {d: [int(v) for v in _candidates(size[d], unit[d])] for d in DIMS}
    compute_s = _stream_compute(acc, problem, timing.dot_cycles, cand[s])
    bits = {o: acc.bits(o) for o in ("act", "weight", "out")}
    rel = {op.name: op.dims for op in problem.operands}
    elems = {o: problem.elements(o) for o in rel}

    # infeasibility diagnosis: the smallest tile of the skeleton (one array fold's edge on
    # the spatial dimensions, 1 elsewhere) is the least any order needs
    small = {d: cand[d][0] for d in DIMS}
    short = tile_fits(acc, small["M"], small["N"], small["K"], small["B"],
                      out_bits=out_bits_needed(acc, problem, small, acc_bits))  # fmt: skip
    short = {o: v for o, v in short.items() if v > 1e-9}
    best_compute = min(compute_s)
    if short:
        o, v = max(short.items(), key=lambda kv: kv[1])
        return Mapping("infeasible", objective=objective, compute_cycles=int(best_compute),
                       reason=f"buffer {o!r}: the smallest tile {small} needs {math.ceil(v)} "
                              f"bytes more than its {acc.buffer(o).tile_bytes} usable "
                              "bytes")  # fmt: skip

    prices = _prices(acc)
    first = objective
    results = []
    solve_s = 0.0
    seen = set()
    for order in ORDERS:
        key = tuple(d for d in order if size[d] > 1)  # a size-1 loop never runs
        if key in seen:
            continue
        seen.add(key)
        built = _build(acc, problem, order, cand, compute_s, bits, rel, elems, acc_bits, prices)
        prob, x, expr = built
        goal = {"latency": expr["latency"], "traffic": expr["bytes"], "energy": expr["energy"],
                "edp": expr["energy"]}[first]  # fmt: skip
        prob.setObjective(goal)
        status, dt = solve(prob)
        solve_s += dt
        if status not in ("optimal", "feasible"):
            continue
        opt = pulp.value(goal)
        # second objective: fewest bytes at the optimum (latency) / least latency (traffic)
        tiles = {d: cand[d][max(range(len(x[d])), key=lambda i: x[d][i].value() or 0)]
                 for d in DIMS}  # fmt: skip
        tie = {"latency": expr["bytes"], "traffic": expr["latency"]}.get(first)
        if tie is not None:
            # the solver reports values to ~8 digits: keep the first objective within 1e-6
            prob += goal <= opt * (1 + 1e-6) + 1e-3, "keep_first_objective"
            prob.setObjective(tie)
            status2, dt = solve(prob)
            solve_s += dt
            if status2 in ("optimal", "feasible"):
                tiles = {d: cand[d][max(range(len(x[d])), key=lambda i: x[d][i].value() or 0)]
                         for d in DIMS}  # fmt: skip
        results.append((order, tiles))
    if not results:
        return Mapping("infeasible", objective=objective, compute_cycles=int(best_compute),
                       reason="no tiling fits the buffers", solve_s=solve_s)  # fmt: skip
    best = None
    for order, tiles in results:
        comp = compute_s[cand[s].index(tiles[s])]
        n = {d: -(-size[d] // tiles[d]) for d in DIMS}
        used = tuple(d for d in order if n[d] > 1) + tuple(d for d in order if n[d] <= 1)
        ev = _evaluate_nest(acc, gemm_nest(acc, problem, tiles, used), acc_bits, comp, prices)
        traffic = sum(ev["dram_bytes"].values())
        key = {"latency": (ev["cycles"], traffic), "traffic": (traffic, ev["cycles"]),
               "energy": (ev["energy_pj"], ev["cycles"]),
               "edp": (ev["energy_pj"] * ev["cycles"], traffic)}[objective]  # fmt: skip
        if best is None or key < best[0]:
            best = (key, used, tiles, comp, ev)
    _, used, tiles, comp, ev = best
    out_tiles = {"m": tiles["M"], "n": tiles["N"], "k": tiles["K"]}
    if size["B"] > 1:
        out_tiles["b"] = tiles["B"]
    n = {d: -(-size[d] // tiles[d]) for d in DIMS}
    return Mapping(
        "optimal",
        out_tiles,
        ">".join(d for d in used if n[d] > 1) or "-",
        ev["cycles"],
        int(comp),
        ev["dram_bytes"],
        ev["energy_pj"],
        objective,
        solve_s=solve_s,
        nest=ev["nest"],
    )


def _build(acc, problem, order, cand, compute_s, bits, rel, elems, acc_bits, prices):
    """The ILP of one DRAM ``order``: (problem, binaries {dim: [vars]}, expressions
    {"bytes", "latency", "energy"})."""
    size = problem.size
    prob = pulp.LpProblem("map_" + "".join(order), pulp.LpMinimize)
    x = {d: [new_var(prob, f"x_{d}_{i}") for i in range(len(cand[d]))] for d in DIMS}
    for d in DIMS:
        prob += pulp.lpSum(x[d]) == 1, f"one_{d}"
    split = {d: pulp.lpSum(v for v, t in zip(x[d], cand[d], strict=True) if t < size[d])
             for d in DIMS}  # fmt: skip
    # output width in the SRAM: accumulator bits when partial sums meet there (exact 0/1)
    meet = new_var(prob, "meet")
    causes = [split["K"]]
    if acc.dataflow != "os":
        causes.append(pulp.lpSum(v for v, t in zip(x["K"], cand["K"], strict=True)
                                 if -(-t // acc.rows) > 1))  # fmt: skip
    for i, cause in enumerate(causes):
        prob += meet >= cause, f"meet_{i}"
    prob += meet <= pulp.lpSum(causes), "meet_only_if"
    for o in ("act", "weight", "out"):
        logs = pulp.lpSum(math.log(t) * v for d in rel[o]
                          for v, t in zip(x[d], cand[d], strict=True))  # fmt: skip
        cap = math.log(acc.buffer(o).tile_bytes * 8 / bits[o])
        if o == "out":
            logs = logs + math.log(acc_bits / bits["out"]) * meet
        prob += logs <= cap + _LOG_SLACK, f"cap_{o}"
    # DRAM traffic: one irrelevant dimension per operand, active when a relevant loop inside
    # it is split
    pos = {d: i for i, d in enumerate(order)}
    read_b, write_b = {}, {}
    for o in ("act", "weight", "out"):
        irr = [d for d in DIMS if d not in rel[o] and size[d] > 1]
        if len(irr) > 1:
            raise ValueError(f"operand {o!r} has irrelevant dimensions {irr}; fold the batch")
        extra = 0
        if irr:
            d = irr[0]
            inner = [q for q in rel[o] if pos[q] > pos[d]]
            if inner:
                a = new_var(prob, f"active_{o}")
                for q in inner:
                    prob += a >= split[q], f"active_{o}_{q}"
                w = [new_var(prob, f"w_{o}_{i}", cat="Continuous", low=0)
                     for i in range(len(cand[d]))]  # fmt: skip
                for i, (wi, xi) in enumerate(zip(w, x[d], strict=True)):
                    prob += wi >= a + xi - 1, f"and_{o}_{i}"
                extra = pulp.lpSum(wi * (-(-size[d] // t) - 1)
                                   for wi, t in zip(w, cand[d], strict=True))  # fmt: skip
        if o == "out":
            write_b[o] = elems[o] * bits["out"] / 8 + elems[o] * acc_bits / 8 * extra
            read_b[o] = elems[o] * acc_bits / 8 * extra
        else:
            read_b[o] = elems[o] * bits[o] / 8 * (1 + extra)
            write_b[o] = 0
    total = pulp.lpSum([*read_b.values(), *write_b.values()])
    compute = pulp.lpSum(t * v for v, t in zip(x[STREAM[acc.dataflow]], compute_s, strict=True))
    lat = new_var(prob, "latency", cat="Continuous", low=0)
    prob += lat >= compute, "compute_bound"
    bw = acc.dram.bandwidth_bytes_per_cycle
    if bw is not None:
        prob += lat >= total * (1.0 / bw), "bandwidth_bound"
    energy = pulp.lpSum(
        read_b[o] * (prices["dram_r"] + prices[o]) + write_b[o] * (prices["dram_w"] + prices[o])
        for o in read_b
    )
    return prob, x, {"bytes": total, "latency": lat, "energy": energy}

"""ILP tile mapping of one GEMM layer onto an accelerator's buffers (``map_layer``).

Decision: the on-chip tile (Tm, Tn, Tk) of Y[M,N] = X[M,K] W[K,N] and the DRAM-level loop
order, i.e. which loop is innermost:

    order     innermost  stays on chip    DRAM traffic (elements, per batch item)
    "k"       K          output tile      act M*K*ceil(N/Tn) + weight K*N*ceil(M/Tm) + out M*N
    "n"       N          activation tile  act M*K + weight K*N*ceil(M/Tm) + out M*N*(2*ceil(K/Tk)-1)
    "m"       M          weight tile      act M*K*ceil(N/Tn) + weight K*N + out M*N*(2*ceil(K/Tk)-1)

(partial sums leave and re-enter the chip in the ``out`` storage format when K is split).
Capacities: act Tm*Tk, weight Tk*Tn and out Tm*Tn elements, times their storage bits, must fit
the usable tile bytes of each buffer (half when double-buffered).

ILP (one per loop order, PuLP/CBC): one binary per candidate value of each tile dimension
(powers of two up to the dimension, and the dimension itself), exactly one chosen per
dimension; capacities are linear in the log domain (log Tm + log Tk <= log capacity); the
traffic terms above are each linear in one dimension's binaries; latency is
max(compute cycles, traffic / bandwidth) with a continuous variable. Objectives: "latency",
"energy" (DRAM + SRAM energy from the cost model), "edp" (both, lexicographically: latency
cannot fall below compute, so the solver minimizes traffic energy, then reports EDP), and
"traffic". Compute cycles are the array's exact fold timing for the layer, independent of
the tiling in this model, which is why the objectives often share an optimum.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import pulp

from hwsim.accel.arch import Accelerator
from hwsim.accel.mapping._ilp import new_var, solve

ORDERS = ("k", "n", "m")
OBJECTIVES = ("latency", "energy", "edp", "traffic")
_LOG_SLACK = 1e-9  # tolerance of the log-domain capacity rows


@dataclass(frozen=True)
class Mapping:
    """Outcome of ``map_layer``.

    status: "optimal" | "infeasible" | solver status; tiles: {"m": Tm, "n": Tn, "k": Tk};
    order: innermost DRAM loop; cycles: latency estimate (cycles); compute_cycles;
    dram_bytes: {operand: bytes}; energy_pj: DRAM + SRAM energy of the traffic (pJ);
    reason: on infeasibility, the binding buffer and by how much; solve_s: solver seconds.
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


def _candidates(d: int) -> list[int]:
    vals = {d}
    p = 1
    while p < d:
        vals.add(p)
        p *= 2
    return sorted(vals)


def traffic_elements(order: str, m: int, n: int, k: int, tm: int, tn: int, tk: int) -> dict:
    """DRAM traffic (elements per batch item) of a tiling; see the module table."""
    psum = m * n * (2 * math.ceil(k / tk) - 1)
    if order == "k":
        return {"act": m * k * math.ceil(n / tn), "weight": k * n * math.ceil(m / tm),
                "out": m * n}  # fmt: skip
    if order == "n":
        return {"act": m * k, "weight": k * n * math.ceil(m / tm), "out": psum}
    if order == "m":
        return {"act": m * k * math.ceil(n / tn), "weight": k * n, "out": psum}
    raise ValueError(f"unknown loop order {order!r}; use one of {ORDERS}")


def tile_fits(acc: Accelerator, tm: int, tn: int, tk: int) -> dict:
    """Bytes each buffer needs for the tile minus its usable bytes (<= 0 means it fits)."""
    need = {"act": tm * tk, "weight": tk * tn, "out": tm * tn}
    return {o: e * acc.bits(o) / 8 - acc.buffer(o).tile_bytes for o, e in need.items()}


def _costs(acc: Accelerator):
    """(pJ per DRAM byte, pJ per SRAM byte per operand) from the cost model."""
    from hwsim.accel import cost

    dram = cost.dram_energy_pj(1.0, 0.0, acc.dram.spec)  # one byte read
    sram = {}
    for o in ("act", "weight", "out"):
        b = acc.buffer(o)
        sram[o] = 8.0 * cost.sram_pj_per_bit(b.size_bytes / b.banks)  # written once, read once
    return dram, sram


def map_layer(acc: Accelerator, layer, objective: str = "latency") -> Mapping:
    """Choose tiles and loop order for one GEMM-like ``layer`` (``hwsim.workloads.Layer``)."""
    from hwsim.accel.pe_adapter import PETiming
    from hwsim.accel.systolic import fill_drain_cycles, fold_counts, spatial_temporal

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
    m, n, k, batch = int(layer.m), int(layer.n), int(layer.k), int(getattr(layer, "batch", 1))
    timing = PETiming(acc.pe, acc.pe_params)
    fr, fc = fold_counts(acc.dataflow, acc.rows, acc.cols, m, n, k)
    _, _, t = spatial_temporal(acc.dataflow, m, n, k)
    fold = fill_drain_cycles(acc.dataflow, acc.rows, acc.cols) + timing.dot_cycles(t)
    compute = int(batch * int(fr) * int(fc) * fold)
    bits = {o: acc.bits(o) for o in ("act", "weight", "out")}
    cap = {o: acc.buffer(o).tile_bytes * 8 / bits[o] for o in bits}  # elements
    dims = {"m": m, "n": n, "k": k}
    cand = {d: _candidates(v) for d, v in dims.items()}

    # infeasibility diagnosis: the smallest tile (1 x 1 x 1) is the least any order needs
    short = {o: v for o, v in tile_fits(acc, 1, 1, 1).items() if v > 0}
    if short:
        o, v = max(short.items(), key=lambda kv: kv[1])
        return Mapping("infeasible", objective=objective, compute_cycles=compute,
                       reason=f"buffer {o!r}: even a 1-element tile needs {v:.6g} bytes more "
                              f"than its {acc.buffer(o).tile_bytes} usable bytes")  # fmt: skip

    dram_pj, sram_pj = _costs(acc)
    bw = acc.dram.bandwidth_bytes_per_cycle
    best: Mapping | None = None
    solve_s = 0.0
    for order in ORDERS:
        prob = pulp.LpProblem(f"map_{order}", pulp.LpMinimize)
        x = {d: [new_var(prob, f"{d}_{i}") for i in range(len(cand[d]))] for d in dims}
        for d in dims:
            prob += pulp.lpSum(x[d]) == 1, f"one_{d}"

        for o, (a, b) in {"act": ("m", "k"), "weight": ("k", "n"), "out": ("m", "n")}.items():
            lhs = _weighted(cand[a], x[a], math.log) + _weighted(cand[b], x[b], math.log)
            prob += lhs <= math.log(cap[o]) + _LOG_SLACK, f"cap_{o}"

        def ceil_terms(d, total, x=x):  # sum_i x_i * ceil(total / T_i)
            return _weighted(cand[d], x[d], lambda v: math.ceil(total / v))

        if order == "k":
            elems = {"act": m * k * ceil_terms("n", n), "weight": k * n * ceil_terms("m", m),
                     "out": m * n}  # fmt: skip
        else:
            psum = m * n * (2 * ceil_terms("k", k) - 1)
            if order == "n":
                elems = {"act": m * k, "weight": k * n * ceil_terms("m", m), "out": psum}
            else:
                elems = {"act": m * k * ceil_terms("n", n), "weight": k * n, "out": psum}
        byts = {o: batch * bits[o] / 8 * e for o, e in elems.items()}
        total_bytes = pulp.lpSum(byts.values())
        energy = pulp.lpSum((dram_pj + sram_pj[o]) * byts[o] for o in byts)
        if objective == "latency" and bw is not None:
            lat = new_var(prob, "latency", cat="Continuous", low=compute)
            prob += lat >= total_bytes * (1.0 / bw), "bandwidth"
            prob += lat + 1e-9 * total_bytes  # tie-break toward less traffic
        elif objective == "traffic" or (objective == "latency" and bw is None):
            prob += total_bytes
        else:
            prob += energy
        status, dt = solve(prob)
        solve_s += dt
        if status not in ("optimal", "feasible"):
            continue
        tiles = {d: cand[d][max(range(len(x[d])), key=lambda i: x[d][i].value() or 0)]
                 for d in dims}  # fmt: skip
        res = evaluate_tiling(acc, layer, order, tiles, compute, dram_pj, sram_pj)
        res = Mapping(status, tiles, order, res["cycles"], compute, res["dram_bytes"],
                      res["energy_pj"], objective)  # fmt: skip
        if best is None or _score(res, objective) < _score(best, objective):
            best = res
    if best is None:
        return Mapping("infeasible", objective=objective, compute_cycles=compute,
                       reason="no tiling fits the buffers", solve_s=solve_s)  # fmt: skip
    return Mapping(**{**best.__dict__, "solve_s": solve_s})


def _weighted(values, binaries, f):
    """sum_i f(values[i]) * binaries[i] (a linear expression)."""
    return pulp.lpSum(f(v) * b for v, b in zip(values, binaries, strict=True))


def _score(m: Mapping, objective: str) -> tuple:
    traffic = sum(m.dram_bytes.values())
    if objective == "latency":
        return (m.cycles, traffic)
    if objective == "energy":
        return (m.energy_pj, m.cycles)
    if objective == "edp":
        return (m.energy_pj * m.cycles, traffic)
    return (traffic, m.cycles)


def evaluate_tiling(acc, layer, order, tiles, compute, dram_pj=None, sram_pj=None) -> dict:
    """Cycles, DRAM bytes per operand and energy of one tiling (the ILP's own cost model)."""
    if dram_pj is None:
        dram_pj, sram_pj = _costs(acc)
    batch = int(getattr(layer, "batch", 1))
    el = traffic_elements(order, layer.m, layer.n, layer.k, tiles["m"], tiles["n"], tiles["k"])
    byts = {o: batch * acc.bits(o) / 8 * e for o, e in el.items()}
    bw = acc.dram.bandwidth_bytes_per_cycle
    cycles = float(max(compute, sum(byts.values()) / bw if bw else 0.0))
    energy = sum((dram_pj + sram_pj[o]) * b for o, b in byts.items())
    return {"cycles": cycles, "dram_bytes": byts, "energy_pj": energy}

"""ILP placement of layers onto heterogeneous PE clusters.

Each layer runs on exactly one cluster; a cluster runs its layers back to back and clusters run
concurrently (a layer pipeline over a stream of inputs), so the makespan is the busiest
cluster's load in cycles. Tables are layers x clusters; NaN marks a cluster a layer cannot use.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pulp

from hwsim.accel.mapping._ilp import as_matrix, as_names, check_budget, new_var, over, solve


@dataclass(frozen=True, eq=False)
class PlacementProblem:
    """Per-layer, per-cluster latency (cycles) and energy (pJ) tables."""

    layers: tuple[str, ...]
    clusters: tuple[str, ...]
    latency_cycles: np.ndarray
    energy_pj: np.ndarray

    def __post_init__(self) -> None:
        layers = as_names("layers", self.layers)
        clusters = as_names("clusters", self.clusters)
        shape = (len(layers), len(clusters))
        object.__setattr__(self, "layers", layers)
        object.__setattr__(self, "clusters", clusters)
        for name in ("latency_cycles", "energy_pj"):
            object.__setattr__(self, name, as_matrix(name, getattr(self, name), shape))
        dead = [layers[i] for i in np.flatnonzero(~self.allowed.any(axis=1))]
        if dead:
            raise ValueError(f"layers with no allowed cluster (all NaN): {dead}")

    @property
    def allowed(self) -> np.ndarray:
        return np.isfinite(self.latency_cycles) & np.isfinite(self.energy_pj)

    def evaluate(self, assign: np.ndarray) -> tuple[float, float, np.ndarray]:
        """(makespan cycles, energy pJ, per-cluster load) of a cluster index per layer."""
        rows = np.arange(len(self.layers))
        lat = self.latency_cycles[rows, assign]
        load = np.bincount(assign, weights=lat, minlength=len(self.clusters))
        return float(load.max()), float(self.energy_pj[rows, assign].sum()), load


@dataclass(frozen=True)
class PlacementResult:
    """``status`` as in precision allocation; ``assignment`` maps layer -> cluster."""

    status: str
    assignment: dict[str, str]
    objective: float | None
    objective_name: str
    makespan_cycles: float | None = None
    energy_pj: float | None = None
    cluster_load_cycles: dict[str, float] | None = None
    reason: str | None = None
    solve_time_s: float = 0.0

    def to_frame(self) -> pd.DataFrame:
        """One row per layer: layer, cluster."""
        return pd.DataFrame(list(self.assignment.items()), columns=["layer", "cluster"])


def _model(p: PlacementProblem, objective: str, energy_cap, makespan_cap):
    ok = p.allowed
    prob = pulp.LpProblem("placement", pulp.LpMinimize)
    x = {
        (i, c): new_var(prob, f"x_{i}_{c}")
        for i in range(len(p.layers))
        for c in range(len(p.clusters))
        if ok[i, c]
    }
    t = new_var(prob, "makespan", "Continuous", 0)
    energy = pulp.lpSum(float(p.energy_pj[i, c]) * v for (i, c), v in x.items())
    prob += t if objective == "makespan" else energy
    for i in range(len(p.layers)):
        prob += pulp.lpSum(v for (k, _), v in x.items() if k == i) == 1, f"one_{i}"
    for c in range(len(p.clusters)):
        load = pulp.lpSum(float(p.latency_cycles[i, k]) * v for (i, k), v in x.items() if k == c)
        prob += load <= t, f"load_{c}"
        if makespan_cap is not None:
            prob += load <= makespan_cap, f"cap_{c}"
    if energy_cap is not None:
        prob += energy <= energy_cap, "energy_cap"
    return prob, x


def _run(p, objective, energy_cap, makespan_cap, time_limit_s, tie_break=True):
    prob, x = _model(p, objective, energy_cap, makespan_cap)
    status, dt = solve(prob, time_limit_s)
    if status not in ("optimal", "feasible"):
        return status, None, dt
    assign = np.zeros(len(p.layers), dtype=np.int64)
    for (i, c), v in x.items():
        if v.value() is not None and v.value() > 0.5:
            assign[i] = c
    if tie_break and objective == "makespan" and status == "optimal":
        # Lexicographic second stage: least energy among the minimum-makespan placements.
        best = p.evaluate(assign)[0]
        cap = best if makespan_cap is None else min(best, makespan_cap)
        st2, a2, dt2 = _run(p, "energy", energy_cap, cap * (1 + 1e-9) + 1e-9, time_limit_s, False)
        dt += dt2
        if st2 == "optimal" and p.evaluate(a2)[0] <= best:
            assign = a2
    return status, assign, dt


def _reason(p: PlacementProblem, energy_cap, makespan_cap, time_limit_s) -> str:
    msgs = []
    if energy_cap is not None:
        lo = float(np.where(p.allowed, p.energy_pj, np.inf).min(axis=1).sum())
        if lo > energy_cap:
            msgs.append(
                f"energy cap cannot be met: minimum achievable energy is "
                f"{over(lo, energy_cap, 'pJ')}"
            )
    if makespan_cap is not None:
        per_layer = np.where(p.allowed, p.latency_cycles, np.inf).min(axis=1)
        worst = int(np.argmax(per_layer))
        if per_layer[worst] > makespan_cap:
            msgs.append(
                f"makespan cap cannot be met: layer {p.layers[worst]!r} alone needs "
                f"{over(per_layer[worst], makespan_cap, 'cycles')}"
            )
        else:
            st, a, _ = _run(p, "makespan", None, None, time_limit_s, False)
            if st == "optimal" and p.evaluate(a)[0] > makespan_cap:
                msgs.append(
                    f"makespan cap cannot be met: minimum achievable makespan is "
                    f"{over(p.evaluate(a)[0], makespan_cap, 'cycles')}"
                )
    if msgs:
        return "; ".join(msgs)
    st, a, _ = _run(p, "energy", None, makespan_cap, time_limit_s, False)
    if st == "optimal":
        return (
            f"energy cap and makespan cap cannot both be met: with makespan <= "
            f"{makespan_cap:.6g} cycles the minimum energy is "
            f"{over(p.evaluate(a)[1], energy_cap, 'pJ')}"
        )
    return "caps cannot be met together"


def place_layers(
    problem: PlacementProblem,
    objective: str = "makespan",
    energy_cap_pj: float | None = None,
    makespan_cap_cycles: float | None = None,
    time_limit_s: float | None = None,
) -> PlacementResult:
    """Assign each layer to one cluster minimising ``objective`` ("makespan" cycles or
    "energy" pJ), optionally with an energy cap (pJ) and/or a makespan cap (cycles).
    Makespan ties are broken by least energy."""
    if objective not in ("makespan", "energy"):
        raise ValueError(f"objective must be 'makespan' or 'energy', got {objective!r}")
    energy_cap = check_budget("energy_cap_pj", energy_cap_pj)
    makespan_cap = check_budget("makespan_cap_cycles", makespan_cap_cycles)
    status, assign, dt = _run(problem, objective, energy_cap, makespan_cap, time_limit_s)
    if assign is None:
        reason = None
        if status == "infeasible":
            reason = _reason(problem, energy_cap, makespan_cap, time_limit_s)
        return PlacementResult(status, {}, None, objective, reason=reason, solve_time_s=dt)
    makespan, energy, load = problem.evaluate(assign)
    return PlacementResult(
        status,
        {problem.layers[i]: problem.clusters[c] for i, c in enumerate(assign)},
        makespan if objective == "makespan" else energy,
        objective,
        makespan_cycles=makespan,
        energy_pj=energy,
        cluster_load_cycles=dict(zip(problem.clusters, map(float, load), strict=True)),
        solve_time_s=dt,
    )

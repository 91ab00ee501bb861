"""HAWQ-V3-style ILP precision allocation: one format per layer from a candidate set.

Accuracy proxy of layer l in format f: ``sensitivity[l] * error[l, f]`` (e.g. Hessian trace x
squared quantization error); totals are sums over layers. Costs: ``memory_bits``, ``energy_pj``,
``latency_cycles`` per (layer, format); NaN marks a format a layer may not use.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pulp

from hwsim.accel.mapping._ilp import as_matrix, as_names, check_budget, new_var, over, solve

_COSTS = {"energy": "energy_pj", "latency": "latency_cycles", "memory": "memory_bits"}
_UNITS = {"error": "", "memory_bits": "bits", "energy_pj": "pJ", "latency_cycles": "cycles"}


@dataclass(frozen=True, eq=False)
class PrecisionProblem:
    """Per-layer, per-format tables (arrays of shape layers x formats; sensitivity: layers)."""

    layers: tuple[str, ...]
    formats: tuple[str, ...]
    error: np.ndarray
    sensitivity: np.ndarray
    memory_bits: np.ndarray
    energy_pj: np.ndarray | None = None
    latency_cycles: np.ndarray | None = None
    proxy: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        layers = as_names("layers", self.layers)
        formats = as_names("formats", self.formats)
        shape = (len(layers), len(formats))
        set_ = object.__setattr__
        set_(self, "layers", layers)
        set_(self, "formats", formats)
        sens = np.array(self.sensitivity, dtype=np.float64)
        if sens.shape != (len(layers),) or not np.all(np.isfinite(sens)) or np.any(sens < 0):
            raise ValueError(f"sensitivity must be {len(layers)} finite values >= 0")
        sens.setflags(write=False)
        set_(self, "sensitivity", sens)
        for name in ("error", "memory_bits", "energy_pj", "latency_cycles"):
            v = getattr(self, name)
            if v is not None:
                set_(self, name, as_matrix(name, v, shape))
        proxy = sens[:, None] * self.error
        proxy.setflags(write=False)
        set_(self, "proxy", proxy)
        dead = [layers[i] for i in np.flatnonzero(~self.allowed.any(axis=1))]
        if dead:
            raise ValueError(f"layers with no allowed format (all NaN): {dead}")

    @property
    def allowed(self) -> np.ndarray:
        """Boolean (layers x formats): every given table is finite there."""
        mask = np.isfinite(self.error) & np.isfinite(self.memory_bits)
        for m in (self.energy_pj, self.latency_cycles):
            if m is not None:
                mask &= np.isfinite(m)
        return mask

    def table(self, name: str) -> np.ndarray:
        """'error' (the weighted proxy), 'memory_bits', 'energy_pj' or 'latency_cycles'."""
        if name == "error":
            return self.proxy
        m = getattr(self, name, None)
        if m is None:
            raise ValueError(f"problem has no {name} table")
        return m

    def totals(self, choice: np.ndarray) -> dict[str, float]:
        """Totals of every table for a choice vector (format index per layer)."""
        rows = np.arange(len(self.layers))
        out = {"error": float(self.proxy[rows, choice].sum())}
        for name in ("memory_bits", "energy_pj", "latency_cycles"):
            m = getattr(self, name)
            out[name] = None if m is None else float(m[rows, choice].sum())
        return out


@dataclass(frozen=True)
class PrecisionResult:
    """``status``: "optimal", "feasible" (time limit), "infeasible", ...; ``choice`` maps each
    layer to its format (empty unless solved); ``reason`` names the unmeetable budget."""

    status: str
    choice: dict[str, str]
    objective: float | None
    objective_name: str
    error: float | None = None
    memory_bits: float | None = None
    energy_pj: float | None = None
    latency_cycles: float | None = None
    reason: str | None = None
    solve_time_s: float = 0.0

    def to_frame(self) -> pd.DataFrame:
        """One row per layer: layer, format."""
        return pd.DataFrame(list(self.choice.items()), columns=["layer", "format"])


def _build(p: PrecisionProblem, objective: str, budgets: dict[str, float]):
    allowed = p.allowed
    prob = pulp.LpProblem("precision", pulp.LpMinimize)
    x = {
        (i, j): new_var(prob, f"x_{i}_{j}")
        for i in range(len(p.layers))
        for j in range(len(p.formats))
        if allowed[i, j]
    }
    obj = p.table(objective)
    prob += pulp.lpSum(float(obj[i, j]) * v for (i, j), v in x.items())
    for i in range(len(p.layers)):
        prob += pulp.lpSum(v for (k, _), v in x.items() if k == i) == 1, f"one_{i}"
    for name, budget in budgets.items():
        m = p.table(name)
        prob += pulp.lpSum(float(m[i, j]) * v for (i, j), v in x.items()) <= budget, name
    return prob, x


def _solve(p: PrecisionProblem, objective: str, budgets: dict[str, float], time_limit_s):
    budgets = {k: v for k, v in budgets.items() if v is not None}
    for name in (objective, *budgets):
        p.table(name)  # raises if the problem lacks that table
    reason = _separable_reason(p, budgets)
    if reason:
        return PrecisionResult("infeasible", {}, None, objective, reason=reason)
    prob, x = _build(p, objective, budgets)
    status, dt = solve(prob, time_limit_s)
    if status not in ("optimal", "feasible"):
        reason = _joint_reason(p, budgets, time_limit_s) if status == "infeasible" else None
        return PrecisionResult(status, {}, None, objective, reason=reason, solve_time_s=dt)
    choice = np.zeros(len(p.layers), dtype=np.int64)
    for (i, j), v in x.items():
        if v.value() is not None and v.value() > 0.5:
            choice[i] = j
    tot = p.totals(choice)
    return PrecisionResult(
        status,
        {p.layers[i]: p.formats[j] for i, j in enumerate(choice)},
        tot[objective],
        objective,
        error=tot["error"],
        memory_bits=tot["memory_bits"],
        energy_pj=tot["energy_pj"],
        latency_cycles=tot["latency_cycles"],
        solve_time_s=dt,
    )


def _min_total(p: PrecisionProblem, name: str) -> float:
    m = np.where(p.allowed, p.table(name), np.inf)
    return float(m.min(axis=1).sum())


def _separable_reason(p: PrecisionProblem, budgets: dict[str, float]) -> str | None:
    msgs = []
    for name, budget in budgets.items():
        lo = _min_total(p, name)
        if lo > budget * (1 + 1e-9) + 1e-12:
            msgs.append(
                f"{name} budget cannot be met: minimum achievable {name} is "
                f"{over(lo, budget, _UNITS[name])}"
            )
    return "; ".join(msgs) or None


def _joint_reason(p, budgets: dict[str, float], time_limit_s) -> str:
    for name, budget in budgets.items():
        others = {k: v for k, v in budgets.items() if k != name}
        r = _solve(p, name, others, time_limit_s)
        if r.status == "optimal" and r.objective > budget:
            return (
                f"{name} budget cannot be met together with {sorted(others)}: under those, the "
                f"minimum {name} is {over(r.objective, budget, _UNITS[name])}"
            )
    return f"budgets {budgets} cannot all be met together"


def allocate_precision(
    problem: PrecisionProblem,
    objective: str = "energy",
    error_budget: float | None = None,
    memory_budget_bits: float | None = None,
    time_limit_s: float | None = None,
) -> PrecisionResult:
    """Minimise total ``objective`` ("energy" pJ, "latency" cycles or "memory" bits) subject to
    sum(sensitivity x error) <= ``error_budget`` and sum(memory) <= ``memory_budget_bits``."""
    if objective not in _COSTS:
        raise ValueError(f"objective must be one of {list(_COSTS)}, got {objective!r}")
    budgets = {
        "error": check_budget("error_budget", error_budget),
        "memory_bits": check_budget("memory_budget_bits", memory_budget_bits),
    }
    return _solve(problem, _COSTS[objective], budgets, time_limit_s)


def allocate_precision_min_error(
    problem: PrecisionProblem,
    energy_budget_pj: float | None = None,
    latency_budget_cycles: float | None = None,
    memory_budget_bits: float | None = None,
    time_limit_s: float | None = None,
) -> PrecisionResult:
    """The dual: minimise sum(sensitivity x error) under energy / latency / memory budgets."""
    budgets = {
        "energy_pj": check_budget("energy_budget_pj", energy_budget_pj),
        "latency_cycles": check_budget("latency_budget_cycles", latency_budget_cycles),
        "memory_bits": check_budget("memory_budget_bits", memory_budget_bits),
    }
    return _solve(problem, "error", budgets, time_limit_s)


def precision_pareto(
    problem: PrecisionProblem,
    objective: str = "energy",
    n_points: int = 8,
    error_budgets: list[float] | None = None,
    memory_budget_bits: float | None = None,
) -> pd.DataFrame:
    """Pareto front of (``objective`` cost, error proxy) by sweeping the error budget.

    Default budgets: ``n_points`` evenly spaced from the least achievable error to the error of
    the cheapest allocation. Returns the non-dominated optimal points, sorted by error, with
    columns error_budget, cost, error, memory_bits, energy_pj, latency_cycles, formats.
    """
    if objective not in _COSTS:
        raise ValueError(f"objective must be one of {list(_COSTS)}, got {objective!r}")
    if error_budgets is None:
        if isinstance(n_points, bool) or not isinstance(n_points, numbers.Integral) or n_points < 2:
            raise ValueError(f"n_points must be an int >= 2, got {n_points!r}")
        lo = allocate_precision_min_error(problem, memory_budget_bits=memory_budget_bits)
        hi = allocate_precision(problem, objective, memory_budget_bits=memory_budget_bits)
        if lo.status != "optimal" or hi.status != "optimal":
            raise ValueError(f"no feasible allocation: {lo.reason or hi.reason}")
        error_budgets = list(np.linspace(lo.error, max(hi.error, lo.error), n_points))
    rows = []
    for b in error_budgets:
        r = allocate_precision(problem, objective, b, memory_budget_bits)
        if r.status == "optimal":
            rows.append(
                (
                    b,
                    r.objective,
                    r.error,
                    r.memory_bits,
                    r.energy_pj,
                    r.latency_cycles,
                    tuple(r.choice[layer] for layer in problem.layers),
                )
            )
    cols = [
        "error_budget",
        "cost",
        "error",
        "memory_bits",
        "energy_pj",
        "latency_cycles",
        "formats",
    ]
    df = pd.DataFrame(rows, columns=cols).sort_values(["error", "cost"], kind="stable")
    keep, best = [], np.inf
    for idx, cost in zip(df.index, df["cost"], strict=True):
        if cost < best - 1e-12:
            keep.append(idx)
            best = cost
    return df.loc[keep].drop_duplicates("formats").reset_index(drop=True)

"""ILP precision allocation and placement, checked against brute-force enumeration."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from hwsim.accel.mapping import (
    PlacementProblem,
    PrecisionProblem,
    allocate_precision,
    allocate_precision_min_error,
    place_layers,
    precision_pareto,
)

TABLES = ("error", "memory_bits", "energy_pj", "latency_cycles")


def random_precision(rng, n_layers, n_formats, nan_frac=0.15):
    shape = (n_layers, n_formats)
    mats = {k: rng.integers(0, 30, shape).astype(float) for k in ("error", "memory_bits")}
    mats["energy_pj"] = rng.integers(1, 40, shape).astype(float)
    mats["latency_cycles"] = rng.integers(1, 40, shape).astype(float)
    holes = rng.random(shape) < nan_frac
    holes[:, rng.integers(n_formats)] = False  # keep at least one format per layer
    mats["energy_pj"][holes] = np.nan
    return PrecisionProblem(
        [f"L{i}" for i in range(n_layers)],
        [f"F{j}" for j in range(n_formats)],
        sensitivity=rng.integers(1, 4, n_layers).astype(float),
        **mats,
    )


def brute_precision(p, objective, budgets):
    """Best objective over all allowed choices within budgets (None if infeasible)."""
    ok = p.allowed
    options = [np.flatnonzero(ok[i]) for i in range(len(p.layers))]
    best = None
    for combo in itertools.product(*options):
        tot = p.totals(np.array(combo))
        within = all(tot[k] <= b + 1e-9 for k, b in budgets.items() if b is not None)
        if within and (best is None or tot[objective] < best):
            best = tot[objective]
    return best


def check_totals(p, res, budgets):
    idx = np.array([p.formats.index(res.choice[name]) for name in p.layers])
    tot = p.totals(idx)
    assert all(p.allowed[np.arange(len(idx)), idx])
    for k, b in budgets.items():
        if b is not None:
            assert tot[k] <= b + 1e-9
    assert res.error == pytest.approx(tot["error"])
    assert res.memory_bits == pytest.approx(tot["memory_bits"])
    assert res.energy_pj == pytest.approx(tot["energy_pj"])


@pytest.mark.parametrize("seed", range(12))
def test_precision_matches_brute_force(seed):
    rng = np.random.default_rng(seed)
    p = random_precision(rng, int(rng.integers(2, 6)), int(rng.integers(2, 4)))
    n_infeasible = 0
    for objective, key in (("energy", "energy_pj"), ("latency", "latency_cycles")):
        for _ in range(2):
            err_b = float(rng.uniform(0.3, 1.0) * p.proxy[p.allowed].sum() / 2)
            mem_b = float(rng.uniform(0.3, 1.0) * p.memory_bits.max(axis=1).sum())
            budgets = {"error": err_b, "memory_bits": mem_b}
            res = allocate_precision(p, objective, err_b, mem_b)
            best = brute_precision(p, key, budgets)
            if best is None:
                n_infeasible += 1
                assert res.status == "infeasible" and res.reason
                assert res.choice == {}
            else:
                assert res.status == "optimal", res.reason
                assert res.objective == pytest.approx(best)
                check_totals(p, res, budgets)


@pytest.mark.parametrize("seed", range(12, 22))
def test_min_error_dual_matches_brute_force(seed):
    rng = np.random.default_rng(seed)
    p = random_precision(rng, int(rng.integers(2, 6)), int(rng.integers(2, 4)))
    e_b = float(rng.uniform(0.5, 1.2) * np.nanmean(p.energy_pj) * len(p.layers))
    l_b = float(rng.uniform(0.5, 1.2) * p.latency_cycles.mean() * len(p.layers))
    m_b = float(rng.uniform(0.3, 1.0) * p.memory_bits.max(axis=1).sum())
    budgets = {"energy_pj": e_b, "latency_cycles": l_b, "memory_bits": m_b}
    res = allocate_precision_min_error(p, e_b, l_b, m_b)
    best = brute_precision(p, "error", budgets)
    if best is None:
        assert res.status == "infeasible" and res.reason
    else:
        assert res.status == "optimal"
        assert res.objective == pytest.approx(best)
        check_totals(p, res, budgets)


def test_unconstrained_is_per_layer_argmin():
    rng = np.random.default_rng(7)
    p = random_precision(rng, 6, 4, nan_frac=0.0)
    res = allocate_precision(p, "energy")
    assert res.objective == pytest.approx(p.energy_pj.min(axis=1).sum())
    res = allocate_precision_min_error(p)
    assert res.objective == pytest.approx(p.proxy.min(axis=1).sum())


def small_problem():
    # two layers, formats (int4, int8): int4 is small/cheap/inaccurate
    return PrecisionProblem(
        ["a", "b"],
        ["int4", "int8"],
        error=[[4.0, 1.0], [6.0, 1.0]],
        sensitivity=[1.0, 2.0],
        memory_bits=[[40.0, 80.0], [50.0, 100.0]],
        energy_pj=[[1.0, 3.0], [2.0, 5.0]],
        latency_cycles=[[1.0, 1.0], [1.0, 1.0]],
    )


def test_infeasible_reasons_name_the_budget():
    p = small_problem()
    r = allocate_precision(p, "energy", memory_budget_bits=60)
    assert r.status == "infeasible"
    assert "memory_bits" in r.reason and "90 bits" in r.reason and "30 bits over" in r.reason
    r = allocate_precision(p, "energy", error_budget=2.0)
    assert "error" in r.reason and "minimum achievable error is 3" in r.reason
    # each budget alone is achievable, jointly not: memory <= 120 forces error >= 13
    r = allocate_precision(p, "energy", error_budget=6.0, memory_budget_bits=130)
    assert r.status == "infeasible"
    assert "cannot be met together" in r.reason and "minimum" in r.reason
    r = allocate_precision_min_error(p, energy_budget_pj=2.0)
    assert r.status == "infeasible" and "energy_pj" in r.reason and "pJ" in r.reason
    r = allocate_precision(p, "energy", error_budget=6.0, memory_budget_bits=140)
    assert r.status == "optimal" and r.choice == {"a": "int4", "b": "int8"}


def test_pareto_front_is_exact():
    rng = np.random.default_rng(3)
    p = random_precision(rng, 4, 3, nan_frac=0.0)
    front = precision_pareto(p, "energy", n_points=12)
    pts = set()
    for combo in itertools.product(range(3), repeat=4):
        t = p.totals(np.array(combo))
        pts.add((t["energy_pj"], t["error"]))
    nondominated = {
        a for a in pts if not any(b != a and b[0] <= a[0] and b[1] <= a[1] for b in pts)
    }
    assert len(front) >= 2
    for r in front.itertuples():
        assert (r.cost, r.error) in nondominated
        assert r.error <= r.error_budget + 1e-9
    assert front["error"].is_monotonic_increasing
    assert front["cost"].is_monotonic_decreasing
    # the two ends of the sweep are on the front
    assert front["error"].iloc[0] == pytest.approx(min(e for _, e in nondominated))
    assert front["cost"].iloc[-1] == pytest.approx(min(c for c, _ in nondominated))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"error": [[1.0, 2.0]]}, "shape"),
        ({"memory_bits": [[-1.0, 1.0], [1.0, 1.0]]}, ">= 0"),
        ({"layers": ["a", "a"]}, "unique"),
        ({"sensitivity": [1.0]}, "sensitivity"),
        ({"error": [[np.nan, np.nan], [1.0, 1.0]]}, "no allowed format"),
    ],
)
def test_precision_problem_validation(kwargs, match):
    base = dict(
        layers=["a", "b"],
        formats=["x", "y"],
        error=[[1.0, 2.0], [1.0, 2.0]],
        sensitivity=[1.0, 1.0],
        memory_bits=[[1.0, 2.0], [1.0, 2.0]],
    )
    with pytest.raises(ValueError, match=match):
        PrecisionProblem(**{**base, **kwargs})


def test_precision_bad_arguments():
    p = small_problem()
    with pytest.raises(ValueError, match="objective"):
        allocate_precision(p, "area")
    with pytest.raises(ValueError, match="error_budget"):
        allocate_precision(p, error_budget=-1.0)
    q = PrecisionProblem(["a"], ["x"], [[1.0]], [1.0], [[1.0]])
    with pytest.raises(ValueError, match="energy_pj"):
        allocate_precision(q, "energy")


# ------------------------------------------------------------------ placement
def random_placement(rng, n_layers, n_clusters):
    shape = (n_layers, n_clusters)
    lat = rng.integers(1, 20, shape).astype(float)
    en = rng.integers(1, 20, shape).astype(float)
    holes = rng.random(shape) < 0.15
    holes[:, rng.integers(n_clusters)] = False
    lat[holes] = np.nan
    return PlacementProblem(
        [f"L{i}" for i in range(n_layers)], [f"C{c}" for c in range(n_clusters)], lat, en
    )


def brute_placement(p, energy_cap=None, makespan_cap=None):
    """All feasible (makespan, energy) pairs."""
    ok = p.allowed
    out = []
    for combo in itertools.product(*[np.flatnonzero(ok[i]) for i in range(len(p.layers))]):
        mk, en, _ = p.evaluate(np.array(combo))
        if (energy_cap is None or en <= energy_cap + 1e-9) and (
            makespan_cap is None or mk <= makespan_cap + 1e-9
        ):
            out.append((mk, en))
    return out


@pytest.mark.parametrize("seed", range(10))
def test_placement_matches_brute_force(seed):
    rng = np.random.default_rng(100 + seed)
    p = random_placement(rng, int(rng.integers(2, 7)), int(rng.integers(2, 4)))
    allp = brute_placement(p)
    # makespan objective, ties broken by energy
    res = place_layers(p, "makespan")
    best_mk = min(m for m, _ in allp)
    assert res.status == "optimal"
    assert res.objective == pytest.approx(best_mk)
    assert res.energy_pj == pytest.approx(min(e for m, e in allp if m <= best_mk + 1e-9))
    idx = np.array([p.clusters.index(res.assignment[name]) for name in p.layers])
    mk, en, load = p.evaluate(idx)
    assert (mk, en) == (pytest.approx(res.makespan_cycles), pytest.approx(res.energy_pj))
    assert sum(res.cluster_load_cycles.values()) == pytest.approx(load.sum())
    # capped variants
    cap_mk = float(rng.uniform(0.8, 1.5) * best_mk)
    cap_en = float(rng.uniform(0.6, 1.3) * np.median([e for _, e in allp]))
    for objective, kw in (
        ("energy", {"makespan_cap_cycles": cap_mk}),
        ("makespan", {"energy_cap_pj": cap_en}),
        ("energy", {"makespan_cap_cycles": cap_mk, "energy_cap_pj": cap_en}),
    ):
        feas = brute_placement(p, kw.get("energy_cap_pj"), kw.get("makespan_cap_cycles"))
        r = place_layers(p, objective, **kw)
        if not feas:
            assert r.status == "infeasible" and r.reason
        else:
            assert r.status == "optimal"
            k = 0 if objective == "makespan" else 1
            assert r.objective == pytest.approx(min(f[k] for f in feas))
            assert r.makespan_cycles <= kw.get("makespan_cap_cycles", np.inf) + 1e-9
            assert r.energy_pj <= kw.get("energy_cap_pj", np.inf) + 1e-9


def test_placement_reasons():
    p = PlacementProblem(
        ["a", "b"], ["big", "small"], [[2.0, 10.0], [2.0, 10.0]], [[5.0, 1.0], [5.0, 1.0]]
    )
    r = place_layers(p, "energy", makespan_cap_cycles=1.0)
    assert r.status == "infeasible" and "layer 'a'" in r.reason and "cycles" in r.reason
    r = place_layers(p, "energy", makespan_cap_cycles=3.0)
    assert "minimum achievable makespan is 4 cycles" in r.reason
    r = place_layers(p, "makespan", energy_cap_pj=1.0)
    assert "minimum achievable energy is 2 pJ" in r.reason and "1 pJ over" in r.reason
    r = place_layers(p, "makespan", energy_cap_pj=5.0, makespan_cap_cycles=4.0)
    assert r.status == "infeasible" and "both" in r.reason
    r = place_layers(p, "makespan", energy_cap_pj=6.0)
    assert r.status == "optimal" and r.makespan_cycles == 10.0 and r.energy_pj == 6.0


def test_placement_validation():
    with pytest.raises(ValueError, match="no allowed cluster"):
        PlacementProblem(["a"], ["x"], [[np.nan]], [[1.0]])
    with pytest.raises(ValueError, match="shape"):
        PlacementProblem(["a"], ["x", "y"], [[1.0]], [[1.0]])
    p = PlacementProblem(["a"], ["x"], [[1.0]], [[1.0]])
    with pytest.raises(ValueError, match="objective"):
        place_layers(p, "area")
    with pytest.raises(ValueError, match="energy_cap_pj"):
        place_layers(p, energy_cap_pj=-2)

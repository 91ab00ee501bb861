"""Precision allocation and placement on small problems solved by hand (issue 17): the
brute-force tests in test_mapping_ilp.py score candidates with the problems' own ``totals`` /
``evaluate``; these expectations are worked out on paper instead."""

from __future__ import annotations

import numpy as np
import pytest

from hwsim.accel.mapping import (
    PlacementProblem,
    PrecisionProblem,
    allocate_precision,
    allocate_precision_min_error,
    place_layers,
)

NAN = np.nan


def _precision():
    # 2 layers x 3 formats (int4, int8, fp16); sensitivity 2 and 1.
    #   proxy = sensitivity * error:  L0: 2*[5, 1, 0] = [10, 2, 0];  L1: 1*[8, 2, 0] = [8, 2, 0]
    #   energy (pJ):                  L0: [1, 3, 9];  L1: [2, 4, NaN] (fp16 not allowed for L1)
    #   memory (bits):                L0: [4, 8, 16]; L1: [40, 80, 160]
    return PrecisionProblem(
        ["L0", "L1"],
        ["int4", "int8", "fp16"],
        sensitivity=[2.0, 1.0],
        error=[[5, 1, 0], [8, 2, 0]],
        memory_bits=[[4, 8, 16], [40, 80, 160]],
        energy_pj=[[1, 3, 9], [2, 4, NAN]],
    )


def test_precision_allocation_by_hand():
    p = _precision()
    # min energy with error <= 12: (int4, int8): proxy 10 + 2 = 12, energy 1 + 4 = 5;
    #   (int8, int4): 2 + 8 = 10, energy 3 + 2 = 5 too, memory 8 + 40 = 48 vs 4 + 80 = 84;
    #   with memory <= 60 only (int8, int4) remains among the energy-5 choices.
    r = allocate_precision(p, "energy", error_budget=12, memory_budget_bits=60)
    assert r.choice == {"L0": "int8", "L1": "int4"}
    assert (r.error, r.energy_pj, r.memory_bits) == (10, 5, 48)
    # error <= 4 forces L1 int8 (2) and L0 int8 (2) or fp16 (0): energies 3 + 4 or 9 + 4
    r = allocate_precision(p, "energy", error_budget=4)
    assert r.choice == {"L0": "int8", "L1": "int8"}
    assert (r.error, r.energy_pj) == (4, 7)
    # the dual: least error within 6 pJ: (int8, int4) 5 pJ, error 10; (int4, int8) error 12;
    #   (int8, int8) is 7 pJ > 6 -> best error 10
    r = allocate_precision_min_error(p, energy_budget_pj=6)
    assert r.choice == {"L0": "int8", "L1": "int4"}
    assert r.error == 10
    # error 0 needs L1 fp16, which is not allowed
    assert allocate_precision(p, "energy", error_budget=0).status == "infeasible"


def test_placement_by_hand():
    # 3 layers x 2 clusters, latency cycles / energy pJ:
    #   A: [4, 6] / [1, 1];  B: [5, 3] / [2, 1];  C: [2, 2] / [1, 3]
    # all assignments (A, B, C) -> loads (c0, c1), makespan:
    #   (0,0,0) 11,0 -> 11; (0,0,1) 9,2 -> 9; (0,1,0) 6,3 -> 6; (0,1,1) 4,5 -> 5;
    #   (1,0,0) 7,6 -> 7;  (1,0,1) 5,8 -> 8; (1,1,0) 2,9 -> 9; (1,1,1) 0,11 -> 11
    # best makespan 5 = (0, 1, 1): energy 1 + 1 + 3 = 5
    p = PlacementProblem(
        ["A", "B", "C"],
        ["c0", "c1"],
        latency_cycles=[[4, 6], [5, 3], [2, 2]],
        energy_pj=[[1, 1], [2, 1], [1, 3]],
    )
    r = place_layers(p)
    assert r.assignment == {"A": "c0", "B": "c1", "C": "c1"}
    assert (r.makespan_cycles, r.energy_pj) == (5, 5)
    assert r.cluster_load_cycles == {"c0": 4, "c1": 5}
    # least energy: A either (1), B c1 (1), C c0 (1) = 3; ties on A broken by makespan:
    #   A c0 -> loads (4 + 2, 3) = 6; A c1 -> (2, 6 + 3) = 9
    r = place_layers(p, "energy")
    assert r.energy_pj == 3
    assert r.assignment["B"] == "c1" and r.assignment["C"] == "c0"
    # makespan <= 6 with least energy: (0,1,0) energy 1 + 1 + 1 = 3 and makespan 6
    r = place_layers(p, "energy", makespan_cap_cycles=6)
    assert r.assignment == {"A": "c0", "B": "c1", "C": "c0"}
    assert (r.makespan_cycles, r.energy_pj) == (6, 3)
    assert place_layers(p, makespan_cap_cycles=4).status == "infeasible"
    assert p.evaluate(np.array([0, 1, 1]))[:2] == pytest.approx((5, 5))

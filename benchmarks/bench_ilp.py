"""Benchmark: HAWQ-V3-style precision allocation, 32 layers x 6 formats (target < 5 s/solve).

Run: python benchmarks/bench_ilp.py [--layers 32] [--runs 5]. Prints, does not assert.
"""

from __future__ import annotations

import argparse

import numpy as np
from _timing import median_time  # benchmarks/_timing.py (script folder)

from hwsim.accel.cost import op_energy_pj
from hwsim.accel.mapping import (
    PrecisionProblem,
    allocate_precision,
    allocate_precision_min_error,
    precision_pareto,
)

# (name, weight bits, multiply energy op) - activations are 8-bit for the integer formats.
FORMATS = [
    ("int2", 2, ("mul", (2, 8))),
    ("int3", 3, ("mul", (3, 8))),
    ("int4", 4, ("mul", (4, 8))),
    ("int6", 6, ("mul", (6, 8))),
    ("int8", 8, ("mul", (8, 8))),
    ("fp16", 16, ("fmul", 16)),
]


def make_problem(n_layers: int, seed: int = 0) -> PrecisionProblem:
    """A synthetic model: random layer sizes/sensitivities, costs from the cost model."""
    rng = np.random.default_rng(seed)
    params = rng.integers(1, 64, n_layers) * 65536  # weights per layer
    macs = params * 128  # 128 tokens
    bits = np.array([b for _, b, _ in FORMATS], dtype=float)
    mac_pj = np.array([op_energy_pj(*op) + op_energy_pj("add", 32) for _, _, op in FORMATS])
    error = params[:, None] * 4.0 ** (-bits[None, :]) * rng.uniform(0.5, 2.0, (n_layers, 6))
    return PrecisionProblem(
        layers=[f"layer{i}" for i in range(n_layers)],
        formats=[f for f, _, _ in FORMATS],
        error=error,
        sensitivity=rng.lognormal(0.0, 1.0, n_layers),
        memory_bits=params[:, None] * bits[None, :],
        energy_pj=macs[:, None] * mac_pj[None, :],
        latency_cycles=np.ceil(macs[:, None] * np.maximum(bits, 4)[None, :] / (8 * 4096)),
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--layers", type=int, default=32)
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    p = make_problem(args.layers)
    err_budget = float(np.median(p.proxy, axis=1).sum())
    mem_budget = float(p.memory_bits[:, 2].sum())  # int4 everywhere
    print(
        f"precision allocation: {args.layers} layers x {len(p.formats)} formats, "
        f"{args.runs} runs, error budget {err_budget:.4g}, memory budget {mem_budget:.4g} bits"
    )

    t, r = median_time(lambda: allocate_precision(p, "energy", err_budget, mem_budget), args.runs)
    print(
        f"  min energy  s.t. error+memory: median {t:.3f} s wall (CBC {r.solve_time_s:.3f} s), "
        f"status {r.status}, energy {r.energy_pj:.4g} pJ"
    )
    t, r = median_time(lambda: allocate_precision(p, "latency", err_budget, mem_budget), args.runs)
    print(f"  min latency s.t. error+memory: median {t:.3f} s wall, status {r.status}")
    e_budget = float(p.energy_pj[:, 3].sum())
    t, r = median_time(
        lambda: allocate_precision_min_error(
            p, energy_budget_pj=e_budget, memory_budget_bits=mem_budget
        ),
        args.runs,
    )
    print(f"  min error   s.t. energy+memory: median {t:.3f} s wall, status {r.status}")
    t, front = median_time(lambda: precision_pareto(p, "energy", n_points=10), 1)
    print(f"  Pareto sweep (10 budgets): {t:.3f} s wall, {len(front)} non-dominated points")
    counts = {f: list(r.choice.values()).count(f) for f in p.formats}
    print(f"  formats chosen (min error): {counts}")

    import hwsim
    from hwsim.accel.mapping import map_layer

    acc = hwsim.accel.systolic(64, 64, dataflow="ws", dram_bw=64)
    for phase in ("prefill", "decode"):
        layer = hwsim.workloads.get("llama2-7b", phase=phase, seq_len=2048).layers[0]
        t, m = median_time(lambda layer=layer: map_layer(acc, layer, "latency"), args.runs)
        print(
            f"map_layer llama2-7b {phase} {layer.name} ({layer.m}x{layer.n}x{layer.k}) on 64x64: "
            f"median {t:.3f} s (target < 2 s), {m.status}, tiles {m.tiles}, order {m.order}"
        )


if __name__ == "__main__":
    main()

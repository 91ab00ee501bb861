"""map_layer: the tiling ILP against brute-force enumeration, and infeasibility reasons."""

import itertools

import numpy as np
import pytest

import hwsim
from hwsim.accel.mapping import evaluate_tiling, map_layer
from hwsim.accel.mapping.tiling import ORDERS, _candidates, tile_fits


def brute_force(acc, layer, objective):
    ref = map_layer(acc, layer, "traffic")  # for compute cycles
    best = None
    for order in ORDERS:
        for tm, tn, tk in itertools.product(*(_candidates(d) for d in (layer.m, layer.n, layer.k))):
            if any(v > 1e-9 for v in tile_fits(acc, tm, tn, tk).values()):
                continue
            r = evaluate_tiling(acc, layer, order, {"m": tm, "n": tn, "k": tk}, ref.compute_cycles)
            traffic = sum(r["dram_bytes"].values())
            key = {"latency": (r["cycles"], traffic), "energy": (r["energy_pj"],),
                   "traffic": (traffic,)}[objective]  # fmt: skip
            if best is None or key < best:
                best = key
    return best


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("objective", ["latency", "energy", "traffic"])
def test_ilp_matches_brute_force(seed, objective):
    rng = np.random.default_rng(seed)
    m, n, k = (int(v) for v in rng.integers(3, 200, 3))
    acc = hwsim.accel.systolic(
        int(rng.choice([4, 8, 16])), int(rng.choice([4, 8, 16])),
        dataflow=str(rng.choice(["os", "ws", "is"])),
        act_sram_bytes=int(rng.choice([256, 1024, 4096])),
        weight_sram_bytes=int(rng.choice([256, 1024, 4096])),
        out_sram_bytes=int(rng.choice([256, 1024, 4096])),
        dram_bw=float(rng.choice([1, 4, 64])),
    )  # fmt: skip
    layer = hwsim.workloads.gemm(m, n, k).layers[0]
    got = map_layer(acc, layer, objective)
    assert got.status == "optimal"
    assert all(v <= 1e-9 for v in tile_fits(acc, *got.tiles.values()).values())
    best = brute_force(acc, layer, objective)
    traffic = sum(got.dram_bytes.values())
    mine = {"latency": (got.cycles, traffic), "energy": (got.energy_pj,),
            "traffic": (traffic,)}[objective]  # fmt: skip
    assert mine[0] == pytest.approx(best[0], rel=1e-9)
    if objective == "latency":
        assert mine[1] == pytest.approx(best[1], rel=1e-6)


def test_infeasible_names_the_buffer_and_the_shortfall():
    acc = hwsim.accel.systolic(4, 4, out_sram_bytes=8, out_fmt=64)  # 4 usable bytes, 8 needed
    got = map_layer(acc, hwsim.workloads.gemm(8, 8, 8))
    assert got.status == "infeasible"
    assert "buffer 'out'" in got.reason and "4 usable bytes" in got.reason


def test_llama_layer_maps_and_bad_input():
    acc = hwsim.accel.systolic(64, 64, dataflow="ws", dram_bw=64)
    layer = hwsim.workloads.get("llama2-7b", phase="prefill", seq_len=2048).layers[0]
    got = map_layer(acc, layer)
    assert got.status == "optimal" and got.cycles >= got.compute_cycles
    with pytest.raises(ValueError, match="objective"):
        map_layer(acc, layer, "speed")

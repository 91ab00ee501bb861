"""map_layer: the loop-nest ILP against the exhaustive mapper (same optimum), partial sums at
the accumulator width, every level's energy, infeasibility reasons."""

import numpy as np
import pytest

import hwsim
from hwsim.accel.mapping import evaluate_tiling, map_layer
from hwsim.accel.mapping.gemm_mapper import map_gemm, pinned_nest
from hwsim.accel.mapping.tiling import layer_gemm, out_bits_needed, tile_fits
from hwsim.accel.pe_adapter import PETiming
from hwsim.workloads import Layer

# map_layer objective -> map_gemm objective with the same lexicographic key
SAME = {"latency": "latency", "traffic": "energy"}


def _case(seed):
    rng = np.random.default_rng(seed)
    m, n, k = (int(v) for v in rng.integers(3, 200, 3))
    acc = hwsim.accel.systolic(
        int(rng.choice([4, 8, 16])), int(rng.choice([4, 8, 16])),
        dataflow=str(rng.choice(["os", "ws", "is"])),
        act_sram_bytes=int(rng.choice([1024, 4096])),
        weight_sram_bytes=int(rng.choice([1024, 4096])),
        out_sram_bytes=int(rng.choice([1024, 4096])),
        dram_bw=float(rng.choice([1, 4, 64])),
    )  # fmt: skip
    kind = "attn_qk" if rng.random() < 0.3 else "gemm"
    batch = int(rng.integers(1, 4)) if kind == "attn_qk" else 1
    return acc, Layer("g", kind, m, n, k, batch=batch)


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("objective", ["latency", "traffic"])
def test_ilp_reaches_the_exhaustive_mappers_optimum(seed, objective):
    """Same space, two solvers: the ILP's optimum equals map_gemm's exhaustive one (first and
    second key), and its nest is what the exhaustive scorer would count."""
    acc, layer = _case(seed)
    timing = PETiming(acc.pe, acc.pe_params)
    got = map_layer(acc, layer, objective)
    assert got.status == "optimal", got.reason
    ref = map_gemm(acc, layer_gemm(layer), timing.dot_cycles, timing.acc_bits, SAME[objective])
    traffic = sum(got.dram_bytes.values())
    if objective == "latency":
        assert (got.cycles, traffic) == pytest.approx((ref.latency_cycles, ref.dram_bytes))
    else:
        assert (traffic, got.cycles) == pytest.approx((ref.dram_bytes, ref.latency_cycles))
    t = {d.upper(): v for d, v in got.tiles.items()}
    ob = out_bits_needed(acc, got.nest.problem, t, timing.acc_bits)
    fit = tile_fits(acc, t["M"], t["N"], t["K"], t.get("B", 1), out_bits=ob)
    assert all(v <= 1e-9 for v in fit.values())


def test_partial_sums_sized_and_moved_at_accumulator_width():
    # out buffer 512 B usable 256: a K-split tile's output must fit at 32 bits (64 partial
    # sums), where int8 would allow 256. The old ILP sized it in int8 and kept Tk = 1.
    acc = hwsim.accel.systolic(8, 8, dataflow="os", out_sram_bytes=512, dram_bw=4)
    got = map_layer(acc, hwsim.workloads.gemm(64, 64, 512), "traffic")
    assert got.tiles["k"] > 1
    if got.tiles["k"] < 512:
        assert got.tiles["m"] * got.tiles["n"] * 4 <= 256
    # a pinned K-split order spills partial sums at 32 bits: out bytes by hand
    ev = evaluate_tiling(acc, Layer("g", "gemm", 64, 64, 512), "N>K>M",
                         {"m": 8, "n": 8, "k": 128})  # fmt: skip
    # 4096 outputs, each visited 4 times (K in 4 tiles outside M): 3 spills + 3 refills of
    # 4 bytes, and one int8 final
    assert ev["dram_bytes"]["out"] == 4096 * (3 * 4 * 2 + 1)


def test_energy_counts_every_level():
    """map_layer's energy_pj == the simulator's DRAM + SRAM + register-file energy of the same
    nest (priced through the costing bridge, another code path)."""
    acc = hwsim.accel.systolic(8, 8, dataflow="ws", dram_bw=8, act_sram_bytes=4096,
                               weight_sram_bytes=4096, out_sram_bytes=4096)  # fmt: skip
    layer = Layer("g", "gemm", 96, 80, 200)
    got = map_layer(acc, layer, "energy")
    timing = PETiming(acc.pe, acc.pe_params)
    spec = {"tiles": {d.upper(): v for d, v in got.tiles.items()},
            "order": [lp.dim for lp in got.nest.loops() if lp.level == 0]}  # fmt: skip
    assert pinned_nest(acc, layer_gemm(layer), spec, timing.acc_bits) == got.nest
    rep = hwsim.simulate(acc, hwsim.workloads.Workload("w", (layer,)), mapping={"g": spec})
    row = rep.layers.iloc[0]
    parts = row["energy_dram_pj"] + row["energy_sram_pj"] + row["energy_reg_pj"]
    assert got.energy_pj == pytest.approx(parts, rel=1e-9)
    assert row["energy_reg_pj"] > 0
    for obj in ("latency", "traffic"):  # the energy objective is never beaten on its own terms
        other = map_layer(acc, layer, obj)
        assert got.energy_pj <= other.energy_pj * (1 + 0.02)


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
    assert got.nest is not None and got.tiles["k"] > 1
    with pytest.raises(ValueError, match="objective"):
        map_layer(acc, layer, "speed")
    with pytest.raises(ValueError, match="unknown dimension"):
        evaluate_tiling(acc, layer, "X>K", {"m": 64})

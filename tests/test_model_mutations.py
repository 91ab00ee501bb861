"""Deliberately injected bugs in the Python models must be caught by the default test tier.

Each mutant is a realistic one-line text replacement in formats/, pe/ or accel/. It is applied
to a fresh copy of the source tree (the worktree is never touched); the copy's default-tier
tests that cover the mutated module (``-m 'not slow'``, stop at the first failure) run with
``hwsim.*`` imported from the copy (tests/mutation_run.py) and a fresh numba cache directory,
and must FAIL. The original text must occur exactly once in its file (checked in the default
tier, so the list cannot rot silently when the code changes).

Opt in: ``python -m pytest -m slow tests/test_model_mutations.py -s`` (prints the catch rate;
``HWSIM_MUTANTS=name1,name2`` runs a subset, ``HWSIM_MUTATION_JOBS`` sets parallel runs,
default 2). docs/testing.md lists the measured rate and any equivalent mutants.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
COPY = ("hwsim", "formats", "pe", "accel", "rtl", "tests", "pyproject.toml")
IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc", "build", ".pytest_cache")

# Test files per area (default tier only; -x stops at the first failure).
T_INT = ("tests/test_pinned_formats.py", "tests/test_formats_int_lut.py")
T_BLOCK = (
    "tests/test_pinned_formats.py",
    "tests/test_formats_block.py",
    "tests/test_formats_properties.py",
)
T_MINI = ("tests/test_formats_minifloat.py",)
T_PE = (
    "tests/test_pinned_pe_groups.py",
    "tests/test_pe_equivalence.py",
    "tests/test_pe_values.py",
)
T_SIM = ("tests/test_pinned_accel.py", "tests/test_sim_systolic.py", "tests/test_sim_engine.py")
T_COST = ("tests/test_pinned_cost.py", "tests/test_cost.py")
T_MAP = ("tests/test_pinned_accel.py", "tests/test_mapping_tiling.py")

# (name, file, original text, mutated text, test files)
MUTANTS = [
    # ---- formats: integer saturation bounds, block scales, minifloat, packing ----------------
    (
        "int_saturates_to_minus_qmax",
        "formats/integer.py",
        "return np.clip(r, self.qmin, self.qmax)",
        "return np.clip(r, -self.qmax, self.qmax)",
        T_INT,
    ),
    (
        "int_symmetric_qmin_offset_dropped",
        "formats/integer.py",
        "return -(1 << (self.bits - 1)) + (1 if self.symmetric else 0)",
        "return -(1 << (self.bits - 1))",
        T_INT,
    ),
    (
        "int_unsigned_qmax_off_by_one",
        "formats/integer.py",
        "return (1 << (self.bits - (1 if self.signed else 0))) - 1",
        "return (1 << (self.bits - (1 if self.signed else 0))) - 2",
        T_INT,
    ),
    (
        "int_wrap_mask_one_bit_short",
        "formats/integer.py",
        "w = np.asarray(q, dtype=np.int64) & ((1 << self.bits) - 1)",
        "w = np.asarray(q, dtype=np.int64) & ((1 << (self.bits - 1)) - 1)",
        T_INT,
    ),
    (
        "int_error_check_rejects_qmin",
        "formats/integer.py",
        "bad = (q < self.qmin) | (q > self.qmax)",
        "bad = (q <= self.qmin) | (q > self.qmax)",
        T_INT,
    ),
    (
        "scale_ceil_log2_ignores_exact_powers",
        "formats/scaled.py",
        "return e.astype(np.int64) - (m == 0.5)",
        "return e.astype(np.int64)",
        T_BLOCK,
    ),
    (
        "scale_floor_log2_off_by_one",
        "formats/scaled.py",
        "return np.frexp(v)[1].astype(np.int64) - 1",
        "return np.frexp(v)[1].astype(np.int64)",
        T_BLOCK,
    ),
    (
        "scale_rceil_tie_rounds_up",
        "formats/scaled.py",
        "+ (ma > mp)",
        "+ (ma >= mp)",
        T_BLOCK,
    ),
    (
        "scale_minmax_divides_by_levels",
        "formats/scaled.py",
        "s = (hi - lo) / float(self.element.qmax)",
        "s = (hi - lo) / float(self.element.qmax + 1)",
        T_BLOCK,
    ),
    (
        "scale_zero_point_sign",
        "formats/scaled.py",
        "zp = np.clip(np.rint(-lo / vals), 0, self.element.qmax)",
        "zp = np.clip(np.rint(lo / vals), 0, self.element.qmax)",
        T_BLOCK,
    ),
    (
        "block_count_floors",
        "formats/blocks.py",
        "n_blocks = max(-(-length // size), 1) if length else 0",
        "n_blocks = max(length // size, 1) if length else 0",
        T_BLOCK,
    ),
    (
        "minifloat_fn_top_code_finite",
        "formats/minifloat.py",
        "return all_ones - 1",
        "return all_ones",
        T_MINI,
    ),
    (
        "minifloat_emax_off_by_one",
        "formats/minifloat.py",
        "return (self.max_mag >> self.mbits) - self.bias",
        "return (self.max_mag >> self.mbits) - self.bias - 1",
        T_MINI,
    ),
    (
        "unpack_byte_count_floors",
        "formats/packing.py",
        "    need = -(-count * bits // 8)\n    if buf.size",
        "    need = count * bits // 8\n    if buf.size",
        T_BLOCK,
    ),
    # ---- pe: group dequantization, zero points, cycles, events -------------------------------
    (
        "mixpe_group_dequant_reversed",
        "pe/kernels.py",
        "for g in range(g_start, G):",
        "for g in range(G - 1, g_start - 1, -1):",
        T_PE,
    ),
    (
        "mixpe_first_group_not_rounded",
        "pe/kernels.py",
        "out[m, n] = float(np.float32(p)) if p != 0.0 else 0.0",
        "out[m, n] = p",
        T_PE,
    ),
    (
        "group_partials_drop_last_element",
        "pe/kernels.py",
        "sl = slice(g * group, min((g + 1) * group, Kd))",
        "sl = slice(g * group, min((g + 1) * group, Kd - 1))",
        T_PE,
    ),
    (
        "group_fp_gemm_previous_group_scale",
        "pe/kernels.py",
        "srow = S[g0 // group, n0 : n0 + nn]",
        "srow = S[max(g0 - 1, 0) // group, n0 : n0 + nn]",
        T_PE,
    ),
    (
        "mixpe_fast_zero_point_added",
        "pe/mixpe.py",
        "P = P - z[:, None, :] * S[:, :, None]",
        "P = P + z[:, None, :] * S[:, :, None]",
        T_PE,
    ),
    (
        "mixpe_step_zero_point_not_times_sum",
        "pe/mixpe.py",
        "corr = P if self.fp else P - z_g * S",
        "corr = P if self.fp else P - z_g",
        T_PE,
    ),
    (
        "mixpe_dequant_stage_not_pipelined",
        "pe/mixpe.py",
        "return K.pipeline_end(ends, 1)",
        "return K.pipeline_end(ends, 0)",
        T_PE,
    ),
    (
        "dequant_mac_zero_point_added",
        "pe/dequant_mac.py",
        "exact = (W - expand(zeros, k, G)) * expand(scales, k, G)",
        "exact = (W + expand(zeros, k, G)) * expand(scales, k, G)",
        T_PE,
    ),
    (
        "int_mac_cycles_floor",
        "pe/int_mac.py",
        "return ceil_div(k, self.cfg.lanes)",
        "return k // self.cfg.lanes",
        T_PE,
    ),
    (
        "bipolar_cycles_miss_activation_planes",
        "pe/bipolar.py",
        "return ceil_div(k, self.cfg.lanes) * self.p * self.q",
        "return ceil_div(k, self.cfg.lanes) * self.p",
        T_PE,
    ),
    (
        "lut_cycles_floor",
        "pe/lut.py",
        "return ceil_div(k, self.cfg.tile_k) * self.B",
        "return k // self.cfg.tile_k * self.B",
        T_PE,
    ),
    (
        "bitmod_dequant_latency_one_cycle",
        "pe/bitserial.py",
        "return K.pipeline_end(ends, self.cfg.scale_bits)",
        "return K.pipeline_end(ends, 1)",
        T_PE,
    ),
    (
        "bitmod_dequant_events_per_group",
        "pe/bitserial.py",
        "self._n_groups(k) * self.cfg.scale_bits)",
        "self._n_groups(k))",
        T_PE,
    ),
    # ---- accel: systolic timing, DRAM, traffic, engine --------------------------------------
    (
        "fold_counts_floor_clamped",
        "accel/systolic.py",
        "return -(-np.asarray(sr) // rows), -(-np.asarray(sc) // cols)",
        "return np.maximum(np.asarray(sr) // rows, 1), np.maximum(np.asarray(sc) // cols, 1)",
        T_SIM,
    ),
    (
        "os_fill_off_by_one",
        "accel/systolic.py",
        "return rows + cols - 2",
        "return rows + cols - 1",
        T_SIM,
    ),
    (
        "ws_preload_missing",
        "accel/systolic.py",
        "return 2 * rows + cols - 2",
        "return rows + cols - 2",
        T_SIM,
    ),
    (
        "utilization_uses_rows_twice",
        "accel/systolic.py",
        "(fr * rows * fc * cols)",
        "(fr * rows * fc * rows)",
        T_SIM,
    ),
    (
        "dram_transfer_truncated",
        "accel/arch.py",
        "else math.ceil(nbytes / bw)",
        "else math.floor(nbytes / bw)",
        T_SIM,
    ),
    (
        "double_buffer_full_capacity",
        "accel/arch.py",
        "return self.size_bytes // 2 if self.double_buffered else self.size_bytes",
        "return self.size_bytes",
        T_SIM,
    ),
    (
        "os_weight_sram_reads_doubled",
        "accel/memory.py",
        '"weight": size["weight"] * fr, "out": 0}',
        '"weight": size["weight"] * fr * 2, "out": 0}',
        T_SIM,
    ),
    (
        "os_act_refetch_per_row_fold",
        "accel/memory.py",
        'rd["act"] = size["act"] * fc',
        'rd["act"] = size["act"] * fr',
        T_SIM,
    ),
    (
        "psum_spill_reads_every_fold",
        "accel/memory.py",
        'rd["out"] = size["out"] * (fr - 1)',
        'rd["out"] = size["out"] * fr',
        T_SIM,
    ),
    (
        "streamed_refetch_per_row_fold",
        "accel/memory.py",
        "size[streamed] if _fits(acc, streamed, size[streamed]) else size[streamed] * fc",
        "size[streamed] if _fits(acc, streamed, size[streamed]) else size[streamed] * fr",
        T_SIM,
    ),
    (
        "stationary_sram_reads_per_fold",
        "accel/memory.py",
        "stationary: size[stationary],",
        "stationary: size[stationary] * fc,",
        T_SIM,
    ),
    (
        "tile_groups_uneven",
        "accel/engine.py",
        "[base + (i < extra) for i in range(g)]",
        "[base + (i <= extra) for i in range(g)]",
        T_SIM,
    ),
    (
        "sram_energy_ignores_writes",
        "accel/costing.py",
        'bits = 8 * (row[f"sram_read_bytes_{o}"] + row[f"sram_write_bytes_{o}"])',
        'bits = 8 * row[f"sram_read_bytes_{o}"]',
        T_SIM,
    ),
    (
        "dram_latency_dropped",
        "accel/engine.py",
        "            if lat:\n                yield env.timeout(lat)",
        "            if lat:\n                yield env.timeout(0)",
        T_SIM,
    ),
    (
        "elementwise_reads_one_input",
        "accel/engine.py",
        'rd = elements * inputs * acc.bits("act") / 8',
        'rd = elements * acc.bits("act") / 8',
        T_SIM,
    ),
    (
        "elementwise_compute_floor",
        "accel/engine.py",
        "compute_total = math.ceil(elements / acc.cols)",
        "compute_total = elements // acc.cols",
        T_SIM,
    ),
    # ---- accel.cost: tables, derived rows, scaling -------------------------------------------
    (
        "mux_energy_not_per_bit",
        "accel/cost/tables.py",
        'row("mux", and_e * GE_MUX2 / GE_AND2,',
        'row("mux", and_e * 32 * GE_MUX2 / GE_AND2,',
        T_COST,
    ),
    (
        "calibration_ratio_inverted",
        "accel/cost/tables.py",
        "e_ratio = add_h.energy_pj / add_a.energy_pj",
        "e_ratio = add_a.energy_pj / add_h.energy_pj",
        T_COST,
    ),
    (
        "horowitz_fmul16_area_typo",
        "accel/cost/tables.py",
        '_h("fmul", 16, 1.1, 1640),',
        '_h("fmul", 16, 1.1, 1460),',
        T_COST,
    ),
    (
        "tpuv4i_mul32_typo",
        "accel/cost/tables.py",
        '_t("mul", 32, 1.48),',
        '_t("mul", 32, 1.43),',
        T_COST,
    ),
    (
        "node_fraction_wrong_denominator",
        "accel/cost/scaling.py",
        "/ math.log(REFERENCE_NODE_NM / SMALL_NODE_NM)",
        "/ math.log(REFERENCE_NODE_NM)",
        T_COST,
    ),
    (
        "area_scales_linearly",
        "accel/cost/scaling.py",
        "return a45 * (node_nm / REFERENCE_NODE_NM) ** 2",
        "return a45 * (node_nm / REFERENCE_NODE_NM)",
        T_COST,
    ),
    (
        "interpolation_slope_from_first_anchor",
        "accel/cost/scaling.py",
        "k = slope(hi - 1, hi)",
        "k = slope(0, hi)",
        T_COST,
    ),
    (
        "sram_32kb_figure_typo",
        "accel/cost/memory.py",
        'MemoryFigure("sram_32KB", 32 * 1024, 64, 20.0,',
        'MemoryFigure("sram_32KB", 32 * 1024, 64, 25.0,',
        T_COST,
    ),
    # ---- accel.mapping: tiling ILP (loop-nest space) -------------------------------------
    (
        "ilp_psum_not_read_back",
        "accel/mapping/tiling.py",
        "            read_b[o] = elems[o] * acc_bits / 8 * extra",
        "            read_b[o] = 0 * extra",
        T_MAP,
    ),
    (
        "ilp_psum_in_output_format",
        "accel/mapping/tiling.py",
        'write_b[o] = elems[o] * bits["out"] / 8 + elems[o] * acc_bits / 8 * extra',
        'write_b[o] = elems[o] * bits["out"] / 8 + elems[o] * bits["out"] / 8 * extra',
        T_MAP,
    ),
    (
        "ilp_out_tile_in_output_format",
        "accel/mapping/tiling.py",
        'logs = logs + math.log(acc_bits / bits["out"]) * meet',
        "logs = logs + 0 * meet",
        T_MAP,
    ),
    (
        "ilp_capacity_ignores_double_buffering",
        "accel/mapping/tiling.py",
        "cap = math.log(acc.buffer(o).tile_bytes * 8 / bits[o])",
        "cap = math.log(acc.buffer(o).size_bytes * 8 / bits[o])",
        T_MAP,
    ),
    (
        "ilp_reuse_ignores_loop_order",
        "accel/mapping/tiling.py",
        "inner = [q for q in rel[o] if pos[q] > pos[d]]",
        "inner = [q for q in rel[o] if pos[q] < pos[d]]",
        T_MAP,
    ),
    (
        "ilp_and_linearization_loose",
        "accel/mapping/tiling.py",
        "prob += wi >= a + xi - 1",
        "prob += wi >= a + xi - 2",
        T_MAP,
    ),
]

T_ILP = ("tests/test_pinned_mapping.py", "tests/test_mapping_ilp.py")
MUTANTS += [
    (
        "placement_makespan_sums_loads",
        "accel/mapping/placement.py",
        "return float(load.max()), float(self.energy_pj[rows, assign].sum()), load",
        "return float(load.sum()), float(self.energy_pj[rows, assign].sum()), load",
        T_ILP,
    ),
    (
        "placement_load_counts_other_clusters",
        "accel/mapping/placement.py",
        "for (i, k), v in x.items() if k == c)",
        "for (i, k), v in x.items() if k != c)",
        T_ILP,
    ),
    (
        "precision_proxy_ignores_sensitivity",
        "accel/mapping/precision.py",
        "proxy = sens[:, None] * self.error",
        "proxy = np.array(self.error)",
        T_ILP,
    ),
    (
        "cbc_preprocessing_back_on",
        "accel/mapping/_ilp.py",
        '_NO_PREPROCESS = ["preprocess off"]',
        "_NO_PREPROCESS = []",
        T_ILP,
    ),
]

T_NEST = ("tests/test_loopnest_oracle.py", "tests/test_sim_mapping.py")
T_LLM = ("tests/test_sim_llm.py", "tests/test_sim_mapping.py")
MUTANTS += [
    # ---- loop-nest access counts, mapper, nest engine, array timing, KV cache -------------
    (
        "access_reuse_ignores_relevance",
        "accel/mapping/access.py",
        "inner = [i for i in temporal if loops[i].dim in relevant]",
        "inner = list(temporal)",
        T_NEST,
    ),
    (
        "access_multicast_counts_every_instance",
        "accel/mapping/access.py",
        "owner = depth if per_instance else parent",
        "owner = depth",
        T_NEST,
    ),
    (
        "access_psum_first_update_reads",
        "accel/mapping/access.py",
        'rec[parent]["reads"] += to_parent - first',
        'rec[parent]["reads"] += to_parent',
        T_NEST,
    ),
    (
        "halo_overlap_not_removed",
        "accel/mapping/problem.py",
        "return a * b - max(0, a - dp) * max(0, b - sp)",
        "return a * b",
        T_NEST,
    ),
    (
        "mapper_refetch_ignores_order",
        "accel/mapping/gemm_mapper.py",
        "mult = mult * np.where((pos[d] < istar) & split[d], n[d], 1)",
        "mult = mult * np.where(split[d], n[d], 1)",
        T_NEST,
    ),
    (
        "nest_engine_final_write_at_acc_width",
        "accel/nest_engine.py",
        'write[op.name][ends] = np.where(last, e * bits["out"] / 8, e * acc_bits / 8)',
        "write[op.name][ends] = e * acc_bits / 8",
        T_NEST,
    ),
    (
        "preload_overlap_hides_nothing",
        "accel/systolic.py",
        "out = folds * np.maximum(t, p)",
        "out = folds * (t + p)",
        T_LLM,
    ),
    (
        "kv_cache_read_in_weight_format",
        "hwsim/simulate.py",
        'return acc.with_kv_in("weight"), "weight"',
        'return acc, "weight"',
        T_LLM,
    ),
]

# Mutants shown equivalent (no observable behaviour changes); see docs/testing.md.
EQUIVALENT: dict[str, str] = {}

IDS = [m[0] for m in MUTANTS]


def test_mutant_list_is_well_formed():
    """Default tier: every original text occurs exactly once; names unique; tests exist."""
    assert len(MUTANTS) >= 40
    assert len(set(IDS)) == len(IDS)
    for name, rel, old, new, tests in MUTANTS:
        text = (REPO / rel).read_text()
        assert text.count(old) == 1, f"mutant {name}: original text found {text.count(old)}x"
        assert old != new, name
        for t in tests:
            assert (REPO / t).is_file(), f"mutant {name}: no test file {t}"
    areas = {rel.split("/")[0] for _, rel, *_ in MUTANTS}
    assert areas == {"formats", "pe", "accel", "hwsim"}
    assert set(EQUIVALENT) <= set(IDS)


def _make_tree(dst: Path) -> None:
    dst.mkdir(parents=True)
    for name in COPY:
        src = REPO / name
        if src.is_dir():
            shutil.copytree(src, dst / name, ignore=IGNORE)
        else:
            shutil.copy2(src, dst / name)


def run_mutant(mutant, workdir: Path, timeout: float = 900.0) -> dict:
    """Apply one mutant to a fresh copy and run its tests there; returns the outcome."""
    name, rel, old, new, tests = mutant
    root = workdir / name
    print(f"  start {name}", flush=True)
    _make_tree(root)
    if rel is not None:  # None: the unmutated baseline
        path = root / rel
        text = path.read_text()
        if text.count(old) != 1:
            return {"name": name, "status": "bad-pattern", "seconds": 0.0, "tail": ""}
        path.write_text(text.replace(old, new, 1))
    env = dict(os.environ)
    env["NUMBA_CACHE_DIR"] = str(root / ".numba_cache")  # fresh: no stale compiled kernels
    env["PYTHONHASHSEED"] = "0"
    env.pop("PYTHONPATH", None)
    cmd = [sys.executable, "tests/mutation_run.py", str(root), "-x", "-q", "-p", "no:cacheprovider"]
    t0 = time.perf_counter()
    try:
        p = subprocess.run(
            cmd + list(tests), cwd=root, env=env, capture_output=True, text=True, timeout=timeout
        )
        rc, out = p.returncode, p.stdout + p.stderr
    except subprocess.TimeoutExpired:
        rc, out = -1, "timeout"
    dt = time.perf_counter() - t0
    status = {0: "SURVIVED", 1: "caught", -1: "caught (timeout)"}.get(rc, f"error rc={rc}")
    shutil.rmtree(root, ignore_errors=True)
    print(f"  done  {name}: {status} in {dt:.0f} s", flush=True)
    return {"name": name, "status": status, "seconds": dt, "tail": out[-1500:]}


@pytest.mark.slow
def test_injected_model_bugs_are_caught():
    only = os.environ.get("HWSIM_MUTANTS")
    chosen = [m for m in MUTANTS if not only or m[0] in only.split(",")]
    assert chosen, f"HWSIM_MUTANTS={only!r} selects no mutant"
    jobs = int(os.environ.get("HWSIM_MUTATION_JOBS", "2"))
    # the unmutated copy must pass the same test files (else "caught" would mean nothing)
    files = tuple(sorted({t for m in chosen for t in m[4]}))
    baseline = ("baseline_unmutated", None, None, None, files)
    t0 = time.perf_counter()
    with (
        tempfile.TemporaryDirectory(prefix="hwsim_mut_") as tmp,
        ThreadPoolExecutor(max_workers=jobs) as ex,
    ):
        base, *results = ex.map(lambda m: run_mutant(m, Path(tmp)), [baseline, *chosen])
    wall = time.perf_counter() - t0
    assert base["status"] == "SURVIVED", f"unmutated copy fails its tests:\n{base['tail']}"
    caught = [r for r in results if r["status"].startswith("caught")]
    print()
    for r in results:
        print(f"  {r['name']:42s} {r['status']:18s} {r['seconds']:6.1f} s")
    rate = len(caught) / len(results)
    print(f"mutation catch rate: {len(caught)}/{len(results)} = {rate:.1%} in {wall:.0f} s wall")
    errors = [r for r in results if r["status"].startswith(("error", "bad"))]
    assert not errors, "\n\n".join(f"{r['name']}: {r['status']}\n{r['tail']}" for r in errors)
    survivors = [r for r in results if r["status"] == "SURVIVED" and r["name"] not in EQUIVALENT]
    assert not survivors, "survived: " + ", ".join(r["name"] for r in survivors)

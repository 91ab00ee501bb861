"""Run the generated tile under cocotb and compare it with the simulator's layer row.

`run_tile(acc, layer, sim, seed)` generates the tile (`hwsim.rtl.emit_tile`), draws a random
GEMM (uniform codes, 20% corner values; `hwsim.rtl.stimulus`), computes every expected output
with the PE step model (its accumulator register after the dot product), runs
`hwsim.rtl.tile_bench` on Icarus or Verilator and returns what the RTL measured.
`compare(spec, measured, row)` checks it against the row of
`hwsim.simulate(acc, layer, mapping="scalesim").layers` (the caller runs the simulator: rtl
does not import hwsim.simulate). The timing contract (docs/rtl.md, "Accelerator tile"):

* array cycles (first operand in to last result, summed over folds) == the simulator's
  `compute_cycles` exactly;
* total cycles == `rtl_cycles(spec)` exactly (the tile's schedule: loads, fold, SRAM read
  latency, capture, write-back, handshakes, serial), and the simulator's `cycles` lies in
  [rtl - overlap_bound(spec), rtl]: the simulator double-buffers and overlaps transfers with
  compute, the tile runs them one after another, so the difference is at most the tile's
  transfer and per-fold overhead cycles;
* SRAM reads (act, weight by the array), SRAM writes (fills, results) and DRAM bytes per
  operand == the simulator's columns exactly.
"""

from __future__ import annotations

import json
import random
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from . import tools
from .emit_base import Design
from .emit_tile import SRAM_READ_LATENCY, TileSpec, tile_design
from .tile_mapping import simulate_mapping

#: tile cycles beyond the array's fold time, per fold: SRAM read latency + the capture cycle
FOLD_OVERHEAD = SRAM_READ_LATENCY + 1
#: cycles per DMA transfer beyond the DRAM model's channel time (the request register)
TRANSFER_OVERHEAD = 1


@dataclass
class TileResult:
    simulator: str
    passed: bool | None  # None: simulator missing
    message: str
    measured: dict = field(default_factory=dict)
    checks: list = field(default_factory=list)  # (name, ok, rtl value, simulator value)
    build_s: float = 0.0
    test_s: float = 0.0


def step_transfers(s: TileSpec, step) -> list[tuple[str, int, float, int]]:
    """The DMA transfers of one DRAM step (`TileSpec.steps`) in order: (what, block, bytes,
    words). Loads move one array-edge vector per word (the K tile's chunks per row or column
    fold of the tile), partial sums read back one out row per word (accumulator width); the
    write-back one result row per word plus an address cycle: final outputs ("write_out", the
    output format) or partial sums ("write_psum", the accumulator width)."""
    from .tile_mapping import NO_STORE, STORE_FINAL

    ti, tj, tk, la, lw, lp, store = step
    rows, cols = s.tile_row_folds(ti), s.tile_col_folds(tj)
    kt, tm, tn = s.tile_k(tk), s.tile_m(ti), s.tile_n(tj)
    out = []
    if la:
        out.append(("read_act", ti * s.tiles_k + tk, tm * kt * s.act_bytes, kt * len(rows)))
    if lw:
        out.append(("read_weight", tj * s.tiles_k + tk, kt * tn * s.weight_bytes,
                    kt * len(cols)))  # fmt: skip
    blk = ti * s.tiles_n + tj
    if lp:
        out.append(("read_psum", blk, tm * tn * s.psum_bytes, tm * len(cols)))
    if store != NO_STORE:
        final = store == STORE_FINAL
        nbytes = tm * tn * (s.out_bytes if final else s.psum_bytes)
        out.append(("write_out" if final else "write_psum", blk, nbytes, tm * len(cols) + 1))
    return out


def transfers(s: TileSpec) -> list[tuple[str, float, int]]:
    """The tile's DMA transfers in order: (what, bytes, words)."""
    return [(w, b, n) for st in s.steps for w, _, b, n in step_transfers(s, st)]


def transfer_cycles(s: TileSpec) -> int:
    """Cycles the tile spends in DMA transfers (DRAM model + handshake), all serial."""
    return sum(s.transfer_cycles(b, w) + TRANSFER_OVERHEAD for _, b, w in transfers(s))


def skipped_loads(s: TileSpec) -> int:
    """Load / store states passed without a transfer (one cycle each): resident act/weight
    tiles, the partial-sum read of a first K tile (psum "dram"), the store of an output tile
    whose K tiles are not done (psum "pe"/"sram")."""
    from .tile_mapping import NO_STORE

    return sum((not la) + (not lw) + (s.psum == "dram" and not lp) + (st == NO_STORE)
               for _, _, _, la, lw, lp, st in s.steps)  # fmt: skip


def step_folds(s: TileSpec, step) -> int:
    """Array folds of one DRAM step."""
    return len(s.tile_row_folds(step[0])) * len(s.tile_col_folds(step[1]))


def array_cycles(s: TileSpec) -> int:
    """Array cycles of the layer: per fold R + C - 2 + (K-tile chunks) x CPC, the
    simulator's fold time for the step's K tile."""
    return sum(step_folds(s, st) * (s.rows + s.cols - 2 + s.tile_k(st[2]) * s.cpc)
               for st in s.steps)  # fmt: skip


def rtl_cycles(s: TileSpec) -> int:
    """Total tile cycles, start to finish: array cycles + FOLD_OVERHEAD per fold + transfers
    + one cycle per load/store state passed without a transfer."""
    folds = sum(step_folds(s, st) for st in s.steps)
    return array_cycles(s) + folds * FOLD_OVERHEAD + transfer_cycles(s) + skipped_loads(s)


def overlap_bound(s: TileSpec) -> int:
    """Largest simulator-vs-tile difference the contract allows (cycles): everything but
    the array cycles."""
    return rtl_cycles(s) - array_cycles(s)


def make_job(s: TileSpec, seed: int) -> dict:
    """Random operands, every DMA transfer's plan (bytes; fill words with their buffer
    addresses; drain addresses with the outputs they hold) and the PE model's outputs."""
    import numpy as np

    import hwsim.pe as pe

    from .stimulus import _codes, random_values

    unit = pe.get(s.pe, **dict(s.pe_params))
    rng = random.Random(seed)
    x = np.array(random_values(unit.cfg.a_fmt, s.m * s.k, rng)).reshape(s.m, s.k)
    w = np.array(random_values(unit.cfg.w_fmt, s.k * s.n, rng)).reshape(s.k, s.n)
    xc = np.array(_codes(unit.cfg.a_fmt, x.ravel())).reshape(s.m, s.k)
    wc = np.array(_codes(unit.cfg.w_fmt, w.ravel())).reshape(s.k, s.n)
    am, wm = (1 << s.a_bits) - 1, (1 << s.w_bits) - 1
    R, C, KT = s.rows, s.cols, s.ktile

    def word(codes, bits, mask):
        return sum((int(c) & mask) << (i * bits) for i, c in enumerate(codes))

    plans = {}
    for step in s.steps:
        ti, tj, tk = step[0], step[1], step[2]
        k0, kt = tk * KT, s.tile_k(tk)  # first chunk and chunks of the K tile
        # out rows of the tile: (buffer address, global row m, first column, valid columns)
        rows = [[(li * s.fct + lj) * R + r, fi * R + r, fj * C, s.cols_valid(fj)]
                for li, fi in enumerate(s.tile_row_folds(ti))
                for lj, fj in enumerate(s.tile_col_folds(tj))
                for r in range(s.rows_valid(fi))]  # fmt: skip
        for what, blk, nbytes, _ in step_transfers(s, step):
            if what == "read_act":
                rf = enumerate(s.tile_row_folds(ti))
                fill = [[li * KT + k, word(xc[fi * R : (fi + 1) * R, k0 + k], s.a_bits, am)]
                        for li, fi in rf for k in range(kt)]  # fmt: skip
                plan = dict(op=0, elems=s.tile_m(ti) * kt, fill=fill)
            elif what == "read_weight":
                base = tj * KT if s.weight_whole else 0
                cf = enumerate(s.tile_col_folds(tj))
                fill = [[base + lj * KT + k,
                         word(wc[k0 + k, fj * C : (fj + 1) * C], s.w_bits, wm)]
                        for lj, fj in cf for k in range(kt)]  # fmt: skip
                plan = dict(op=1, elems=kt * s.tile_n(tj), fill=fill)
            elif what == "read_psum":  # data: what the tile wrote to this block (bench)
                plan = dict(op=2, elems=s.tile_m(ti) * s.tile_n(tj), fill=rows)
            else:
                plan = dict(op=2 if what == "write_out" else 3,
                            elems=s.tile_m(ti) * s.tile_n(tj), drain=rows)  # fmt: skip
            plans[f"{what}:{blk}"] = dict(plan, bytes=nbytes)

    def acc_reg(xr, wc):  # the accumulator register after the dot product (step model)
        *_, last = unit.step_trace(xr, wc)
        return int(last["acc"])

    expect = [[acc_reg(x[m], w[:, n]) for n in range(s.n)] for m in range(s.m)]
    return dict(
        spec=asdict(s),
        plans=plans,
        expect=expect,
        max_cycles=2 * rtl_cycles(s) + 100,
    )


def run_tile(
    acc, layer, sim: str, seed: int = 1, design: Design | None = None, build_dir=None, tag="",
    mapping="scalesim",
) -> TileResult:  # fmt: skip
    """Generate (or take `design`), simulate and measure the tile of `layer` on `acc`
    running `mapping` (`tile_spec`)."""
    tools.setup_path()
    design = design or tile_design(acc, layer, mapping)
    s: TileSpec = design.info["spec"]
    why = tools.missing(sim)
    if why:
        return TileResult(sim, None, why)
    from cocotb_tools.check_results import get_results
    from cocotb_tools.runner import get_runner

    from .runner import VERILATOR_ARGS

    root = Path(build_dir) if build_dir is not None else tools.run_dir(what="tile")
    bdir = root / f"{design.top}{tag}_{sim}"
    src = design.write(bdir)
    runner = get_runner(sim)
    t0 = time.perf_counter()
    runner.build(
        sources=[src],
        hdl_toplevel=design.top,
        build_dir=bdir,
        build_args=VERILATOR_ARGS if sim == "verilator" else [],
        timescale=("1ns", "1ps"),
        always=True,
        log_file=bdir / "build.log",
    )
    t1 = time.perf_counter()
    job = make_job(s, seed)
    out = bdir / f"result_{seed}.json"
    if out.exists():
        out.unlink()
    job["result"] = str(out)
    job_file = bdir / f"job_{seed}.json"
    job_file.write_text(json.dumps(job))
    env = {"HWSIM_TILE_JOB": job_file.read_text()}
    try:
        xml = Path(
            runner.test(
                hdl_toplevel=design.top,
                test_module="hwsim.rtl.tile_bench",
                build_dir=bdir,
                test_dir=bdir,
                extra_env=env,
                seed=seed,
                log_file=bdir / "test.log",
            )
        )
        _, n_fail = get_results(xml)
    except SystemExit:  # cocotb's runner exits under pytest when a test fails
        n_fail = 1
    t2 = time.perf_counter()
    if n_fail or not out.exists():
        log = (
            (bdir / "test.log").read_text(errors="replace") if (bdir / "test.log").exists() else ""
        )
        lines = [ln for ln in log.splitlines() if "Error" in ln or "assert" in ln.lower()]
        msg = "\n".join(lines[-5:]) or f"failed; see {bdir / 'test.log'}"
        return TileResult(sim, False, msg, build_s=t1 - t0, test_s=t2 - t1)
    return TileResult(sim, True, "ran", json.loads(out.read_text()), [], t1 - t0, t2 - t1)


def compare(s: TileSpec, measured: dict, row) -> list[tuple[str, bool, float, float]]:
    """Checks of the measured tile against the simulator's layer row (a dict or Series):
    (name, ok, rtl value, simulator value)."""
    mz = measured
    ob = s.out_sram_bytes
    out = [
        ("outputs == PE model", not mz["bad"] and mz["outputs_not_written_once"] == 0,
         len(mz["bad"]) + mz["outputs_not_written_once"], 0),
        ("array cycles == simulator compute_cycles", mz["n_array"] == row["compute_cycles"],
         mz["n_array"], row["compute_cycles"]),
        ("total cycles == tile schedule", mz["n_cycles"] == rtl_cycles(s),
         mz["n_cycles"], rtl_cycles(s)),
        ("simulator cycles in [rtl - bound, rtl]",
         mz["n_cycles"] - overlap_bound(s) <= row["cycles"] <= mz["n_cycles"],
         mz["n_cycles"], row["cycles"]),
    ]  # fmt: skip
    counts = [
        ("sram_read_bytes_act", mz["n_rd_act"] * s.act_bytes),
        ("sram_read_bytes_weight", mz["n_rd_w"] * s.weight_bytes),
        ("sram_write_bytes_act", mz["fills"]["act"] * s.act_bytes),
        ("sram_write_bytes_weight", mz["fills"]["weight"] * s.weight_bytes),
        # captures and partial sums filled back, at the accumulator width when partial sums
        # meet in `out` (`TileSpec.out_sram_bytes`)
        ("sram_write_bytes_out", (mz["n_wr_out"] + mz["fills"]["out"]) * ob),
        # the write-backs' reads of `out` and the resuming captures' reads of the stored
        # partial sums: the nest model counts them, scalesim's does not
        (
            "sram_read_bytes_out",
            (mz["drained"] + mz["n_rd_out"]) * ob if s.mapping != "scalesim" else 0.0,
        ),
        ("dram_read_bytes_act", mz["dram"]["read_act"]),
        ("dram_read_bytes_weight", mz["dram"]["read_weight"]),
        ("dram_read_bytes_out", mz["dram"]["read_psum"]),
        ("dram_write_bytes_out", mz["dram"]["write_out"] + mz["dram"]["write_psum"]),
    ]
    for col, got in counts:
        want = float(row[col])
        out.append((f"{col} == simulator", abs(got - want) < 1e-9, got, want))
    return out


def check_tile(
    acc, layer, sim: str, row, seed: int = 1, design=None, build_dir=None, mapping="scalesim"
):
    """run_tile + compare: a TileResult whose `passed` says every check held. `row`: the
    layer row of `hwsim.simulate(acc, layer, mapping=simulate_mapping(layer, mapping))`."""
    design = design or tile_design(acc, layer, mapping)
    res = run_tile(acc, layer, sim, seed, design, build_dir)
    if res.passed:
        res.checks = compare(design.info["spec"], res.measured, row)
        failed = [c for c in res.checks if not c[1]]
        res.passed = not failed
        res.message = (
            "ok" if not failed else "; ".join(f"{n}: rtl {a} vs {b}" for n, _, a, b in failed)
        )
    return res


__all__ = ["TileResult", "check_tile", "compare", "rtl_cycles", "run_tile", "simulate_mapping"]


#: default tile checks: (name, hwsim.accel.systolic keyword arguments, (M, N, K)). Buffers are
#: small so that the fit rules matter: `refetch` re-reads the weights every row fold (the
#: K x N matrix is over the weight buffer's usable bytes) and is DRAM-bound (2 bytes/cycle,
#: latency 3); `resident` keeps the whole weight matrix (bit-serial PE, 4 cycles per chunk,
#: one array-edge vector per cycle DMA); `shiftadd` a PoT-weight PE with a DRAM latency.
DEFAULT_TILES = (
    (
        "int_mac_refetch_dram_bound",
        dict(rows=2, cols=3, pe="int_mac", pe_params=dict(a_fmt="int8", w_fmt="int8"),
             dram_bw=2, dram_latency=3, act_sram_bytes=256, weight_sram_bytes=64,
             out_sram_bytes=64),
        (5, 7, 6),
    ),
    (
        "bitserial_resident_weights",
        dict(rows=3, cols=2, pe="bitserial",
             pe_params=dict(scheme="stripes", a_fmt="int4", w_fmt="int4", lanes=1),
             dram_bw=None, act_sram_bytes=256, weight_sram_bytes=256, out_sram_bytes=64),
        (4, 5, 3),
    ),
    (
        "shiftadd_refetch_latency",
        dict(rows=2, cols=2, pe="shiftadd",
             pe_params=dict(a_fmt="int4", w_fmt="pot4", lanes=1, acc_bits=16),
             dram_bw=4, dram_latency=8, act_sram_bytes=128, weight_sram_bytes=16,
             out_sram_bytes=64),
        (3, 4, 5),
    ),
)  # fmt: skip

#: default mapped tile checks: (name, systolic kwargs, (M, N, K), mapping). `n_outer` runs the
#: DRAM-bound refetch case as a pinned loop nest with the N-tile loop outside (SRAM tile M4 N3:
#: two row folds per step, a ragged last M tile): the weight tile stays resident across the
#: inner M loop (DRAM weight bytes once, not per row fold) and the act tile is re-read per
#: step. `optimal` runs the bit-serial case with the mapper's own nest (M tiles outer, three
#: column folds per step). `k_split` splits K in two (SRAM tile M2 N3 K3, DRAM order K > M > N):
#: every step writes its partial sums to DRAM at the accumulator width and the second K tile
#: of each output tile reads them back (psum "dram"); the final outputs go out once.
MAPPED_TILES = (
    ("int_mac_nest_n_outer_dram_bound", DEFAULT_TILES[0][1], DEFAULT_TILES[0][2],
     {"tiles": {"M": 4, "N": 3}, "order": ["N", "M"]}),
    ("bitserial_nest_optimal", DEFAULT_TILES[1][1], DEFAULT_TILES[1][2], "optimal"),
    ("int_mac_nest_k_split_dram_psums", DEFAULT_TILES[0][1], DEFAULT_TILES[0][2],
     {"tiles": {"M": 2, "N": 3, "K": 3}, "order": ["K", "M", "N"]}),
)  # fmt: skip

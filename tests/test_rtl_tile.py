"""The generated accelerator tile (hwsim.rtl.emit_tile) against the PE model and hwsim.simulate.

Each case runs the tile under cocotb (Icarus and Verilator) and checks: every output equals
the PE model's value; the array cycles equal the simulator's compute_cycles; the total
cycles equal the tile's schedule and bound the simulator's from above (docs/rtl.md,
"Accelerator tile"); SRAM and DRAM bytes per operand equal the simulator's columns. Cases run
the simulator's fixed fold order (mapping="scalesim") and loop-nest mappings (pinned or the
mapper's "optimal" nest), each against `hwsim.simulate` with the same mapping.
"""

from __future__ import annotations

import random

import pytest

import hwsim
from hwsim.rtl import tools
from hwsim.rtl.emit_tile import tile_design, tile_spec
from hwsim.rtl.tile_check import (
    DEFAULT_TILES,
    MAPPED_TILES,
    check_tile,
    rtl_cycles,
    simulate_mapping,
)
from hwsim.rtl.tile_mapping import STORE_FINAL, STORE_PARTIAL


def case(kwargs, mnk):
    acc = hwsim.accel.systolic(dataflow="os", **kwargs)
    return acc, hwsim.workloads.gemm(*mnk).layers[0]


def sim_row(acc, layer, mapping="scalesim"):
    return hwsim.simulate(acc, layer, mapping=simulate_mapping(layer, mapping)).layers.iloc[0]


def run_case(acc, layer, sim, seed=1, build_dir=None, mapping="scalesim"):
    tools.setup_path()
    if tools.missing(sim):
        pytest.skip(tools.missing(sim))
    row = sim_row(acc, layer, mapping)
    res = check_tile(acc, layer, sim, row, seed, tile_design(acc, layer, mapping), build_dir)
    assert res.passed, f"{sim} seed={seed}: {res.message}"
    return res


@pytest.mark.parametrize("sim", ["icarus", "verilator"])
@pytest.mark.parametrize("name,kw,mnk", DEFAULT_TILES, ids=[t[0] for t in DEFAULT_TILES])
def test_tile_matches_model_and_simulator(name, kw, mnk, sim, tmp_path):
    acc, layer = case(kw, mnk)
    res = run_case(acc, layer, sim, build_dir=tmp_path)
    names = [c[0] for c in res.checks]
    assert len(names) == 14 and all(c[1] for c in res.checks)


#: the n_outer nest on both simulators, the optimal nest on Icarus (Verilator: slow tier)
MAPPED_RUNS = [
    pytest.param(*t, sim, id=f"{t[0]}-{sim}",
                 marks=[pytest.mark.slow] if (i, sim) == (1, "verilator") else [])
    for i, t in enumerate(MAPPED_TILES) for sim in ("icarus", "verilator")
]  # fmt: skip


@pytest.mark.parametrize("name,kw,mnk,mapping,sim", MAPPED_RUNS)
def test_mapped_tile_matches_model_and_simulator(name, kw, mnk, mapping, sim, tmp_path):
    acc, layer = case(kw, mnk)
    res = run_case(acc, layer, sim, build_dir=tmp_path, mapping=mapping)
    assert len(res.checks) == 14 and all(c[1] for c in res.checks)
    # every result read out once; with partial sums in DRAM, once more per earlier K tile
    s = tile_spec(acc, layer, mapping)
    assert res.measured["drained"] == layer.m * layer.n * (s.tiles_k if s.psum == "dram" else 1)


def test_hand_computed_counts_of_the_dram_bound_case():
    """5x7x6 GEMM on a 2x3 OS array, weights re-read per row fold (42 B > 32 B usable):
    folds 3 x 3, fold 2 + 3 - 2 + 6 = 9 cycles; act 30 B once, weights 42 B x 3, out 35 B."""
    name, kw, mnk = DEFAULT_TILES[0]
    acc, layer = case(kw, mnk)
    s = tile_spec(acc, layer)
    assert (s.folds, s.fold_cycles, s.weight_whole) == (9, 9, False)
    row = sim_row(acc, layer)
    assert row["compute_cycles"] == 81
    assert (row["dram_read_bytes_act"], row["dram_read_bytes_weight"]) == (30, 126)
    assert row["dram_write_bytes_out"] == 35 and row["stall_cycles"] > 0  # DRAM-bound
    # the tile's serial schedule: 9 x (9 + 2) + transfers + 6 resident-act load states; a
    # transfer takes max(ceil(bytes / 2), words) + latency 3 + 1 request cycle:
    # act reads 12/12/6 B, 6 words: 10 each; weight reads per row fold 18/18/6 B, 6 words:
    # 13 + 13 + 10; write-backs rows 2 (3 words) 6/6/2 B: 7 each, rows 1 (2 words) 3/3/1 B: 6
    transfers = 3 * 10 + 3 * (13 + 13 + 10) + 2 * 3 * 7 + 3 * 6
    assert rtl_cycles(s) == 9 * 11 + transfers + 6 == 303


def test_hand_computed_counts_of_the_n_outer_nest():
    """The 5x7x6 DRAM-bound case as a pinned nest: SRAM tile M4 N3, N tiles outside M tiles.
    N tiles 3/3/1 x M tiles 4/1 = 6 steps; the act tile is re-read every step (its loop M is
    the inner one): 3 x 30 B; each weight tile once (18/18/6 B) = 42 B (scalesim: 126 B);
    out 35 B once. Steps in order (ti, tj): (0,0) (1,0) (0,1) (1,1) (0,2) (1,2)."""
    name, kw, mnk, mapping = MAPPED_TILES[0]
    acc, layer = case(kw, mnk)
    s = tile_spec(acc, layer, mapping)
    assert (s.mt, s.nt, s.n_outer, s.frt, s.fct) == (4, 3, True, 2, 1)
    steps = [(0, 0, True, True), (1, 0, True, False), (0, 1, True, True), (1, 1, True, False),
             (0, 2, True, True), (1, 2, True, False)]  # fmt: skip
    # (M tile, N tile, K tile 0, act, weight, no partial-sum read, final store)
    assert list(s.steps) == [(i, j, 0, a, w, False, STORE_FINAL) for i, j, a, w in steps]
    row = sim_row(acc, layer, mapping)
    assert (row["dram_read_bytes_act"], row["dram_read_bytes_weight"]) == (90, 42)
    assert row["dram_write_bytes_out"] == 35 and row["compute_cycles"] == 9 * 9
    scalesim = sim_row(acc, layer)
    assert scalesim["dram_read_bytes_weight"] == 126 and scalesim["dram_read_bytes_act"] == 30
    # serial schedule: 9 folds x (9 + 2); transfer = max(ceil(bytes / 2), words) + 3 + 1:
    # act 24 B / 12 words: 16, 6 B / 6 words: 10 (three times each); weight 18 B / 6 words:
    # 13 (twice), 6 B: 10; out 12 B / 5 words: 10 (twice), 3 B / 2 words: 6 (twice), 4 B /
    # 5 words: 9, 1 B / 2 words: 6; 3 load states with the weight tile resident
    transfers = 3 * (16 + 10) + (2 * 13 + 10) + (2 * 10 + 2 * 6 + 9 + 6)
    assert rtl_cycles(s) == 9 * 11 + transfers + 3 == 263


def test_mapping_forms_give_the_same_tile():
    """A LoopNest, the pinned dict and {layer: dict} are one mapping; "optimal" is the
    mapper's nest, the one simulate reports."""
    from hwsim.accel.mapping.gemm_mapper import pinned_nest
    from hwsim.accel.pe_adapter import PETiming
    from hwsim.rtl.tile_mapping import gemm_problem_of

    name, kw, mnk, pinned = MAPPED_TILES[0]
    acc, layer = case(kw, mnk)
    nest = pinned_nest(
        acc, gemm_problem_of(layer), pinned, PETiming(acc.pe, acc.pe_params).acc_bits
    )
    want = tile_spec(acc, layer, pinned)
    assert tile_spec(acc, layer, nest) == want == tile_spec(acc, layer, {layer.name: pinned})
    opt = tile_spec(acc, layer, "optimal")
    assert opt.mapping == sim_row(acc, layer, "optimal")["mapping"] != want.mapping


def test_hand_computed_counts_of_the_k_split_nest():
    """The 5x7x6 DRAM-bound case with K split in two (SRAM tile M2 N3 K3, DRAM K > M > N):
    3 x 3 output tiles x 2 K tiles = 18 steps, one fold each (fold 2 + 3 - 2 + 3 = 6 cycles).
    Partial sums (int_mac int8: 32-bit accumulator, 4 B) go to DRAM after K tile 0 (35 x 4 B)
    and come back for K tile 1 (35 x 4 B); the final outputs leave once (35 x 1 B). The out
    buffer's accesses are at the accumulator width: writes 35 captures x 2 + 35 partial sums
    read back; reads 35 resuming captures + 35 x 2 write-backs."""
    name, kw, mnk, mapping = MAPPED_TILES[2]
    acc, layer = case(kw, mnk)
    s = tile_spec(acc, layer, mapping)
    assert (s.psum, s.tiles_k, len(s.steps), s.order) == ("dram", 2, 18, ("K", "M", "N"))
    assert [st[5] for st in s.steps] == [False] * 9 + [True] * 9  # partial sums read back
    assert [st[6] for st in s.steps] == [STORE_PARTIAL] * 9 + [STORE_FINAL] * 9
    row = sim_row(acc, layer, mapping)
    assert row["compute_cycles"] == 18 * 6
    assert (row["dram_read_bytes_out"], row["dram_write_bytes_out"]) == (35 * 4, 35 * 4 + 35)
    assert row["sram_write_bytes_out"] == row["sram_read_bytes_out"] == 3 * 35 * 4


def test_what_the_tile_still_refuses_names_the_problem():
    """K splits on a saturating accumulator (adding saturated partial sums is not saturating
    once) and nests with an accumulator-buffer level are refused with the reason."""
    split = {"tiles": {"M": 2, "N": 3, "K": 3}, "order": ["K", "M", "N"]}
    kw = dict(DEFAULT_TILES[0][1], pe_params=dict(a_fmt="int8", w_fmt="int8",
                                                  overflow="saturate"))  # fmt: skip
    acc, layer = case(kw, DEFAULT_TILES[0][2])
    with pytest.raises(ValueError, match="accumulator saturates"):
        tile_spec(acc, layer, split)
    tile_spec(acc, layer, {"tiles": {"M": 2, "N": 3}})  # K whole: fine
    acc, layer = case(dict(DEFAULT_TILES[0][1], accumulator_bytes=1024), DEFAULT_TILES[0][2])
    with pytest.raises(ValueError, match="'accum' buffer level"):
        tile_spec(acc, layer, split)


@pytest.mark.parametrize(
    "mapping,match",
    [
        ("best", "mapping must be"),
        ({"other_layer": {"tiles": {"M": 2}}}, "pins layer"),
        ({"tiles": {"M": 3}}, "not a multiple"),  # the nest's own validation
        (42, "dict or a LoopNest"),
    ],
)
def test_bad_mapping_is_refused(mapping, match):
    acc, layer = case(DEFAULT_TILES[0][1], DEFAULT_TILES[0][2])
    with pytest.raises(ValueError, match=match):
        tile_spec(acc, layer, mapping=mapping)


@pytest.mark.parametrize(
    "change,match",
    [
        (dict(dataflow="ws"), "output-stationary"),
        (dict(pe="fp_fma", pe_params=dict(a_fmt="fp16", w_fmt="fp16")), "not supported"),
        (dict(pe_params=dict(a_fmt="int8", w_fmt="int8", lanes=2)), "lanes must be 1"),
        (dict(act_sram_bytes=16), "act block"),
    ],
)
def test_bad_tile_configs_name_the_problem(change, match):
    kw = dict(DEFAULT_TILES[0][1], dataflow="os")
    kw.update(change)
    acc = hwsim.accel.systolic(**kw)
    with pytest.raises(ValueError, match=match):
        tile_spec(acc, hwsim.workloads.gemm(5, 7, 6).layers[0])


def random_case(rng: random.Random):
    """A random small tile: PE kind, array, GEMM, buffer sizes (fit or re-fetch), DRAM."""
    pe, pp = rng.choice(
        [
            ("int_mac", dict(a_fmt="int8", w_fmt="int8")),
            ("int_mac", dict(a_fmt="int4", w_fmt="uint4", acc_bits=12, overflow="saturate")),
            ("bitserial", dict(scheme="stripes", a_fmt="int4", w_fmt="int4", lanes=1)),
            ("bitserial", dict(scheme="booth", a_fmt="int4", w_fmt="int4", lanes=1)),
            ("shiftadd", dict(a_fmt="int4", w_fmt="pot4", lanes=1, acc_bits=16)),
        ]
    )
    rows, cols = rng.randint(1, 3), rng.randint(1, 3)
    m, n, k = rng.randint(1, 7), rng.randint(1, 7), rng.randint(1, 6)
    wbytes = rng.choice([64, 1024])  # usable 32 B (re-fetch for most shapes) or 512 B
    bw, lat = rng.choice([None, 1, 2, 3.5, 8]), rng.choice([0, 1, 5])
    kw = dict(rows=rows, cols=cols, pe=pe, pe_params=pp, act_sram_bytes=512,
              weight_sram_bytes=wbytes, out_sram_bytes=512, dram_bw=bw,
              dram_latency=lat)  # fmt: skip
    return kw, (m, n, k)


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(50))
def test_random_tiles(seed, tmp_path):
    rng = random.Random(seed)
    kw, mnk = random_case(rng)
    acc, layer = case(kw, mnk)
    try:
        tile_spec(acc, layer)
    except ValueError as exc:  # a shape whose blocks do not fit: the error names it
        pytest.skip(str(exc))
    run_case(acc, layer, "icarus" if seed % 5 else "verilator", seed, tmp_path)


def random_nest(rng: random.Random, kw: dict, mnk, split_k: bool = False) -> dict:
    """A random pinned nest for a random tile: SRAM tile M and N (a multiple of the array
    edge, or the whole dimension); K whole, or (``split_k``, K > 1) a random K tile below K;
    any DRAM order of M, N and K."""
    m, n, k = mnk
    R, C = kw["rows"], kw["cols"]
    mt = min(m, R * rng.randint(1, -(-m // R)))
    nt = min(n, C * rng.randint(1, -(-n // C)))
    tiles = {"M": mt, "N": nt}
    if split_k and k > 1:
        tiles["K"] = rng.randint(1, k - 1)
    order = ["M", "N", "K"]
    rng.shuffle(order)
    return {"tiles": tiles, "order": order}


def random_k_split_case(rng: random.Random):
    """`random_case` with K >= 2 and a wrapping accumulator (a K split is exact)."""
    kw, (m, n, k) = random_case(rng)
    pp = dict(kw["pe_params"])
    if pp.get("overflow") == "saturate":
        pp["overflow"] = "wrap"
    return dict(kw, pe_params=pp), (m, n, max(k, rng.randint(2, 8)))


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(30))
def test_random_nest_tiles(seed, tmp_path):
    """30 random tiles running loop nests: random pinned SRAM tiles and DRAM orders of M, N
    and K (seeds with seed % 5 in 0..2, 18 of them: K split at the DRAM level), and every
    fifth the mapper's optimal nest (which splits K when the reduction does not fit)."""
    rng = random.Random(1000 + seed)
    split = seed % 5 in (0, 1, 2)
    kw, mnk = random_k_split_case(rng) if split else random_case(rng)
    mapping = "optimal" if seed % 5 == 4 else random_nest(rng, kw, mnk, split)
    acc, layer = case(kw, mnk)
    try:
        tile_spec(acc, layer, mapping)
    except ValueError as exc:  # a tile that does not fit its buffer: the error names it
        pytest.skip(str(exc))
    run_case(acc, layer, "icarus" if seed % 3 else "verilator", seed, tmp_path, mapping)


@pytest.mark.parametrize(
    "edit,match",
    [
        (None, "no such file"),
        (('dataflow = "os"', 'dataflow = "ws"'), "output-stationary"),
        (
            ('mode = "scalesim"', 'mode = "optimal"\nprefetch_next_layer = true'),
            "prefetch_next_layer",
        ),
        (("gemm = [5, 7, 6]", "gemm = [5, 7]"), "gemm must be"),
    ],
)
def test_cli_tile_bad_input_exits_2_with_one_line(edit, match, tmp_path, capsys):
    from pathlib import Path

    from hwsim.cli import main

    example = Path(__file__).resolve().parents[1] / "rtl/configs/tile_example.toml"
    cfg = tmp_path / "t.toml"
    if edit is not None:
        text = example.read_text()
        assert edit[0] in text
        cfg.write_text(text.replace(edit[0], edit[1]))
    assert main(["rtl", "verify", "--tile", str(cfg)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and match in err, err


@pytest.mark.parametrize("mode", ["optimal", "pinned"])
def test_cli_tile_accepts_loop_nest_mappings(mode, tmp_path, capsys, monkeypatch):
    """`[mapping] mode = "optimal"` and pinned [mapping.layers] reach the tile: the CLI builds
    the design with the mapping's nest and checks it against simulate with the same mapping
    (check_tile is replaced by a recorder: the RTL run itself is tested above)."""
    from pathlib import Path

    import hwsim.rtl.tile_check as tc
    from hwsim.cli import main

    seen = []

    def fake_check(acc, layer, sim, row, seed, design, root):
        seen.append((design.info["spec"], row["mapping"], row["dram_read_bytes_act"]))
        return tc.TileResult(sim, True, "ok")

    monkeypatch.setattr(tc, "check_tile", fake_check)
    example = Path(__file__).resolve().parents[1] / "rtl/configs/tile_example.toml"
    extra = "" if mode == "optimal" else (
        '\n[mapping.layers.gemm_5x7x6]\ntiles = { M = 4, N = 3 }\norder = ["N", "M"]'
    )  # fmt: skip
    cfg = tmp_path / "t.toml"
    cfg.write_text(example.read_text().replace('mode = "scalesim"', 'mode = "optimal"' + extra))
    tools.setup_path()
    if tools.missing("icarus"):
        pytest.skip(tools.missing("icarus"))
    assert main(["rtl", "verify", "--tile", str(cfg), "--simulator", "icarus"]) == 0
    acc, layer = case(*DEFAULT_TILES[0][1:])
    want = MAPPED_TILES[0][3] if mode == "pinned" else "optimal"
    (spec, row_mapping, act_bytes), = seen  # fmt: skip
    assert spec == tile_spec(acc, layer, want) and spec.mapping == row_mapping
    assert act_bytes == sim_row(acc, layer, want)["dram_read_bytes_act"]


def test_cli_tile_optimal_mapping_that_splits_k_runs(tmp_path, capsys):
    """rtl/configs/tile_ksplit_example.toml: mode "optimal" on a 4x4x40 GEMM, where the
    mapper splits K (partial sums in the out buffer): the CLI generates, runs and checks the
    tile on Icarus and every check holds."""
    from pathlib import Path

    from hwsim.cli import main
    from hwsim.config import load_simulation

    cfg = Path(__file__).resolve().parents[1] / "rtl/configs/tile_ksplit_example.toml"
    acc, wl, _ = load_simulation(cfg)
    s = tile_spec(acc, wl.layers[0], "optimal")
    assert s.tiles_k > 1 and s.psum in ("pe", "sram", "dram"), s
    tools.setup_path()
    if tools.missing("icarus"):
        pytest.skip(tools.missing("icarus"))
    args = ["rtl", "verify", "--tile", str(cfg), "--simulator", "icarus"]
    assert main([*args, "--build-dir", str(tmp_path)]) == 0, capsys.readouterr()


def test_example_config_builds_a_tile():
    from pathlib import Path

    from hwsim.config import load_simulation

    acc, wl, opts = load_simulation(
        Path(__file__).resolve().parents[1] / "rtl/configs/tile_example.toml"
    )
    assert opts["mapping"] == "scalesim"
    assert tile_design(acc, wl.layers[0]).info["spec"] == tile_spec(*case(*DEFAULT_TILES[0][1:]))


def test_nest_example_config_is_the_mapped_default_tile():
    from pathlib import Path

    from hwsim.config import load_simulation

    acc, wl, opts = load_simulation(
        Path(__file__).resolve().parents[1] / "rtl/configs/tile_nest_example.toml"
    )
    layer = wl.layers[0]
    spec = tile_design(acc, layer, opts["mapping"][layer.name]).info["spec"]
    name, kw, mnk, mapping = MAPPED_TILES[0]
    assert spec == tile_spec(*case(kw, mnk), mapping) and spec.n_outer


@pytest.mark.parametrize("seed", [None, *range(6)])
def test_tile_lints_clean(seed):
    """verilator --lint-only -Wall on the default tiles and a few random shapes and nests
    (with and without K splits)."""
    from hwsim.rtl.lint import lint

    tools.setup_path()
    if tools.missing("verilator"):
        pytest.skip(tools.missing("verilator"))
    if seed is None:
        cases = [(*t, "scalesim") for t in DEFAULT_TILES] + list(MAPPED_TILES)
    else:
        rng = random.Random(100 + seed)
        kw, mnk = random_case(rng)
        cases = [("r", kw, mnk, "scalesim"), ("n", kw, mnk, random_nest(rng, kw, mnk))]
        kw, mnk = random_k_split_case(rng)
        cases.append(("k", kw, mnk, random_nest(rng, kw, mnk, split_k=True)))
    for _, kw, mnk, mapping in cases:
        acc, layer = case(kw, mnk)
        try:
            d = tile_design(acc, layer, mapping)
        except ValueError:
            continue
        ok, log = lint(d)
        assert ok, log[-2000:]


@pytest.mark.slow
def test_tile_area_split_1x1():
    """A 1x1 int_mac tile: the array part is the PE plus its two pipeline registers' worth
    of flops, the buffers hold (K + K) words of 8 bits + one 32-bit word as flip-flops."""
    from hwsim.rtl.tile_area import tile_area

    if tools.yosys_missing():
        pytest.skip(tools.yosys_missing())
    acc = hwsim.accel.systolic(1, 1, pe="int_mac", dataflow="os",
                               pe_params=dict(a_fmt="int8", w_fmt="int8"))  # fmt: skip
    rows = {r["part"]: r for r in tile_area(acc, hwsim.workloads.gemm(2, 2, 4).layers[0])}
    assert set(rows) == {"tile", "array", "buffers", "controller"}
    # act 4 words x 8 b + weight (resident: 4 x 2 words) x 8 b + out 1 x 32 b + a_q/w_q 16 b
    assert rows["buffers"]["dffs"] == 4 * 8 + 8 * 8 + 32 + 16
    assert rows["array"]["ge"] > 0 and rows["controller"]["ge"] > 0


def test_docs_table_is_the_measured_csv():
    """docs/rtl.md's measured tile table and its summary sentence are rendered from
    rtl/data/tile_cycles.csv (benchmarks/tile_cycles.py --table), and every row passed."""
    import importlib.util
    from pathlib import Path

    import pandas as pd

    root = Path(__file__).resolve().parents[1]
    spec = importlib.util.spec_from_file_location("tile_cycles", root / "benchmarks/tile_cycles.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    df = pd.read_csv(root / "rtl/data/tile_cycles.csv")
    assert df["passed"].all() and (df["mapping"] != "scalesim").sum() >= 2
    assert mod.markdown(df) in (root / "docs/rtl.md").read_text()

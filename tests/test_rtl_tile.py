"""The generated accelerator tile (hwsim.rtl.emit_tile) against the PE model and hwsim.simulate.

Each case runs the tile under cocotb (Icarus and Verilator) and checks: every output equals
the PE model's value; the array cycles equal the simulator's compute_cycles; the total
cycles equal the tile's schedule and bound the simulator's from above (docs/rtl.md,
"Accelerator tile"); SRAM and DRAM bytes per operand equal the simulator's columns.
"""

from __future__ import annotations

import random

import pytest

import hwsim
from hwsim.rtl import tools
from hwsim.rtl.emit_tile import tile_design, tile_spec
from hwsim.rtl.tile_check import DEFAULT_TILES, check_tile, rtl_cycles


def case(kwargs, mnk):
    acc = hwsim.accel.systolic(dataflow="os", **kwargs)
    return acc, hwsim.workloads.gemm(*mnk).layers[0]


def sim_row(acc, layer):
    return hwsim.simulate(acc, layer, mapping="scalesim").layers.iloc[0]


def run_case(acc, layer, sim, seed=1, build_dir=None):
    tools.setup_path()
    if tools.missing(sim):
        pytest.skip(tools.missing(sim))
    res = check_tile(acc, layer, sim, sim_row(acc, layer), seed, tile_design(acc, layer), build_dir)
    assert res.passed, f"{sim} seed={seed}: {res.message}"
    return res


@pytest.mark.parametrize("sim", ["icarus", "verilator"])
@pytest.mark.parametrize("name,kw,mnk", DEFAULT_TILES, ids=[t[0] for t in DEFAULT_TILES])
def test_tile_matches_model_and_simulator(name, kw, mnk, sim, tmp_path):
    acc, layer = case(kw, mnk)
    res = run_case(acc, layer, sim, build_dir=tmp_path)
    names = [c[0] for c in res.checks]
    assert len(names) == 14 and all(c[1] for c in res.checks)


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


def test_bad_mapping_is_refused():
    acc, layer = case(DEFAULT_TILES[0][1], DEFAULT_TILES[0][2])
    with pytest.raises(ValueError, match="scalesim"):
        tile_spec(acc, layer, mapping="optimal")


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


@pytest.mark.parametrize(
    "edit,match",
    [
        (None, "no such file"),
        (('dataflow = "os"', 'dataflow = "ws"'), "output-stationary"),
        (('mode = "scalesim"', 'mode = "optimal"'), "scalesim"),
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


def test_example_config_builds_a_tile():
    from pathlib import Path

    from hwsim.config import load_simulation

    acc, wl, opts = load_simulation(
        Path(__file__).resolve().parents[1] / "rtl/configs/tile_example.toml"
    )
    assert opts["mapping"] == "scalesim"
    assert tile_design(acc, wl.layers[0]).info["spec"] == tile_spec(*case(*DEFAULT_TILES[0][1:]))


@pytest.mark.parametrize("seed", [None, *range(6)])
def test_tile_lints_clean(seed):
    """verilator --lint-only -Wall on the default tiles and a few random shapes."""
    from hwsim.rtl.lint import lint

    tools.setup_path()
    if tools.missing("verilator"):
        pytest.skip(tools.missing("verilator"))
    cases = DEFAULT_TILES if seed is None else [("r", *random_case(random.Random(100 + seed)))]
    for _, kw, mnk in cases:
        acc, layer = case(kw, mnk)
        try:
            d = tile_design(acc, layer)
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

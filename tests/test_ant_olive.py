"""ANT adaptive types and OliVe outlier-victim pairs: formats (round trip, brute-force
nearest value, victim rule) and PE kinds (exact dot, step model == fast path, events)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

import hwsim.formats as F
import hwsim.pe as pe
from hwsim.formats import olive

# --- formats ---------------------------------------------------------------------------------


def test_ant_types_pinned_grids():
    # MICRO 2022 / BitMoD FLINT4 table (independent transcription): flint4 magnitudes
    assert F.get("ant_flint4").grid().tolist() == [
        -16, -8, -6, -4, -3, -2, -1, 0, 1, 2, 3, 4, 6, 8, 16,
    ]  # fmt: skip
    assert F.get("ant_int4").grid().tolist() == list(range(-7, 8))
    assert F.get("ant_pot4").grid().tolist() == sorted(
        {0} | {s * 2**e for e in range(7) for s in (1, -1)}
    )


@pytest.mark.parametrize("name", ["ant_int4", "ant_flint4", "ant_pot4"])
def test_ant_type_round_trip_and_brute_force_nearest(name):
    fmt = F.get(name)
    codes = np.arange(16)
    vals = fmt.decode(codes)
    assert np.array_equal(fmt.decode(fmt.encode(vals)), vals)  # values round trip
    x = np.random.default_rng(1).uniform(-20, 70, 4000)
    got = fmt.decode(fmt.encode(x))
    dist = np.abs(x[:, None] - fmt.grid()[None, :])
    assert np.allclose(np.abs(got - x), dist.min(axis=1))  # a nearest value, by brute force


def test_ant_format_picks_the_least_error_type_per_tensor():
    rng = np.random.default_rng(0)
    a = F.get("ant4")
    uniform = rng.uniform(-1, 1, (8, 128))
    heavy = rng.standard_t(2, (8, 128))
    for x in (uniform, heavy):
        qt = a.encode(x)
        errs = {
            t: float(((F.get(f"ant_{t}4_g128").quantize(x) - x) ** 2).sum())
            for t in ("int", "flint", "pot")
        }
        assert qt.extra["ant_type"] == "ant_" + min(errs, key=errs.get) + "4"
        assert np.array_equal(a.quantize(x), qt.dequantize())
    assert a.encode(uniform).extra["ant_type"] == "ant_int4"  # uniform data: int wins
    assert a.encode(heavy).extra["ant_type"] != "ant_int4"
    with pytest.raises(F.FormatError, match="ANT type must be one of"):
        F.get("ant4", candidates=("float",))


def test_olive_outlier_values_pinned():
    # reference grid outlier_value(exp_bit=2, exp_base=5) = {48, 64, ..., 384} in units of 4
    assert olive.outlier_magnitudes() == (12, 16, 24, 32, 48, 64, 96)
    with pytest.raises(F.FormatError, match="unused"):
        olive.abfloat_decode([0b1000])


def test_olive_codes_round_trip_every_valid_pair():
    pairs = [
        (a, b) for a, b in itertools.product(range(16), repeat=2)
        if not (a == olive.IDENTIFIER and b == olive.IDENTIFIER)
        and not (a == olive.IDENTIFIER and b & 0b0110 == 0 and b & 1 == 0)
        and not (b == olive.IDENTIFIER and a & 0b0110 == 0 and a & 1 == 0)
    ]  # fmt: skip
    codes = np.asarray(pairs, dtype=np.uint8).reshape(1, -1)
    vals = olive.decode_pairs(codes)
    assert np.array_equal(olive.encode_pairs(vals), codes)
    with pytest.raises(F.FormatError, match="two outlier identifiers"):
        olive.decode_pairs([[8, 8]])
    with pytest.raises(F.FormatError, match="victim"):
        olive.encode_pairs([[24.0, 3.0]])


def test_olive_victim_rule_and_nearest_value():
    fmt = F.get("olive4", group_size=8)
    grid = fmt.grid()
    y = np.array([[30.0, 2.2, 1.0, -50.0, 21.0, 70.0, 3.4, -6.6]])
    # brute-force nearest value before the victim rule
    near = grid[np.abs(y[..., None] - grid).argmin(axis=-1)]
    assert np.array_equal(fmt.round_values(y), near)
    v = olive.victim_rule(fmt.round_values(y))
    # pairs: (32, victim), (victim, -48), (first outlier kept, second is its victim), normals
    assert v.tolist() == [[32.0, 0.0, 0.0, -48.0, 24.0, 0.0, 3.0, -7.0]]
    x = np.random.default_rng(2).standard_t(3, (16, 256))
    qt = F.get("olive4").encode(x)
    vals = olive.decode_pairs(qt.codes)
    out = np.abs(vals) > olive.NORMAL_MAX
    partner = np.abs(vals.reshape(16, -1, 2)[..., ::-1]).reshape(16, -1)
    assert out.any() and np.all(partner[out] == 0)  # every outlier's partner is zero
    assert qt.storage_bits() == x.size * 4 + 16 * 16 * 2


def test_olive_partial_group_uses_its_own_statistics():
    x = np.random.default_rng(5).standard_normal((3, 192))  # 128 + a partial group of 64
    fmt = F.get("olive4")
    whole = fmt.quantize(x)
    part = F.get("olive4", group_size=64).quantize(x[:, 128:])
    assert np.array_equal(whole[:, 128:], part)  # padding does not enter mean / std
    with pytest.raises(F.FormatError, match="even length"):
        fmt.encode(x[:, :191])


def test_storage_bits_and_format_error_evaluator():
    from hwsim.evaluators import format_error

    assert F.get("olive4").storage_bits((4, 192)) == 4 * 192 * 4 + 4 * 2 * 16
    assert F.get("ant4").storage_bits((4, 256)) == 4 * 256 * 4 + 4 * 2 * 16 + 2
    for name in ("ant4", "olive4"):
        r = format_error({"format": name, "distribution": "laplace", "rows": 4, "cols": 256})
        assert r["bits_per_element"] == pytest.approx(4 + 16 / 128, abs=0.01) and r["sqnr_db"] > 10


def test_olive_beats_int4_on_heavy_tails():
    x = np.random.default_rng(3).standard_t(2, (32, 512))
    err = {n: np.mean((F.get(n).quantize(x) - x) ** 2) for n in ("olive4", "int4_g128")}
    assert err["olive4"] < err["int4_g128"]


# --- PEs -------------------------------------------------------------------------------------


def _operands(w_fmt, k, rng):
    a = rng.integers(-128, 128, k)
    w = rng.choice(F.get(w_fmt).grid(), k)
    if w_fmt.startswith("olive"):
        w = olive.victim_rule(w[None, :])[0]
    return a, w


@pytest.mark.parametrize(
    "kind, w_fmt, lanes",
    [("ant", "ant_flint4", 1), ("ant", "ant_pot4", 4), ("ant", "ant_int4", 3),
     ("olive", "olive4_values", 1), ("olive", "olive4_values", 2)],
)  # fmt: skip
def test_step_model_equals_fast_path_and_exact_dot(kind, w_fmt, lanes):
    rng = np.random.default_rng(4)
    extra = {"victim_check": True} if kind == "olive" else {}
    unit = pe.get(kind, w_fmt=w_fmt, lanes=lanes, **extra)
    for k in (2, 10, 64):
        a, w = _operands(w_fmt, k, rng)
        fast, step = unit.dot(a, w), unit.step_dot(a, w)
        assert fast == step
        assert fast.value == int(np.dot(a.astype(np.int64), w.astype(np.int64)))
        assert fast.cycles == -(-k // lanes)


def test_pe_events_pinned_and_registered():
    assert {"ant", "olive"} <= set(pe.kinds())
    # flint4: m in {1, 3} (2 bits + sign), shifts up to 4: 8 x 3 multiplier, 8+3+4 = 15-bit
    ev = pe.get("ant").dot_events(4)
    assert ev == {"lut_read_6": 4, "mul_8x3": 4, "shift_15": 4, "add_32": 4, "reg_write_32": 4}
    # OliVe: m in {1, 3, 5, 7} (3 bits + sign), shifts up to 6 (64 = 1 << 6, 96 = 3 << 5)
    ev = pe.get("olive").dot_events(2)
    assert ev["mul_8x4"] == 2 and ev["shift_18"] == 2 and ev["mux_7"] == 2


def test_olive_pe_victim_check():
    unit = pe.get("olive", victim_check=True)
    with pytest.raises(pe.PEError, match=r"weights \(2, 3\) of column 0 break the victim rule"):
        unit.dot([1, 2, 3, 4], [0, 0, 1, -96])
    with pytest.raises(pe.PEError, match="victim rule"):
        unit.step_dot([1, 2], [24, 1])
    assert unit.dot([1, 2, 3], [0, 0, 96]).value == 288  # odd K: the last pairs with padding
    assert pe.get("olive").dot([1, 2], [24, 1]).value == 26  # check off: decoded values
    with pytest.raises(pe.PEError, match="value table of integers"):
        pe.get("ant", w_fmt="int4")


def test_llm_pe_runs_ant_and_olive_designs():
    from hwsim.evaluators import LLM_DESIGNS, llm_pe

    assert LLM_DESIGNS["ant_w4a8"][0] == "ant" and LLM_DESIGNS["olive_w4a8"][0] == "olive"
    p = dict(model="minilm-l6", phase="prefill", seq_len=64, rows=8, cols=8)
    ant, mac = llm_pe({**p, "design": "ant_w4a8"}), llm_pe({**p, "design": "mac_w4a8"})
    assert ant["cycles"] == mac["cycles"]  # one MAC per PE per cycle either way
    assert ant["area_pe_um2"] > mac["area_pe_um2"]  # decoder, shifter, wider product


def test_ant_olive_designs_have_no_rtl_area():
    from hwsim.evaluators import NO_RTL_DESIGNS, _pe_area

    for design in NO_RTL_DESIGNS:  # RTL for these PEs is out of scope (docs/pe_models.md)
        with pytest.raises(ValueError, match="no synthesized area"):
            _pe_area(design, "rtl")

"""Claims files of the other modelled systems (studies/claims: L-Mul, HAWQ-V3, FP6-LLM,
ShiftAddViT, BitMoD accuracy, T-MAC, bipolar-INT), loaded and run with hwsim.claims: each
loads as a study, every headline's ``claimed`` number appears in its ``quote`` (the one place
paper numbers are typed), and the numbers next to them come from runs of the study machinery
(nothing typed).
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from hwsim import claims as C

ROOT = Path(__file__).resolve().parent.parent / "studies" / "claims"
FILES = ("lmul", "hawq_v3", "fp6_llm", "shiftaddvit", "bitmod_accuracy", "t_mac", "bipolar_int")


def claims_of(system: str) -> tuple[C.Claim, ...]:
    return C.load_claims_file(ROOT / f"{system}.toml")[1]


def evaluate(system: str, out: Path, workers: int = 1):
    """(claim table rows of the modelled claims, the study's ok rows); ablations are scored
    against their headline's claimed number (hwsim.claims.evaluate_claims)."""
    import pandas as pd

    from hwsim.study import run_study

    study, claims = C.load_claims_file(ROOT / f"{system}.toml")
    if study is None:
        return pd.DataFrame(), None
    df = run_study(study, out / system, workers=workers)
    assert not (df["status"] == "failed").any(), df[df.status == "failed"].error.tolist()
    ok = df[df["status"] == "ok"]
    table = C.evaluate_claims(ok, [c for c in claims if c.modelled])
    return table, ok


@pytest.mark.parametrize("system", FILES)
def test_claims_file_rules(system):
    study, claims = C.load_claims_file(ROOT / f"{system}.toml")  # keys, quotes, explains
    heads = {c.name for c in claims if c.role == "headline"}
    for c in claims:
        if c.role == "headline":
            assert c.paper and C.quotes_number(c.quote, c.claimed), c.name
        else:
            assert c.explains in heads and math.isnan(c.claimed) and not c.quote
        if c.needs:
            assert c.design is None and c.baseline is None and not c.metric
        else:
            assert c.metric and c.design and c.baseline
    assert (study is None) == all(c.needs for c in claims)


def test_quotes_number_is_a_token_match():
    q = C.quotes_number
    assert q("reduce 95% energy", 95) and not q("reduce 95% energy", 9.5)
    assert q("speed up of 1.45× for", 1.45) and not q("1.455x", 1.45)
    assert not q("up to 42.9% energy", 42)


def test_lmul_claims_computed(tmp_path):
    table, ok = evaluate("lmul", tmp_path)
    by = {(r.claim, r.context): r.ours for r in table.itertuples()}
    # independent: Horowitz 45 nm fp32 multiply 3.7 pJ; the L-Mul adder is 31 bits of a
    # 32-bit adder (0.1 pJ) scaled linearly plus a 1-bit xor: saving within 97.2-97.5 %
    fp32 = by[("L-Mul: element-wise multiply energy saving (%)", "fmt=fp32")]
    assert 97.2 < fp32 < 97.5
    # fp16 in the same way (1.1 pJ multiply, 15-bit add of a 0.05 pJ 16-bit adder): ~95.6 %
    assert 95.4 < by[("L-Mul: element-wise multiply energy saving (%)", "fmt=fp16")] < 95.8
    dot32 = by[("L-Mul: dot-product energy saving (%)", "fmt=fp32")]
    assert dot32 == pytest.approx(100 * (1 - (3.7 * (1 - fp32 / 100) + 0.9) / 4.6), rel=1e-9)
    assert ok["unit"].any()
    # the same numbers through the claims runner (hwsim claims), reusing the point cache
    ran = C.run_claims(ROOT, tmp_path, only="lmul", workers=1).set_index(["claim", "context"])
    assert ran.ours.to_dict() == pytest.approx(by, rel=1e-12)


def test_needs_claims_say_what_they_need():
    for system in ("t_mac", "bipolar_int", "fp6_llm", "shiftaddvit"):
        needs = [c for c in claims_of(system) if c.needs]
        assert needs and all(math.isfinite(c.claimed) and len(c.needs) > 40 for c in needs)


@pytest.mark.slow
@pytest.mark.parametrize("system", ["hawq_v3", "shiftaddvit", "fp6_llm", "t_mac", "bipolar_int"])
def test_simulated_claims_run(system, tmp_path):
    table, _ = evaluate(system, tmp_path)
    assert len(table) and table["ours"].notna().all() and (table["ours"] != 0).all()


@pytest.mark.slow
def test_bitmod_accuracy_claim_runs(tmp_path):
    pytest.importorskip("gguf")
    table, ok = evaluate("bitmod_accuracy", tmp_path)
    r = {x.claim: x.ours for x in table.itertuples()}
    assert r["BitMoD accuracy: INT8 per channel on the same model"] < 2.0
    assert r["BitMoD 4-bit weights: accuracy loss (%)"] > 0


def test_lmul_op_is_an_adder_of_e_plus_m_bits_and_a_sign_xor():
    from hwsim.accel.cost import op_energy_pj

    xor = op_energy_pj("xor", 1)
    # Horowitz 45 nm adders, 16 bit 0.05 pJ and 32 bit 0.1 pJ, linear between: a 31-bit add
    # (fp32: 8 + 23 field bits) is 0.096875 pJ; a 15-bit add (fp16: 5 + 10) lies between the
    # 8-bit (0.03 pJ) and 16-bit (0.05 pJ) adders, near 0.0475 pJ
    assert op_energy_pj("lmul", "fp32") == pytest.approx(0.096875 + xor, rel=1e-9)
    assert 0.03 + xor < op_energy_pj("lmul", 16) < 0.05 + xor
    assert op_energy_pj("lmul", 16) == pytest.approx(0.0475 + xor, rel=2e-2)
    assert op_energy_pj("lmul", "e4m3") < op_energy_pj("fmul", "e4m3")
    with pytest.raises(ValueError, match="width"):
        op_energy_pj("lmul", (4, 8))


def test_int_vs_fp_sqnr_with_hadamard():
    """INT vs FP (Chen et al., arXiv 2510.25602), qualitatively: MXINT8 beats MXFP8, NVINT4
    loses to NVFP4 on heavy tails but beats it after a block Hadamard rotation."""
    import numpy as np

    from hwsim.evaluators import format_error_rotated, hadamard

    h = hadamard(16)
    assert np.allclose(h @ h.T, np.eye(16)) and set(np.unique(h * 4)) == {-1.0, 1.0}
    with pytest.raises(ValueError, match="power of two"):
        hadamard(12)

    def sqnr(fmt, dist, n=0):
        return format_error_rotated(dict(format=fmt, distribution=dist, hadamard=n))["sqnr_db"]

    for dist in ("gaussian", "student_t"):
        assert sqnr("mxint8", dist) > sqnr("mxfp8_e4m3", dist) + 5
    assert sqnr("nvint4", "student_t") < sqnr("nvfp4", "student_t")
    assert sqnr("nvint4", "student_t", 16) > sqnr("nvfp4", "student_t", 16) + 1
    # the rotation is undone: an 8-bit format's error stays small in the original domain
    assert sqnr("mxint8", "gaussian", 32) > 40


def test_unit_rows_and_saving_evaluator():
    from hwsim.evaluators import get_spec, llm_pe_saving, op_energy

    assert set(op_energy({"unit": True}).values()) == {1.0}
    assert set(llm_pe_saving({"unit": True, "design": "mac_w8a8"}).values()) == {1.0}
    p = dict(design="mac_w4a8", baseline="mac_w8a8", model="minilm-l6", phase="prefill",
             seq_len=32, rows=8, cols=8)  # fmt: skip
    r = llm_pe_saving(p)
    assert r["speedup"] == pytest.approx(r["baseline_cycles"] / r["cycles"])
    assert r["energy_saving_pct"] == pytest.approx(
        100 * (1 - r["energy_pj"] / r["baseline_energy_pj"])
    )
    assert r["dram_ratio"] > 1  # 4-bit weights read fewer bytes
    for name in ("op_energy", "llm_pe_saving", "llm_ppl", "format_error_rotated"):
        assert get_spec(name).fn

"""Study 4 evaluator: SmolLM2 perplexity (stubbed here: these tests are about plumbing) next
to the simulated energy / latency / area of the same model on a PE design's array."""

from pathlib import Path

import pytest

import hwsim.accuracy.llm as llm
import hwsim.evaluators as E
from hwsim.study import load_study

STUDY = Path(__file__).resolve().parents[1] / "studies" / "llm_accuracy_energy.toml"


@pytest.fixture
def calls(monkeypatch):
    """Replace the perplexity with a stub recording its arguments (fresh cache per test)."""
    seen = []

    def stub(model="smollm2-135m", **kw):
        seen.append({"model": model, **kw})
        return 10.0 + len(seen)

    monkeypatch.setattr(llm, "llm_perplexity", stub)
    E._perplexity.cache_clear()
    yield seen
    E._perplexity.cache_clear()


def _point(**kw):
    return {"design": "mac_w4a8", "phase": "decode", "seq_len": 16, "tokens": 64, **kw}


def test_schema_keys_defaults_and_extra():
    spec = E.get_spec("llm_accuracy_energy")
    names = [p.name for p in spec.params]
    for key in ("design", "phase", "seq_len", "batch", "kv_fmt", "tokens", "pe_exact", "method",
                "rows", "cols", "iso_area", "area_source", "array"):  # fmt: skip
        assert key in names
    assert "model" not in names  # always SmolLM2: the model of the perplexity
    assert spec.param("tokens").default == 2048 and spec.param("pe_exact").default is False
    assert [p.name for p in spec.params if p.required] == ["design", "phase", "seq_len"]
    assert spec.requires[1] == llm.INSTALL
    with pytest.raises(ValueError, match="did you mean 'tokens'"):
        spec.check_keys({"design", "phase", "seq_len", "token"})
    assert set(E.LLM_ACCURACY_FORMATS) == set(E.LLM_DESIGNS)


def test_perplexity_once_across_batch_and_phase(calls):
    rows = [
        E.llm_accuracy_energy(_point(phase=ph, batch=b))
        for ph in ("prefill", "decode")
        for b in (1, 8, 64)
    ]
    assert len(calls) == 1
    assert {r["perplexity"] for r in rows} == {11.0}
    (c,) = calls
    assert (c["model"], c["tokens"], c["weight_fmt"], c["act_fmt"], c["kv_fmt"]) == (
        "smollm2-135m", 64, "int4_g128", "int8", "int8",
    )  # fmt: skip
    assert "pe" not in c  # format-emulated unless pe_exact
    assert len({r["energy_pj"] for r in rows}) == 6  # the simulations do differ
    # designs with the same formats share one emulated run; another KV format is a new run
    E.llm_accuracy_energy(_point(design="bitserial_w4a8"))
    assert len(calls) == 1
    E.llm_accuracy_energy(_point(kv_fmt="int4"))
    E.llm_accuracy_energy(_point(tokens=128))
    assert len(calls) == 3 and calls[1]["kv_fmt"] == "int4" and calls[2]["tokens"] == 128


def test_pe_exact_runs_the_design_pe_and_reports_the_emulated_value(calls):
    a = E.llm_accuracy_energy(_point(pe_exact=True))
    E.llm_accuracy_energy(_point(design="bitserial_w4a8", pe_exact=True, batch=8))
    # emulated int4_g128 x int8 once (shared by both designs), then each PE once
    assert [c.get("pe") for c in calls] == [None, "int_mac", "bitserial"]
    assert calls[2]["pe_params"] == {"scheme": "booth"}  # the design's, formats from operands
    assert (a["perplexity"], a["perplexity_emulated"]) == (12.0, 11.0)
    out = E.llm_accuracy_energy(_point(design="bitserial_w4a8", pe_exact=True))
    assert len(calls) == 3 and out["accuracy_path"] == "pe:bitserial"
    assert out["config"] == "bitserial_w4a8 kv:int8"


def test_simulation_is_smollm2_with_the_kv_format_and_per_token_metrics(calls):
    out = E.llm_accuracy_energy(_point(phase="prefill", seq_len=16, batch=2))
    same = E.llm_pe(dict(design="mac_w4a8", model="smollm2-135m", phase="prefill", seq_len=16,
                         batch=2, kv_fmt="int8"))  # fmt: skip
    assert out["energy_pj"] == same["energy_pj"] and out["cycles"] == same["cycles"]
    assert out["macs"] == same["macs"] and out["kv_fmt_used"] == "int8"
    assert out["step_tokens"] == 32  # 2 prompts x 16 tokens
    assert out["energy_per_token_uj"] == pytest.approx(out["energy_pj"] / 32 * 1e-6)
    assert out["time_per_token_us"] == pytest.approx(out["cycles"] / 32 / 500e6 * 1e6)
    dec = E.llm_accuracy_energy(_point(batch=4, kv_fmt="fp16"))
    assert dec["step_tokens"] == 4 and dec["kv_fmt_used"] == "fp16"
    # a 16-bit KV cache moves more bytes than the default int8 one in decode
    assert dec["dram_bytes"] > E.llm_accuracy_energy(_point(batch=4))["dram_bytes"]


def test_bad_input_is_named(calls):
    with pytest.raises(ValueError, match="unknown design"):
        E.llm_accuracy_energy(_point(design="nope"))
    assert not calls


def test_study_file_validates():
    study = load_study(STUDY)
    assert study.evaluate == "llm_accuracy_energy"
    points = study.sweep.points()
    assert {p["design"] for p in points} <= set(E.LLM_DESIGNS)
    assert {p["phase"] for p in points} == {"prefill", "decode"}


def test_findings_and_generated_readme_section(calls, tmp_path):
    import pandas as pd

    from hwsim import llm_findings as LF

    rows = []
    for design in ("fp16_fma", "mac_w8a8", "mac_w4a8"):
        for kv in ("int8", "int4"):
            for phase, batch in (("prefill", 1), ("decode", 1), ("decode", 8)):
                p = _point(design=design, kv_fmt=kv, phase=phase, batch=batch)
                rows.append({**p, "status": "ok", **E.llm_accuracy_energy(p)})
    df = pd.DataFrame(rows)
    lines = LF.findings(df)
    table = [ln for ln in lines if ln.startswith("| ")]
    assert len(table) == 1 + 3  # header + one row per design
    head = [c.strip() for c in table[0].strip("|").split("|")]
    row = dict(zip(head, [c.strip() for c in table[3].strip("|").split("|")], strict=True))
    ref = df[(df.design == "mac_w4a8") & (df.phase == "decode") & (df.batch == 8)]
    ref = ref[ref.kv_fmt_used == "int8"].iloc[0]
    assert row["design"] == "mac_w4a8" and row["ppl KV int8"] == LF._fmt(ref.perplexity)
    assert row["uJ/token decode b8"] == LF._fmt(ref.energy_per_token_uj)
    text = "\n".join(lines)
    assert "KV cache int8 -> int4" in text and "Pareto front, perplexity vs area" in text
    # the README section is replaced in place, everything around it kept
    res = tmp_path / "run"
    res.mkdir()
    df.to_csv(res / "results.csv", index=False)
    (res / "summary.md").write_text("# run\n")
    readme = tmp_path / "README.md"
    readme.write_text(f"# S\n\nbefore\n{LF.BEGIN}\nold numbers\n{LF.END}\nafter\n")
    LF.write(res, readme)
    LF.write(res, readme)  # idempotent
    out = readme.read_text()
    assert "old numbers" not in out and out.count(LF.BEGIN) == 1
    assert out.startswith("# S\n\nbefore\n") and out.endswith("after\n") and table[3] in out
    assert (res / "summary.md").read_text().count(LF.FINDINGS) == 1
    with pytest.raises(ValueError, match="results.csv"):
        LF.write(tmp_path)

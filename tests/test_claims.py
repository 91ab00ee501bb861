"""hwsim.claims: ratios between study rows next to paper claims."""

import pandas as pd
import pytest

from hwsim.claims import claims_markdown, evaluate_claims


def _df():
    return pd.DataFrame(
        {
            "design": ["a", "b", "a", "b"],
            "phase": ["decode", "decode", "prefill", "prefill"],
            "cycles": [10.0, 30.0, 4.0, 6.0],
            "tops": [3.0, 1.0, 2.0, 1.0],
        }
    )


def test_ratio_per_matched_context():
    claim = dict(
        name="a vs b", metric="cycles", design={"design": "a"}, baseline={"design": "b"},
        match=["phase"], claimed=2.0, source="paper", explanation="why",
    )  # fmt: skip
    t = evaluate_claims(_df(), [claim])
    df = _df().set_index(["design", "phase"])
    for phase in ("decode", "prefill"):
        row = t[t.context == f"phase={phase}"].iloc[0]
        expect = df.loc[("b", phase), "cycles"] / df.loc[("a", phase), "cycles"]
        assert row.ours == pytest.approx(expect)
        assert row.ours_over_claimed == pytest.approx(expect / 2.0)
    text = "\n".join(claims_markdown(t))
    assert "a vs b" in text and "why" in text and "| phase=decode |" in text


def test_better_max_inverts_the_ratio():
    claim = dict(
        name="x", metric="tops", better="max", design={"design": "a"},
        baseline={"design": "b"}, match=["phase"], claimed=1.0,
    )  # fmt: skip
    t = evaluate_claims(_df(), [claim])
    assert sorted(t.ours) == [2.0, 3.0]


@pytest.mark.parametrize(
    "change,message",
    [
        ({"metric": "nope"}, "column 'nope'"),
        ({"design": {"design": "zz"}}, "no result row matches"),
        ({"better": "up"}, "better must be"),
        ({"claimed": -1}, "claimed must be a number > 0"),
        ({"typo": 1}, "unknown key"),
        ({"match": []}, "exactly one baseline row"),
    ],
)
def test_bad_claims_are_named(change, message):
    claim = dict(
        name="c", metric="cycles", design={"design": "a"}, baseline={"design": "b"},
        match=["phase"], claimed=2.0,
    )  # fmt: skip
    claim.update(change)
    with pytest.raises(ValueError, match=message):
        evaluate_claims(_df(), [claim])


# --- claims-file keys: paper, quote, role / explains, needs -------------------------------

from hwsim import claims as C  # noqa: E402

_HEAD = dict(
    name="h", metric="cycles", design={"design": "a"}, baseline={"design": "b"},
    match=["phase"], claimed=2.0, paper="P (2024)", quote="it is 2x faster",
)  # fmt: skip
_ABL = dict(
    name="abl", role="ablation", explains="h", metric="tops", better="max",
    design={"design": "a"}, baseline={"design": "b"}, match=["phase"],
)  # fmt: skip
_NEEDS = dict(name="gpu", claimed=4.0, paper="Q", quote="4x on A100", needs="GPU kernel timing")


def test_ablation_and_needs_rows():
    t = C.evaluate_claims(_df(), [_HEAD, _ABL, _NEEDS])
    abl = t[t.claim == "abl"]
    assert list(abl.claimed) == [2.0, 2.0]  # the headline's paper number, not typed
    assert sorted(abl.ours) == [2.0, 3.0]
    gpu = t[t.claim == "gpu"].iloc[0]
    assert gpu.context == "not modelled" and gpu.ours != gpu.ours  # NaN: listed, not hidden
    C.check_claims_file([C.Claim.from_dict(c) for c in (_HEAD, _ABL, _NEEDS)], "f")
    lines = C.claims_table_lines(t.assign(system="s"))
    assert any("ablation of h" in ln for ln in lines)
    assert any("Not modelled: needs GPU kernel timing" in ln and "| n/a |" in ln for ln in lines)


@pytest.mark.parametrize(
    "claim,message",
    [
        ({**_HEAD, "role": "main"}, "role must be one of"),
        ({**_ABL, "explains": ""}, "needs explains"),
        ({**_ABL, "claimed": 2.0}, "computed, not typed"),
        ({**_HEAD, "explains": "x"}, "for role = 'ablation'"),
        ({**_NEEDS, "metric": "cycles"}, "has no \\['metric'\\]"),
        ({k: v for k, v in _HEAD.items() if k != "design"}, "missing key"),
        ({**_HEAD, "quote": 2.0}, "quote must be a string"),
        ({k: v for k, v in _HEAD.items() if k != "claimed"}, "claimed"),
    ],
)
def test_bad_claim_keys_name_the_claim_and_key(claim, message):
    with pytest.raises(ValueError, match=message) as info:
        C.Claim.from_dict(claim)
    assert repr(claim["name"]) in str(info.value)


@pytest.mark.parametrize(
    "claims,message",
    [
        ([{**_HEAD, "quote": "it is 2.5x faster"}], "claimed = 2 does not appear"),
        ([{**_HEAD, "paper": ""}], "missing paper"),
        ([_HEAD, {**_ABL, "explains": "zz"}], "not a headline"),
        ([_HEAD, _HEAD], "duplicate"),
    ],
)
def test_claims_file_rules(claims, message):
    with pytest.raises(ValueError, match=message):
        C.check_claims_file([C.Claim.from_dict(c) for c in claims], "f.toml")


@pytest.mark.parametrize(
    "quote,x,ok",
    [
        ("it is 2.5x faster", 2, False), ("2x faster", 2, True), ("by 2.6x speedup", 2.6, True),
        ("12.6x", 2.6, False), ("2.60x", 2.6, True), ("1,000 tokens", 1000, True),
        ("more than a magnitude of improvements", 10, True), ("a magnitude", 2, False),
    ],
)  # fmt: skip
def test_quoted_number_is_a_whole_token(quote, x, ok):
    assert C.quotes_number(quote, x) is ok


def test_gap_over_limit_needs_an_ablation():
    far = {**_HEAD, "claimed": 10.0, "quote": "10x"}  # ours 1.5-3 vs 10: off by > 1.5x
    t = C.evaluate_claims(_df(), [far])
    assert C.gaps_without_ablation(t) == ["h"]
    assert C.gaps_without_ablation(C.evaluate_claims(_df(), [far, _ABL])) == []
    close = {**_HEAD, "claimed": 2.2, "quote": "2.2x"}  # ours 1.5 and 3: within 1.5x of 2.2
    assert C.gaps_without_ablation(C.evaluate_claims(_df(), [close])) == []


def test_markdown_markers_round_trip(tmp_path):
    doc = tmp_path / "d.md"
    doc.write_text(f"intro\n{C.MARK_BEGIN}\nold\n{C.MARK_END}\noutro\n")
    C.write_markdown(doc, ["| a |", "| b |"])
    text = doc.read_text()
    assert text.startswith("intro\n") and text.endswith("outro\n")
    assert C.marked_section(text) == ["| a |", "| b |"]
    (tmp_path / "plain.md").write_text("no markers\n")
    with pytest.raises(ValueError, match="markers"):
        C.write_markdown(tmp_path / "plain.md", ["x"])


def test_claims_files_bad_folder_and_name(tmp_path):
    with pytest.raises(ValueError, match="not a directory"):
        C.claims_files(tmp_path / "nope")
    with pytest.raises(ValueError, match="no \\*.toml"):
        C.claims_files(tmp_path)
    (tmp_path / "sys.toml").write_text("")
    with pytest.raises(ValueError, match="no claims file 'zz'.*known: sys"):
        C.claims_files(tmp_path, only="zz")


def test_run_claims_on_a_selftest_file(tmp_path):
    (tmp_path / "toy.toml").write_text(
        '[study]\nname = "toy"\nevaluate = "selftest"\n[grid]\nx = [2, 4]\n'
        '[[claim]]\nname = "x4 vs x2"\npaper = "Toy (2025)"\nquote = "squares: 4x"\n'
        'metric = "y"\nbetter = "max"\ndesign = { x = 4 }\nbaseline = { x = 2 }\nclaimed = 4\n'
        '[[claim]]\nname = "kernel"\npaper = "Toy (2025)"\nquote = "3x on a GPU"\nclaimed = 3\n'
        'needs = "GPU timing"\n'
    )
    t = C.run_claims(tmp_path, tmp_path / "out", workers=1)
    assert list(t.system) == ["toy", "toy"] and t.ours.iloc[0] == 16 / 4
    assert (tmp_path / "out" / "toy" / "points").is_dir()  # the study's point cache
    from hwsim.cli import main

    md = tmp_path / "t.md"
    assert main(["claims", "--dir", str(tmp_path), "--out", str(tmp_path / "o"),
                 "--markdown", str(md), "--quiet", "--workers", "1"]) == 0  # fmt: skip
    assert C.marked_section(md.read_text()) == C.claims_table_lines(
        C.read_claims_table(tmp_path / "o" / "claims.csv")
    )


def test_cli_claims_bad_input_is_one_line(tmp_path, capsys):
    from hwsim.cli import main

    assert main(["claims", "--dir", str(tmp_path / "missing")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "is not a directory" in err
    (tmp_path / "x.toml").write_text('[study]\nname = "x"\nevaluate = "selftest"\n')
    assert main(["claims", "--dir", str(tmp_path), "--only", "y"]) == 2
    assert "no claims file 'y'" in capsys.readouterr().err
    assert main(["claims", "--dir", str(tmp_path)]) == 2
    assert "needs at least one [[claim]]" in capsys.readouterr().err
    (tmp_path / "x.toml").write_text(
        '[[claim]]\nname = "k"\npaper = "P"\nquote = "3x"\nclaimed = 3\nneeds = "a GPU"\n'
    )
    assert main(["claims", "--dir", str(tmp_path), "--out", str(tmp_path / "o")]) == 0
    assert C.read_claims_table(tmp_path / "o" / "claims.csv").needs.tolist() == ["a GPU"]
    doc = tmp_path / "doc.md"
    doc.write_text("no markers here\n")  # refused before anything runs, file untouched
    assert main(["claims", "--dir", str(tmp_path), "--markdown", str(doc)]) == 2
    assert "claims-table markers" in capsys.readouterr().err
    assert doc.read_text() == "no markers here\n"

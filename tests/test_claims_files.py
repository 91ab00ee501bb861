"""studies/claims/*.toml: every file valid, paper numbers transcribed once (in the quote), every
large gap explained by a measured ablation, and the tables in docs/claims.md and
studies/README.md generated from the committed results (studies/claims/claims.csv)."""

from pathlib import Path

import pandas as pd
import pytest

from hwsim import claims as C

ROOT = Path(__file__).resolve().parents[1]
FILES = C.claims_files(ROOT / "studies" / "claims")
COMMITTED = ROOT / "studies" / "claims" / "claims.csv"
KEY = ["system", "claim", "context"]


@pytest.mark.parametrize("path", FILES, ids=[f.stem for f in FILES])
def test_file_loads_and_every_headline_quotes_its_number(path):
    study, claims = C.load_claims_file(path)  # validates keys, quotes, explains targets
    for c in claims:
        if c.role == "headline":
            assert c.paper and C.quotes_number(c.quote, c.claimed), c.name
        else:
            assert c.modelled and c.explains  # an ablation is measured, never typed
    assert study is None or study.claims == claims


def _committed() -> pd.DataFrame:
    return C.read_claims_table(COMMITTED)


def test_committed_table_matches_the_files():
    """Claim names, roles and paper numbers in the committed results are those of the files
    (a file edited without re-running `hwsim claims` fails here)."""
    t = _committed()
    for path in FILES:
        _, claims = C.load_claims_file(path)
        rows = t[t.system == path.stem]
        assert list(dict.fromkeys(rows.claim)) == [c.name for c in claims], path.stem
        for c in claims:
            r = rows[rows.claim == c.name]
            assert set(r.role) == {c.role}
            if c.role == "headline":
                assert set(r.claimed) == {c.claimed} and set(r.quote) == {c.quote}


def test_every_large_gap_has_a_measured_ablation():
    t = _committed()
    assert C.gaps_without_ablation(t) == []
    abl = t[t.role == "ablation"]
    assert abl.ours.notna().all() and (abl.ours > 0).all()
    # the paper side, pinned: LUT-TC's v1 abstract says "more than a magnitude" (10x)
    head = t[t.role == "headline"].set_index("claim")
    assert head.loc["LUT-TC INT1 x FP16 vs MAC tensor core: compute density", "claimed"] == 10
    assert t[t.needs != ""].ours.isna().all()  # not-modelled claims are listed, not hidden


def test_lut_density_advantage_grows_as_weight_bits_shrink():
    t = _committed().set_index("claim")
    dens = [
        t.loc[f"LUT-TC INT{b} x FP16 vs MAC tensor core: compute density", "ours"]
        for b in (4, 2, 1)
    ]
    assert dens == sorted(dens) and dens[0] > 1


@pytest.mark.parametrize("doc", ["docs/claims.md", "studies/README.md"])
def test_markdown_tables_are_generated(doc):
    text = (ROOT / doc).read_text()
    assert C.marked_section(text) == C.claims_table_lines(_committed())


def test_bit_fusion_rows_regenerate_from_code(tmp_path):
    """The smallest claims file, run now: the same numbers as the committed table."""
    fresh = C.run_claims(ROOT / "studies" / "claims", tmp_path, only="bit_fusion", workers=1)
    old = _committed()
    old = old[old.system == "bit_fusion"]
    merged = fresh.merge(old, on=KEY, suffixes=("", "_old"))
    assert len(merged) == len(fresh) == len(old)
    assert merged.ours.to_numpy() == pytest.approx(merged.ours_old.to_numpy(), rel=1e-9)


@pytest.mark.slow
def test_every_claims_file_regenerates_the_committed_table(tmp_path):
    fresh = C.run_claims(ROOT / "studies" / "claims", tmp_path)
    old = _committed()
    merged = fresh.merge(old, on=KEY, suffixes=("", "_old"))
    assert len(merged) == len(fresh) == len(old)
    both = merged.dropna(subset=["ours"])
    assert both.ours.to_numpy() == pytest.approx(both.ours_old.to_numpy(), rel=1e-9)
    assert C.gaps_without_ablation(fresh) == []

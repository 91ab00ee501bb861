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

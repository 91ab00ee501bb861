"""Study 3 evaluator: ILP per-layer MiniLM formats under a memory budget, measured for real."""

import pytest

from hwsim.accuracy import minilm

pytestmark = pytest.mark.skipif(not minilm.available(), reason=f"MiniLM missing: {minilm.INSTALL}")

FORMATS = "int8_channel,int3_g128"


def _point(**kw):
    return {"formats": FORMATS, "texts": 2, **kw}


def test_budget_limits_the_allocation_and_extremes_are_uniform():
    from hwsim.mixed_precision import layer_table, mixed_precision

    table = layer_table(tuple(FORMATS.split(",")), None, tuple(minilm.TEXTS[:2]))
    hi = mixed_precision(_point(strategy="uniform", format="int8_channel"))
    lo = mixed_precision(_point(strategy="uniform", format="int3_g128"))
    assert lo["bits_per_weight"] < hi["bits_per_weight"]
    # a budget between the two: the ILP stays within it and mixes formats
    mid_budget = (lo["bits_per_weight"] + hi["bits_per_weight"]) / 2
    mid = mixed_precision(_point(strategy="ilp", budget=mid_budget))
    assert mid["bits_per_weight"] <= mid_budget + 1e-9
    assert mid["layers_int8_channel"] > 0 and mid["layers_int3_g128"] > 0
    # at the top budget every layer takes its least-drop format
    top = mixed_precision(_point(strategy="ilp", budget=hi["bits_per_weight"]))
    best = table.loc[table.groupby("layer")["drop"].idxmin()]
    chosen = dict(item.split("=") for item in top["allocation"].split(";"))
    drop = table.set_index(["layer", "format"])["drop"]
    assert all(
        drop.loc[(k, v)] <= best.set_index("layer").loc[k, "drop"] for k, v in chosen.items()
    )
    # the ILP's proxy is the sum of the per-layer drops it chose
    drops = table.set_index(["layer", "format"])["drop"].clip(lower=0)
    assert mid["predicted_cosine"] == pytest.approx(
        1 - sum(drops.loc[tuple(i.split("="))] for i in mid["allocation"].split(";"))
    )
    assert 0 < mid["cosine"] <= 1 and lo["cosine"] < hi["cosine"]


def test_bad_points_are_named():
    from hwsim.mixed_precision import mixed_precision

    with pytest.raises(ValueError, match="not among the candidates"):
        mixed_precision(_point(strategy="uniform", format="mxfp4"))
    with pytest.raises(ValueError, match="strategy must be"):
        mixed_precision(_point(strategy="greedy"))
    with pytest.raises(ValueError, match="infeasible"):
        mixed_precision(_point(strategy="ilp", budget=1.0))
    with pytest.raises(ValueError, match="texts must be"):
        mixed_precision(_point(strategy="ilp", budget=4.0, texts=0))

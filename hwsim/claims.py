"""Paper claims next to our numbers: ratios between study rows, with the claim and the gap.

A claim (a ``[[claim]]`` table of a study TOML, or a dict) compares one design with a
baseline on one metric, in every context where both were simulated::

    [[claim]]
    name = "MixPE W4A8 vs INT8 MAC: speedup"
    source = "Zhang et al., arXiv 2411.16158, abstract: 2.6x over SOTA quantization accelerators"
    metric = "cycles"          # a results column
    better = "min"             # min: ratio = baseline / design; max: design / baseline
    design = { design = "mixpe_w4a8" }
    baseline = { design = "mac_w8a8" }
    match = ["phase", "iso_area"]   # rows are paired when these columns agree
    claimed = 2.6
    explanation = "why ours differs"

``evaluate_claims(df, claims)`` returns one row per (claim, context) with ``ours`` (the
ratio, > 1 means the design is better), ``claimed`` and ``ours_over_claimed``.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

_KEYS = {
    "name", "source", "metric", "better", "design", "baseline", "match", "claimed", "explanation",
}  # fmt: skip
CLAIM_COLUMNS = [
    "claim", "context", "metric", "ours", "claimed", "ours_over_claimed", "source", "explanation",
]  # fmt: skip


@dataclass(frozen=True)
class Claim:
    name: str
    metric: str
    design: dict
    baseline: dict
    claimed: float
    better: str = "min"
    match: tuple[str, ...] = ()
    source: str = ""
    explanation: str = ""

    @classmethod
    def from_dict(cls, d: dict) -> Claim:
        unknown = set(d) - _KEYS
        if unknown:
            raise ValueError(f"claim {d.get('name')!r}: unknown key(s) {sorted(unknown)}")
        missing = {"name", "metric", "design", "baseline", "claimed"} - set(d)
        if missing:
            raise ValueError(f"claim {d.get('name')!r}: missing key(s) {sorted(missing)}")
        if d.get("better", "min") not in ("min", "max"):
            raise ValueError(f"claim {d['name']!r}: better must be 'min' or 'max'")
        for side in ("design", "baseline"):
            if not isinstance(d[side], dict) or not d[side]:
                raise ValueError(f"claim {d['name']!r}: {side} must be a non-empty table")
        claimed = d["claimed"]
        if isinstance(claimed, bool) or not isinstance(claimed, int | float) or claimed <= 0:
            raise ValueError(f"claim {d['name']!r}: claimed must be a number > 0")
        return cls(
            name=d["name"], metric=d["metric"], design=dict(d["design"]),
            baseline=dict(d["baseline"]), claimed=float(claimed), better=d.get("better", "min"),
            match=tuple(d.get("match", ())), source=d.get("source", ""),
            explanation=d.get("explanation", ""),
        )  # fmt: skip


def _select(df: pd.DataFrame, where: dict, what: str) -> pd.DataFrame:
    mask = pd.Series(True, index=df.index)
    for col, val in where.items():
        if col not in df.columns:
            raise ValueError(f"{what}: column {col!r} not in the results ({list(df.columns)})")
        mask &= df[col] == val
    sub = df[mask]
    if sub.empty:
        raise ValueError(f"{what}: no result row matches {where}")
    return sub


def evaluate_claims(df: pd.DataFrame, claims) -> pd.DataFrame:
    """One row per claim and matched context (columns ``CLAIM_COLUMNS``)."""
    rows = []
    for spec in claims:
        c = spec if isinstance(spec, Claim) else Claim.from_dict(spec)
        for col in (c.metric, *c.match):
            if col not in df.columns:
                raise ValueError(f"claim {c.name!r}: column {col!r} not in the results")
        d = _select(df, c.design, f"claim {c.name!r} design")
        b = _select(df, c.baseline, f"claim {c.name!r} baseline")
        key = list(c.match)
        pairs = (
            d.merge(b, on=key, suffixes=("_d", "_b"))
            if key
            else d.assign(_k=0).merge(b.assign(_k=0), on="_k", suffixes=("_d", "_b"))
        )
        if len(pairs) != len(d):
            raise ValueError(
                f"claim {c.name!r}: each design row needs exactly one baseline row with the "
                f"same {key or 'nothing'} ({len(d)} design rows, {len(pairs)} pairs)"
            )
        for _, r in pairs.iterrows():
            dv, bv = float(r[f"{c.metric}_d"]), float(r[f"{c.metric}_b"])
            ours = bv / dv if c.better == "min" else dv / bv
            ctx = ", ".join(f"{k}={r[k]}" for k in key) or "all"
            rows.append(
                (c.name, ctx, c.metric, ours, c.claimed, ours / c.claimed, c.source, c.explanation)
            )
    return pd.DataFrame(rows, columns=CLAIM_COLUMNS)


def claims_markdown(table: pd.DataFrame) -> list[str]:
    """Markdown lines: a table of ours vs claimed, then each claim's explanation."""
    lines = [
        "| claim | context | metric | ours | claimed | ours / claimed |",
        "|---|---|---|---|---|---|",
    ]
    for _, r in table.iterrows():
        lines.append(
            f"| {r.claim} | {r.context} | {r.metric} | {r.ours:.2f}x | {r.claimed:.2f}x "
            f"| {r.ours_over_claimed:.2f} |"
        )
    lines.append("")
    for name, g in table.groupby("claim", sort=False):
        r = g.iloc[0]
        lines.append(f"- **{name}** ({r.source}). {r.explanation}".rstrip())
    return lines

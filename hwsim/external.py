"""Externally measured accuracy (e.g. perplexities run on a GPU) joined with simulated cost.

The CSV has one row per configuration: key columns that identify it (e.g. ``weight_format``,
``method``), one or more numeric metric columns (e.g. ``wikitext2_ppl``) and any other
columns (e.g. ``source``: where the number was published). Lines whose first non-blank
character is ``#`` are comments (put the citation of the numbers there).

``load_external`` validates the file; ``join_external`` joins it to a results table and
reports the keys found on one side only (nothing is dropped silently).
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import NamedTuple

import pandas as pd

HOWS = ("left", "inner", "outer")


def _as_list(v, what: str) -> list[str]:
    items = [v] if isinstance(v, str) else list(v or [])
    if not items or not all(isinstance(i, str) and i for i in items):
        raise ValueError(f"{what} must be a column name or a non-empty list of names, got {v!r}")
    return items


def load_external(
    path: str | Path, keys: str | Sequence[str], metric: str | Sequence[str]
) -> pd.DataFrame:
    """Read and validate an external-results CSV.

    ``keys``: the column(s) that identify a configuration; every row must have them, and no
    two rows may share the same key values. ``metric``: the column(s) of measured values;
    every cell must be a number (empty cells, text, inf are errors). Key columns are read as
    text (so ``08`` stays ``08``); ``join_external`` converts them to the results' types.
    Returns all columns, the metrics as float64. Errors name the file, column and CSV line.
    """
    path = Path(path)
    keys = _as_list(keys, "external keys")
    metrics = _as_list(metric, "external metric")
    both = sorted(set(keys) & set(metrics))
    if both:
        raise ValueError(f"{path}: {both} cannot be both a key and a metric")
    if not path.is_file():
        raise ValueError(f"external results file {path} does not exist")
    lines, numbers = [], []  # kept lines and their 1-based line numbers in the file
    for i, line in enumerate(path.read_text().splitlines(), start=1):
        if line.strip() and not line.lstrip().startswith("#"):
            lines.append(line)
            numbers.append(i)
    if not lines:
        raise ValueError(f"{path}: no header line (only comments or blank lines)")
    try:
        df = pd.read_csv(io.StringIO("\n".join(lines)), dtype=str, keep_default_na=False)
    except pd.errors.ParserError as exc:
        raise ValueError(f"{path}: not a valid CSV: {exc}") from None
    df.columns = [c.strip() for c in df.columns]
    dup_cols = sorted({c for c in df.columns if list(df.columns).count(c) > 1})
    if dup_cols:
        raise ValueError(f"{path}: duplicate column name(s) {dup_cols}")
    missing = [c for c in (*keys, *metrics) if c not in df.columns]
    if missing:
        raise ValueError(f"{path}: missing column(s) {missing}; the file has {list(df.columns)}")
    if df.empty:
        raise ValueError(f"{path}: no data rows")
    line_of = dict(zip(df.index, numbers[1:], strict=True))  # data row -> file line
    for k in keys:
        df[k] = df[k].str.strip()
        empty = [line_of[i] for i in df.index[df[k] == ""]]
        if empty:
            raise ValueError(f"{path}: empty key {k!r} on line(s) {empty}")
    dup = df[df.duplicated(keys, keep=False)]
    if not dup.empty:
        groups = dup.groupby(keys if len(keys) > 1 else keys[0], sort=False).groups
        desc = "; ".join(
            f"{dict(zip(keys, k if isinstance(k, tuple) else (k,), strict=True))} on lines "
            f"{[line_of[i] for i in idx]}"
            for k, idx in groups.items()
        )
        raise ValueError(f"{path}: duplicate key(s) {keys}: {desc}")
    for m in metrics:
        raw = df[m].str.strip()
        vals = pd.to_numeric(raw, errors="coerce")
        bad = [(line_of[i], raw[i]) for i in df.index if not pd.notna(vals[i])]
        bad += [
            (line_of[i], raw[i])
            for i in df.index
            if pd.notna(vals[i]) and abs(vals[i]) == float("inf")
        ]
        if bad:
            shown = ", ".join(f"line {n}: {v!r}" for n, v in bad[:10])
            more = f" (and {len(bad) - 10} more)" if len(bad) > 10 else ""
            raise ValueError(f"{path}: metric {m!r} is not a finite number at {shown}{more}")
        df[m] = vals.astype("float64")
    df.attrs.update(path=str(path), keys=keys, metrics=metrics)
    return df


class ExternalJoin(NamedTuple):
    """Result of ``join_external``.

    table: the joined table. unmatched_results: key values of results rows with no external
    row (for how="inner" these rows are not in ``table``). unmatched_external: key values of
    external rows that match no results row (for how="outer" they are in ``table`` with NaN
    results columns). Both have the results' key column names.
    """

    table: pd.DataFrame
    unmatched_results: pd.DataFrame
    unmatched_external: pd.DataFrame


def _normalize_on(on) -> dict[str, str]:
    if isinstance(on, Mapping):
        pairs = dict(on)
        if not pairs or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in pairs.items()
        ):
            raise ValueError(f"on must map results columns to external columns, got {on!r}")
        return pairs
    return {c: c for c in _as_list(on, "on")}


def _coerce_keys(ext: pd.Series, ref: pd.Series, name: str) -> pd.Series:
    """External key values (text) converted to the type of the results column ``ref``."""
    if pd.api.types.is_bool_dtype(ref):
        low = ext.astype(str).str.strip().str.lower()
        table = {"true": True, "false": False, "1": True, "0": False}
        bad = sorted(set(low) - set(table))
        if bad:
            raise ValueError(f"external key {name!r}: {bad} are not booleans (results are bool)")
        return low.map(table)
    if pd.api.types.is_numeric_dtype(ref):
        vals = pd.to_numeric(ext, errors="coerce")
        bad = sorted(set(ext[vals.isna() & ext.notna()].astype(str)))
        if bad:
            raise ValueError(
                f"external key {name!r}: {bad} are not numbers, but results column is {ref.dtype}"
            )
        return vals
    return ext.astype(str)


def join_external(
    results: pd.DataFrame,
    external: pd.DataFrame,
    on: Sequence[str] | Mapping[str, str] | str,
    how: str = "left",
    strict: bool = False,
) -> ExternalJoin:
    """Join ``external`` (from ``load_external``) to ``results`` on key columns.

    ``on``: column name(s) present in both tables, or a mapping ``{results_col: external_col}``.
    ``how``: "left" keeps every results row (NaN metrics where unmatched), "inner" keeps only
    matched rows, "outer" also appends external rows that match no results row.
    Several results rows may share one external row; external keys must be unique.
    External key values are converted to the results columns' types (``"4"`` joins ``4``).
    Key values found on one side only are returned in the ``ExternalJoin`` and reported with
    a ``UserWarning`` listing them; ``strict=True`` raises ValueError instead. Non-key
    external columns must not already be results columns (ValueError naming them).
    """
    if how not in HOWS:
        raise ValueError(f"how must be one of {HOWS}, got {how!r}")
    pairs = _normalize_on(on)
    miss_r = [c for c in pairs if c not in results.columns]
    if miss_r:
        raise ValueError(
            f"join: key column(s) {miss_r} not in the results; its columns are "
            f"{list(results.columns)}"
        )
    miss_e = [c for c in pairs.values() if c not in external.columns]
    if miss_e:
        raise ValueError(
            f"join: key column(s) {miss_e} not in the external table; its columns are "
            f"{list(external.columns)}"
        )
    ext = external.rename(columns={v: k for k, v in pairs.items()})
    rkeys = list(pairs)
    clash = sorted((set(ext.columns) - set(rkeys)) & set(results.columns))
    if clash:
        raise ValueError(
            f"join: external column(s) {clash} already exist in the results; rename them in "
            "the CSV (a key column must be listed in on)"
        )
    # join on normalized copies of the keys: numbers and booleans by value, anything else
    # (text, None, mixed objects) by its text, so "4" in the CSV joins 4 in an object column
    tmp = [f"__hwsim_key{i}" for i in range(len(rkeys))]
    res = results.copy()
    for t, k in zip(tmp, rkeys, strict=True):
        ref = results[k]
        if pd.api.types.is_bool_dtype(ref) or pd.api.types.is_numeric_dtype(ref):
            ext[t] = _coerce_keys(ext[k], ref, pairs[k])
            res[t] = ref
        else:
            ext[t] = ext[k].astype(str)
            res[t] = ref.astype(str)
    if ext.duplicated(tmp).any():
        dups = ext.loc[ext.duplicated(tmp, keep=False), rkeys].drop_duplicates()
        raise ValueError(f"join: external keys are not unique: {dups.to_dict('records')}")
    ext_keys = ext[rkeys]
    ext = ext.drop(columns=rkeys)
    # a left merge keeps the results' row order and column types
    merged = res.merge(ext, on=tmp, how="left", indicator="_side", sort=False)
    left_only = (merged["_side"] == "left_only").to_numpy()
    unmatched_r = merged.loc[left_only, rkeys].drop_duplicates().reset_index(drop=True)
    used = pd.MultiIndex.from_frame(res[tmp])
    ext_only = ~pd.MultiIndex.from_frame(ext[tmp]).isin(used)
    unmatched_e = ext_keys.loc[ext_only].reset_index(drop=True)
    table = merged.loc[~left_only] if how == "inner" else merged
    table = table.drop(columns=[*tmp, "_side"])
    if how == "outer" and ext_only.any():
        extra = pd.concat([ext_keys.loc[ext_only], ext.loc[ext_only].drop(columns=tmp)], axis=1)
        extra[rkeys] = ext.loc[ext_only, tmp].to_numpy()  # keys converted to the results' types
        table = pd.concat([table, extra], ignore_index=True)
    if len(unmatched_r) or len(unmatched_e):
        msg = (
            f"external join on {rkeys}: {len(unmatched_r)} results key(s) without an external "
            f"row {unmatched_r.to_dict('records')}; {len(unmatched_e)} external key(s) matching "
            f"no results row {unmatched_e.to_dict('records')}"
        )
        if strict:
            raise ValueError(msg)
        warnings.warn(msg, UserWarning, stacklevel=2)
    return ExternalJoin(table.reset_index(drop=True), unmatched_r, unmatched_e)

"""Design-space sweeps: expand a parameter grid, evaluate every point, write one tidy table.

* Deterministic: points are expanded in a fixed order and each carries a stable id (a hash
  of its parameters); the table is sorted by that order whatever the execution order.
* Resumable: each finished point is stored as ``points/<id>.json`` under the output folder;
  a rerun skips points already there.
* Parallel: a local process pool by default, or a Dask distributed cluster
  (``scheduler="tcp://host:port"`` or a ``distributed.Client``), with the same results.
* Progress: a tqdm bar with an ETA.

Evaluators are plain functions ``point -> dict of metrics`` registered by name in
``EVALUATORS`` (see ``hwsim.evaluators``); they must be importable by worker processes.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
from collections.abc import Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd


@dataclass(frozen=True)
class Sweep:
    """A grid of parameters and the rules that prune it.

    grid: parameter -> list of values (the Cartesian product is taken in key order).
    fixed: parameters added to every point.
    exclude: partial points; a point matching every key of one of them is dropped.
    only: if given, a point must match at least one of these partial points.
    """

    grid: dict
    fixed: dict = field(default_factory=dict)
    exclude: tuple = ()
    only: tuple = ()

    def __post_init__(self):
        if not self.grid:
            raise ValueError("sweep: the grid is empty")
        for k, v in self.grid.items():
            if not isinstance(v, list | tuple) or not v:
                raise ValueError(f"sweep: grid entry {k!r} must be a non-empty list")
        clash = set(self.grid) & set(self.fixed)
        if clash:
            raise ValueError(f"sweep: {sorted(clash)} appear in both grid and fixed")
        known = set(self.grid) | set(self.fixed)
        for rule in (*self.exclude, *self.only):
            unknown = set(rule) - known
            if unknown:
                raise ValueError(f"sweep: rule {rule} names unknown parameter(s) {sorted(unknown)}")

    def points(self) -> list[dict]:
        keys = list(self.grid)
        out = []
        for combo in itertools.product(*(self.grid[k] for k in keys)):
            p = {**self.fixed, **dict(zip(keys, combo, strict=True))}
            if any(_matches(p, r) for r in self.exclude):
                continue
            if self.only and not any(_matches(p, r) for r in self.only):
                continue
            out.append(p)
        return out


def _matches(point: dict, rule: dict) -> bool:
    return all(point.get(k) == v for k, v in rule.items())


def point_id(point: dict) -> str:
    """Stable 16-hex-digit id of a point (order-independent, JSON-normalized)."""
    blob = json.dumps(point, sort_keys=True, default=str).encode()
    return hashlib.sha1(blob).hexdigest()[:16]


def _evaluate(name: str, point: dict) -> dict:
    from hwsim.evaluators import get_evaluator

    metrics = get_evaluator(name)(dict(point))
    if not isinstance(metrics, dict):
        raise TypeError(f"evaluator {name!r} must return a dict, got {type(metrics).__name__}")
    return metrics


def run_sweep(
    points: Sequence[dict],
    evaluator: str,
    out_dir: str | Path,
    workers: int | None = None,
    scheduler=None,
    progress: bool = True,
) -> pd.DataFrame:
    """Evaluate every point (skipping finished ones) and return the tidy table.

    workers: local processes (default: CPU count; 1 runs in this process).
    scheduler: None (local), a Dask scheduler address "tcp://host:port", or a
        ``distributed.Client``.
    The table has one row per point: its parameters, its metrics, and ``point_id``. It is
    also written to ``out_dir/results.parquet`` and ``results.csv``.
    """
    out = Path(out_dir)
    store = out / "points"
    store.mkdir(parents=True, exist_ok=True)
    ids = [point_id(p) for p in points]
    if len(set(ids)) != len(ids):
        raise ValueError("sweep: duplicate points")
    todo = [(i, p) for i, p in zip(ids, points, strict=True) if not (store / f"{i}.json").exists()]
    bar = _progress(len(points), len(points) - len(todo), progress)
    try:
        for pid, point, metrics in _execute(todo, evaluator, workers, scheduler):
            record = {"point": point, "metrics": metrics}
            tmp = store / f"{pid}.json.tmp"
            tmp.write_text(json.dumps(record, default=_jsonable))
            tmp.replace(store / f"{pid}.json")  # atomic: a killed run leaves no half file
            bar.update(1)
    finally:
        bar.close()
    rows = []
    for pid in ids:
        rec = json.loads((store / f"{pid}.json").read_text())
        rows.append({**rec["point"], **rec["metrics"], "point_id": pid})
    df = pd.DataFrame(rows)
    df.to_csv(out / "results.csv", index=False)
    df.to_parquet(out / "results.parquet", index=False)
    return df


def _jsonable(v):
    try:
        return v.item()  # numpy scalars
    except AttributeError:
        return str(v)


def _execute(todo, evaluator: str, workers: int | None, scheduler) -> Iterable:
    if not todo:
        return
    if scheduler is not None:
        yield from _execute_dask(todo, evaluator, scheduler)
        return
    n = workers or os.cpu_count() or 1
    if n == 1 or len(todo) == 1:
        for pid, point in todo:
            yield pid, point, _evaluate(evaluator, point)
        return
    with ProcessPoolExecutor(max_workers=n) as pool:
        futs = {pool.submit(_evaluate, evaluator, p): (pid, p) for pid, p in todo}
        for f in as_completed(futs):
            pid, p = futs[f]
            yield pid, p, f.result()


def _execute_dask(todo, evaluator: str, scheduler) -> Iterable:
    from distributed import Client
    from distributed import as_completed as dask_completed

    client = scheduler if isinstance(scheduler, Client) else Client(scheduler)
    try:
        futs = {}
        for pid, p in todo:
            futs[client.submit(_evaluate, evaluator, p, pure=False, key=f"hwsim-{pid}")] = (
                pid,
                p,
            )
        for f in dask_completed(list(futs)):
            pid, p = futs[f]
            yield pid, p, f.result()
    finally:
        if not isinstance(scheduler, Client):
            client.close()


def _progress(total: int, done: int, enabled: bool):
    from tqdm import tqdm

    return tqdm(total=total, initial=done, disable=not enabled, unit="point", smoothing=0.1)


def evaluator_names() -> list[str]:
    from hwsim.evaluators import EVALUATORS

    return sorted(EVALUATORS)

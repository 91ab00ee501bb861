"""Design-space sweeps: expand a parameter grid, evaluate every point, write one tidy table.

* Checked first: every point's keys and values must fit the evaluator's parameter schema
  (``hwsim.evalspec``; unknown keys get a "did you mean"), and the evaluator's optional
  modules must be installed, before any point runs.
* Deterministic: points are expanded in a fixed order and each carries a stable id (a hash
  of its parameters); the table is sorted by that order whatever the execution order.
* Resumable and verified: each finished point is stored atomically as ``points/<id>.json``
  with its id, parameters, evaluator name and version; a rerun reuses a stored point only if
  all of these match and the file reads back, otherwise it warns naming the file and
  recomputes the point.
* Failures are data: a point whose evaluator raises is stored with ``status = "failed"`` and
  its error message (columns ``status`` / ``error`` of the table), the other points are kept,
  and the next run retries it.
* Interruptible: SIGINT or SIGTERM stops a local run promptly, keeps every finished point,
  cancels queued ones and kills the pool workers (which also die with a killed parent).
* Parallel: a local process pool by default, or a Dask distributed cluster
  (``scheduler="tcp://host:port"`` or a ``distributed.Client``), with the same results.
* Progress: a tqdm bar with an ETA.

Evaluators are plain functions ``point -> dict of metrics`` registered by name, with their
schema and version, in ``hwsim.evaluators.SPECS``; they must be importable by workers.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import json
import os
import signal
import sys
import threading
import time
from collections.abc import Sequence
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

DASK_CONNECT_TIMEOUT_S = 5.0  # s; an unreachable scheduler is an error after this long


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


def _normalized(point: dict) -> dict:
    """The point as it reads back from JSON (for comparing with a stored record)."""
    return json.loads(json.dumps(point, sort_keys=True, default=_jsonable))


def _evaluate(name: str, point: dict) -> dict:
    from hwsim.evaluators import get_evaluator

    metrics = get_evaluator(name)(dict(point))
    if not isinstance(metrics, dict):
        raise TypeError(f"evaluator {name!r} must return a dict, got {type(metrics).__name__}")
    return metrics


def _evaluate_safe(name: str, point: dict) -> tuple[str, object]:
    """("ok", metrics) or ("failed", "ErrorType: message"): one point's failure is data."""
    try:
        return "ok", _evaluate(name, point)
    except Exception as exc:  # noqa: BLE001 - recorded per point, reported at the end
        return "failed", f"{type(exc).__name__}: {exc}"


def check_points(points: Sequence[dict], evaluator: str, where: str = "sweep") -> None:
    """Every point's keys and values fit the evaluator's schema (``hwsim.evalspec``), else a
    ValueError naming the key (with a "did you mean") or the value."""
    from hwsim.evaluators import get_spec

    spec = get_spec(evaluator)
    for keys in dict.fromkeys(frozenset(p) for p in points):
        spec.check_keys(keys, where)
    values: dict[str, list] = {}
    for p in points:
        for k, v in p.items():
            values.setdefault(k, []).append(v)
    spec.check_values(values, where)


def _warn(msg: str) -> None:
    print(f"hwsim: warning: {msg}", file=sys.stderr)


def _stored(path: Path, pid: str, point: dict, evaluator: str, version: str) -> dict | None:
    """The stored record of a point if it is readable, finished and made by this evaluator
    version for exactly this point; else None (with a warning naming the file, except for a
    point that failed before: it is simply retried)."""
    if not path.exists():
        return None
    try:
        rec = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        _warn(f"{path}: corrupt point file ({exc}); recomputing it")
        return None
    why = None
    if not isinstance(rec, dict) or not isinstance(rec.get("point"), dict):
        why = "not a point record"
    elif "evaluator" not in rec or "version" not in rec:
        why = "has no evaluator name and version (written by an older hwsim)"
    elif rec.get("id") != pid or rec["point"] != _normalized(point):
        why = "holds another point's data"
    elif rec.get("evaluator") != evaluator or str(rec.get("version")) != version:
        why = (
            f"was computed by evaluator {rec.get('evaluator')!r} version "
            f"{rec.get('version')!r}, not {evaluator!r} version {version!r}"
        )
    elif rec.get("status") == "failed":
        return None
    elif rec.get("status") != "ok" or not isinstance(rec.get("metrics"), dict):
        why = "has no metrics"
    if why:
        _warn(f"{path}: {why}; recomputing it")
        return None
    return rec


def _write_record(path: Path, record: dict) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(record, default=_jsonable))
    tmp.replace(path)  # atomic: a killed run leaves no half file


def run_sweep(
    points: Sequence[dict],
    evaluator: str,
    out_dir: str | Path,
    workers: int | None = None,
    scheduler=None,
    progress: bool = True,
    *,
    connect_timeout_s: float = DASK_CONNECT_TIMEOUT_S,
) -> pd.DataFrame:
    """Evaluate every point (skipping finished ones) and return the tidy table.

    workers: local processes (default: CPU count; 1 runs in this process).
    scheduler: None (local), a Dask scheduler address "tcp://host:port", or a
        ``distributed.Client``; an address not answering within ``connect_timeout_s`` (s) is
        a ValueError naming it.
    The points are checked against the evaluator's schema and its optional requirements
    before anything runs. The table has one row per point: its parameters, its metrics,
    ``point_id``, ``status`` ("ok" | "failed") and ``error`` (the failure message, "" if ok).
    It is also written to ``out_dir/results.parquet`` and ``results.csv``. A point that
    raises is stored as failed (and retried by the next run); the others are kept.
    SIGINT / SIGTERM stop the run promptly, keep every finished point and stop the workers.
    """
    from hwsim.evaluators import get_spec

    spec = get_spec(evaluator)
    check_points(points, evaluator)
    out = Path(out_dir)
    store = out / "points"
    store.mkdir(parents=True, exist_ok=True)
    ids = [point_id(p) for p in points]
    if len(set(ids)) != len(ids):
        raise ValueError("sweep: duplicate points")
    records = {}
    for pid, p in zip(ids, points, strict=True):
        rec = _stored(store / f"{pid}.json", pid, p, evaluator, spec.version)
        if rec is not None:
            records[pid] = rec
    todo = [(i, p) for i, p in zip(ids, points, strict=True) if i not in records]
    if todo:
        spec.check_requirements()
    bar = _progress(len(points), len(points) - len(todo), progress)

    def sink(pid: str, point: dict, outcome: tuple[str, object]) -> None:
        status, value = outcome
        rec = {"id": pid, "evaluator": evaluator, "version": spec.version, "point": point}
        rec.update({"status": "ok", "metrics": value} if status == "ok" else
                   {"status": "failed", "error": value})  # fmt: skip
        _write_record(store / f"{pid}.json", rec)
        records[pid] = json.loads(json.dumps(rec, default=_jsonable))  # as a rerun reads it
        bar.update(1)

    try:
        with _sigterm_as_interrupt():
            _execute(todo, evaluator, workers, scheduler, sink, connect_timeout_s)
    except KeyboardInterrupt:
        bar.close()
        _warn(f"interrupted: {len(records)} of {len(points)} points are stored in {store}; "
              "run again to resume")  # fmt: skip
        raise
    finally:
        bar.close()
    rows = []
    for pid in ids:
        rec = records[pid]
        ok = rec["status"] == "ok"
        rows.append({**rec["point"], **(rec["metrics"] if ok else {}), "point_id": pid,
                     "status": rec["status"], "error": "" if ok else rec["error"]})  # fmt: skip
    df = pd.DataFrame(rows)
    df.to_csv(out / "results.csv", index=False)
    df.to_parquet(out / "results.parquet", index=False)
    failed = df[df["status"] == "failed"]
    if len(failed):
        _warn(f"{len(failed)} of {len(df)} points failed (stored as failed in {store}, "
              "retried by the next run):")  # fmt: skip
        for pid, err in zip(failed["point_id"][:10], failed["error"][:10], strict=True):
            print(f"  {pid}: {err}", file=sys.stderr)
        if len(failed) > 10:
            print(
                f"  ... and {len(failed) - 10} more (column error of results.csv)", file=sys.stderr
            )
    return df


def _jsonable(v):
    try:
        return v.item()  # numpy scalars
    except AttributeError:
        return str(v)


@contextlib.contextmanager
def _sigterm_as_interrupt():
    """While running, SIGTERM raises KeyboardInterrupt like SIGINT (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")

    old = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, old)


def _execute(todo, evaluator: str, workers, scheduler, sink, connect_timeout_s: float) -> None:
    if not todo:
        return
    if scheduler is not None:
        _execute_dask(todo, evaluator, scheduler, sink, connect_timeout_s)
        return
    n = workers or os.cpu_count() or 1
    if n == 1 or len(todo) == 1:
        for pid, point in todo:
            sink(pid, point, _evaluate_safe(evaluator, point))
        return
    _execute_pool(todo, evaluator, n, sink)


def _execute_pool(todo, evaluator: str, n: int, sink) -> None:
    """A local process pool with at most 2 n points in flight; on any exception (Ctrl-C,
    SIGTERM) the finished points are kept, the queued ones cancelled, the workers killed."""
    pool = ProcessPoolExecutor(max_workers=n, initializer=_worker_init, initargs=(os.getpid(),))
    queue = iter(todo)
    inflight: dict = {}

    def fill():
        while len(inflight) < 2 * n and (item := next(queue, None)) is not None:
            inflight[pool.submit(_evaluate_safe, evaluator, item[1])] = item

    try:
        fill()
        while inflight:
            done, _ = wait(inflight, return_when=FIRST_COMPLETED)
            for f in done:
                pid, p = inflight.pop(f)
                sink(pid, p, f.result())
            fill()
    except BaseException:
        _stop_pool(pool, inflight, sink)
        raise
    pool.shutdown(wait=True)


def _stop_pool(pool: ProcessPoolExecutor, inflight: dict, sink) -> None:
    """Keep the points that finished, cancel the rest and kill the worker processes."""
    procs = list((getattr(pool, "_processes", None) or {}).values())  # before shutdown clears it
    for f in list(inflight):
        pid, p = inflight.pop(f)
        if f.done() and not f.cancelled() and f.exception() is None:
            sink(pid, p, f.result())
    pool.shutdown(wait=False, cancel_futures=True)
    for proc in procs:
        proc.terminate()
    for proc in procs:
        proc.join(2)
        if proc.is_alive():
            proc.kill()
            proc.join()  # SIGKILL cannot be ignored: wait until it is reaped, however loaded


def _worker_init(parent_pid: int) -> None:
    """Pool worker setup: the parent handles Ctrl-C (a terminal sends it to the whole group)
    and SIGTERM; the worker dies with its parent (even one killed with SIGKILL)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    if sys.platform.startswith("linux"):
        import ctypes

        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG = 1 (linux/prctl.h)
        except (OSError, AttributeError):
            pass
    if os.getppid() != parent_pid:  # the parent died before prctl took effect
        os._exit(1)
    threading.Thread(target=_watch_parent, args=(parent_pid,), daemon=True).start()


def _watch_parent(parent_pid: int, period_s: float = 0.5) -> None:
    """Portable fallback to PR_SET_PDEATHSIG: exit once the parent is gone (reparented)."""
    while os.getppid() == parent_pid:
        time.sleep(period_s)
    os._exit(1)


def _connect(address: str, timeout_s: float):
    from distributed import Client

    try:
        return Client(address, timeout=timeout_s)
    except (OSError, TimeoutError) as exc:
        raise ValueError(
            f"cannot reach the Dask scheduler at {address} within {timeout_s:g} s "
            f"({type(exc).__name__}); is it running?"
        ) from None


def _execute_dask(todo, evaluator: str, scheduler, sink, connect_timeout_s: float) -> None:
    from distributed import Client
    from distributed import as_completed as dask_completed

    own = not isinstance(scheduler, Client)
    client = _connect(scheduler, connect_timeout_s) if own else scheduler
    futs = {}
    try:
        for pid, p in todo:
            f = client.submit(_evaluate_safe, evaluator, p, pure=False, key=f"hwsim-{pid}")
            futs[f] = (pid, p)
        for f in dask_completed(list(futs)):
            pid, p = futs.pop(f)
            sink(pid, p, f.result())
    except BaseException:
        if futs:
            client.cancel(list(futs))
        raise
    finally:
        if own:
            client.close()


def _progress(total: int, done: int, enabled: bool):
    from tqdm import tqdm

    return tqdm(total=total, initial=done, disable=not enabled, unit="point", smoothing=0.1)


def evaluator_names() -> list[str]:
    from hwsim.evaluators import EVALUATORS

    return sorted(EVALUATORS)

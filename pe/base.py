"""Common shape of every PE model: result type, registry, dot/matmul/step plumbing.

A PE model has two implementations of the same behaviour:

* the step model, `_steps(x, w, side)`: a generator advancing one clock cycle per item and
  yielding the architectural state after that cycle (registers, counters, accumulators,
  valid/done) plus `events`, the hardware events of that cycle; the last state carries
  `result`. It is written for clarity with Python integers and `softfloat`.
* the fast path, `_fast(X, W, side)`: vectorised numpy / numba, returning the M x N values.

`dot`/`matmul` use the fast path for values and the analytic `dot_cycles`/`dot_events`
formulas for timing and events; `step_dot` runs the step model. The tests prove the two
identical (value, cycles, events).
"""

from __future__ import annotations

import functools
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar

import numpy as np

from .operands import PEError


class PEOverflowError(PEError, OverflowError):
    """An integer accumulator left its range while overflow="error"."""


OVERFLOW_MODES = ("wrap", "saturate", "error")


@dataclass(frozen=True)
class PEResult:
    """Outcome of a dot product or GEMM on one PE.

    value: int/float (dot) or ndarray (matmul); cycles: clock cycles (int);
    events: hardware event name -> count (names per docs/conventions.md);
    overflowed: an integer accumulator wrapped or saturated at least once.
    """

    value: Any
    cycles: int
    events: dict[str, int] = field(default_factory=dict)
    overflowed: bool = False


def add_events(total: Counter, ev: dict[str, int], times: int = 1) -> None:
    """total += times * ev."""
    for k, v in ev.items():
        if v and times:
            total[k] += v * times


def scale_events(ev: dict[str, int], times: int) -> dict[str, int]:
    return {k: v * times for k, v in ev.items() if v * times}


def ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def clog2(n: int) -> int:
    """ceil(log2 n) for n >= 1."""
    return max(0, (int(n) - 1).bit_length())


def check_size(name: str, v: object) -> int:
    """`v` as an int >= 0 (a dot-product length or GEMM size); PEError otherwise."""
    if isinstance(v, bool) or not isinstance(v, int | np.integer) or v < 0:
        raise PEError(f"{name} must be an int >= 0, got {v!r}")
    return int(v)


def _sized(fn, names: tuple[str, ...]):
    """`fn(self, *sizes, ...)` with every size in `names` checked by `check_size`."""

    @functools.wraps(fn)
    def checked(self, *args, **kw):
        sized = tuple(check_size(n, v) for n, v in zip(names, args, strict=False))
        args = sized + args[len(sized) :]
        kw = {k: check_size(k, v) if k in names else v for k, v in kw.items()}
        return fn(self, *args, **kw)

    return checked


#: size-taking methods, validated in every subclass (negative or non-int sizes raise PEError)
_SIZED = {
    "dot_cycles": ("k",),
    "dot_events": ("k",),
    "matmul_cycles": ("m", "n", "k"),
    "matmul_events": ("m", "n", "k"),
}


class ProcessingElement:
    """Base class. Subclasses set `kind`, `Config` (a frozen dataclass) and implement
    `_prepare`, `_fast`, `_steps`, `dot_cycles`, `dot_events`. The size arguments of
    `dot_cycles`, `dot_events`, `matmul_cycles`, `matmul_events` are checked (ints >= 0) for
    every subclass."""

    kind: ClassVar[str] = ""
    Config: ClassVar[type]
    side_inputs: ClassVar[tuple[str, ...]] = ()  # extra keyword operands, e.g. ("scales",)

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        for meth, names in _SIZED.items():
            if meth in cls.__dict__:
                setattr(cls, meth, _sized(cls.__dict__[meth], names))

    def __init__(self, **params):
        names = {f.name for f in fields(self.Config)}
        unknown = sorted(set(params) - names)
        if unknown:
            raise PEError(
                f"PE {self.kind!r}: unknown parameter(s) {unknown}; valid: {sorted(names)}"
            )
        try:
            self.cfg = self.Config(**params)
        except PEError as exc:
            raise PEError(f"PE {self.kind!r}: {exc}") from None
        self._setup()

    def _setup(self) -> None:
        """Derive operand descriptions etc. from self.cfg (validate; raise PEError)."""

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.kind} {self.cfg}>"

    @property
    def name(self) -> str:
        return f"PE {self.kind!r}"

    # --- to implement -------------------------------------------------------------------
    def _prepare(self, X: np.ndarray, W: np.ndarray, side: dict) -> tuple:
        """Validate operands (M x K, K x N); return (X, W, side) in the PE's working form."""
        raise NotImplementedError

    def _prepare_fast(self, X: np.ndarray, W: np.ndarray, side: dict) -> tuple:
        """`_prepare` for the fast path (same validation and errors; the working form may
        differ, e.g. validated arrays left in their dtype). Default: `_prepare`."""
        return self._prepare(X, W, side)

    def _fast(self, X, W, side) -> tuple[np.ndarray, bool]:
        """(M x N values, overflowed)."""
        raise NotImplementedError

    def _steps(self, x, w, side) -> Iterator[dict]:
        raise NotImplementedError

    def dot_cycles(self, k: int) -> int:
        """Exact clock cycles of a length-k dot product (data-independent)."""
        raise NotImplementedError

    def dot_events(self, k: int) -> dict[str, int]:
        """Event counts of a length-k dot product (all data-independent here)."""
        raise NotImplementedError

    def matmul_cycles(self, m: int, n: int, k: int) -> int:
        """Cycles of an m x k by k x n GEMM on this one PE (outputs one after another)."""
        return m * n * self.dot_cycles(k)

    def matmul_events(self, m: int, n: int, k: int) -> dict[str, int]:
        return scale_events(self.dot_events(k), m * n)

    # --- provided -----------------------------------------------------------------------
    def _side(self, side: dict) -> dict:
        bad = sorted(set(side) - set(self.side_inputs))
        if bad:
            raise PEError(
                f"{self.name}: unexpected operand(s) {bad}; this PE takes x, w"
                + (f" and {list(self.side_inputs)}" if self.side_inputs else "")
            )
        return side

    def _as_2d(self, X, W) -> tuple[np.ndarray, np.ndarray]:
        X, W = np.asarray(X), np.asarray(W)
        if X.ndim != 2 or W.ndim != 2:
            raise PEError(f"{self.name}: matmul needs 2-D X (M x K) and W (K x N)")
        if X.shape[1] != W.shape[0]:
            raise PEError(f"{self.name}: inner dimensions differ: X {X.shape}, W {W.shape}")
        if X.shape[1] == 0:
            raise PEError(f"{self.name}: empty dot product (K = 0)")
        return X, W

    def _checked_fast(self, X, W, side):
        X, W, side = self._prepare_fast(X, W, side)
        value, ovf = self._fast(X, W, side)
        if ovf and getattr(self.cfg, "overflow", "wrap") == "error":
            raise PEOverflowError(
                f"{self.name}: accumulator of {self.cfg.acc_bits} bits overflowed"
            )
        return value, ovf

    def matmul(self, X, W, **side) -> PEResult:
        """Y = X @ W (X: M x K activations, W: K x N weights) on this PE."""
        X, W = self._as_2d(X, W)
        value, ovf = self._checked_fast(X, W, self._side(side))
        m, k = X.shape
        n = W.shape[1]
        return PEResult(value, self.matmul_cycles(m, n, k), self.matmul_events(m, n, k), ovf)

    def matmul_segments(self, X, W, segment: int) -> PEResult:
        """Per-segment GEMMs: K cut into segments of ``segment`` elements (the last one may
        be shorter), each an independent GEMM on this PE (accumulator from zero, as in
        group-quantized hardware whose scales change every segment).

        Same values, cycles, events and overflow as ``matmul(X[:, s], W[s])`` for every
        segment s in turn: value (n_segments x M x N), cycles and events summed over the
        segments, overflowed if any segment overflowed. PEs with side inputs (scales) are
        not segmented here (their groups are their own). Subclasses may batch the segments
        in one vectorised pass (``_fast_segments``); the test suite checks them against
        the per-segment calls."""
        X, W = self._as_2d(X, W)
        segment = self._segment_length(segment)
        value, ovf = self._fast_segments(X, W, segment)
        if ovf and getattr(self.cfg, "overflow", "wrap") == "error":
            raise PEOverflowError(
                f"{self.name}: accumulator of {self.cfg.acc_bits} bits overflowed"
            )
        cycles, events = self.segments_cost(X.shape[0], W.shape[1], X.shape[1], segment)
        return PEResult(value, cycles, events, ovf)

    def _segment_length(self, segment) -> int:
        segment = check_size("segment", segment)
        if segment == 0:
            raise PEError(f"{self.name}: segment length must be >= 1")
        return segment

    def segments_cost(self, m: int, n: int, k: int, segment: int) -> tuple[int, dict]:
        """(cycles, events) of ``matmul_segments`` on m x k by k x n operands: the
        per-segment GEMMs' cycles and events summed (data-independent)."""
        full, rest = divmod(k, segment)
        cycles = full * self.matmul_cycles(m, n, segment)
        events: Counter = Counter()
        add_events(events, self.matmul_events(m, n, segment), full)
        if rest:
            cycles += self.matmul_cycles(m, n, rest)
            add_events(events, self.matmul_events(m, n, rest))
        return cycles, dict(events)

    def segments_exact(self, X, W, segment: int) -> bool:
        """True when ``matmul_segments(X, W, segment)`` returns, for these operands, the
        exact integer dot product of every segment (no rounding, no accumulator overflow
        possible), so a caller may form those sums in any exact way and take the cost from
        ``segments_cost``. Validates X and W as ``matmul`` does (PEError on bad operands).
        Default False: a PE claims it only where its datapath provably is exact (tests
        check every claim against ``matmul_segments``)."""
        return False

    def _fast_segments(self, X, W, segment: int) -> tuple[np.ndarray, bool]:
        """(n_segments x M x N values, overflowed): the fast path on each K segment alone.
        Default: one ``_prepare_fast`` + ``_fast`` per segment (a loop over segments only)."""
        parts, ovf = [], False
        for s0 in range(0, X.shape[1], segment):
            Xs, Ws, side = self._prepare_fast(X[:, s0 : s0 + segment], W[s0 : s0 + segment], {})
            v, o = self._fast(Xs, Ws, side)
            parts.append(np.asarray(v))
            ovf |= bool(o)
        return np.stack(parts), ovf

    def _dot_side(self, side: dict) -> dict:
        """Side inputs of a dot product, reshaped to the matmul layout (per-group x N=1)."""
        return {k: (None if v is None else np.asarray(v).reshape(-1, 1)) for k, v in side.items()}

    def dot(self, x, w, **side) -> PEResult:
        """Dot product of activation vector x and weight vector w (length k)."""
        x, w = np.asarray(x), np.asarray(w)
        if x.ndim != 1 or w.ndim != 1 or x.shape != w.shape:
            raise PEError(f"{self.name}: dot needs two 1-D vectors of equal length")
        X, W = self._as_2d(x[None, :], w[:, None])
        value, ovf = self._checked_fast(X, W, self._dot_side(self._side(side)))
        k = x.shape[0]
        return PEResult(value[0, 0].item(), self.dot_cycles(k), self.dot_events(k), ovf)

    def step_trace(self, x, w, **side) -> Iterator[dict]:
        """Yield the architectural state after each clock cycle of the step model."""
        x, w = np.asarray(x), np.asarray(w)
        if x.ndim != 1 or w.ndim != 1 or x.shape != w.shape:
            raise PEError(f"{self.name}: step_trace needs two 1-D vectors of equal length")
        X, W = self._as_2d(x[None, :], w[:, None])
        X, W, s = self._prepare(X, W, self._dot_side(self._side(side)))
        yield from self._steps(X[0], W[:, 0], s)

    def step_dot(self, x, w, **side) -> PEResult:
        """Run the step model to completion; value, cycles, events from the trace."""
        cycles, events, last = 0, Counter(), None
        for state in self.step_trace(x, w, **side):
            cycles += 1
            add_events(events, state.get("events", {}))
            last = state
        if last is None or not last.get("done"):
            raise RuntimeError(f"{self.name}: step model ended without done")
        ovf = bool(last.get("overflowed", False))
        if ovf and getattr(self.cfg, "overflow", "wrap") == "error":
            raise PEOverflowError(
                f"{self.name}: accumulator of {self.cfg.acc_bits} bits overflowed"
            )
        return PEResult(last["result"], cycles, dict(events), ovf)


REGISTRY: dict[str, type[ProcessingElement]] = {}


def register(cls: type[ProcessingElement]) -> type[ProcessingElement]:
    REGISTRY[cls.kind] = cls
    return cls


# --------------------------------------------------------------------- shared helpers
def check_choice(where: str, name: str, value, choices) -> None:
    if value not in choices:
        raise PEError(f"{where}: {name} must be one of {list(choices)}, got {value!r}")


def check_int(where: str, name: str, value, lo: int, hi: int | None = None) -> None:
    ok = isinstance(value, int | np.integer) and not isinstance(value, bool) and value >= lo
    if not ok or (hi is not None and value > hi):
        rng = f">= {lo}" if hi is None else f"in {lo}..{hi}"
        raise PEError(f"{where}: {name} must be an integer {rng}, got {value!r}")


def check_int_accumulator(where: str, acc_bits, overflow) -> None:
    """Integer accumulator settings: acc_bits in 2..56 (exact in int64 kernels), overflow in
    OVERFLOW_MODES."""
    check_int(where, "acc_bits", acc_bits, 2, 56)
    check_choice(where, "overflow", overflow, OVERFLOW_MODES)


def int_acc_step(acc: int, add: int, acc_bits: int, overflow: str) -> tuple[int, bool]:
    """One accumulator update acc + add at acc_bits with wrap/saturate; (new, overflowed)."""
    lo, hi = -(1 << (acc_bits - 1)), (1 << (acc_bits - 1)) - 1
    v = acc + add
    if lo <= v <= hi:
        return v, False
    if overflow == "saturate":
        return (hi if v > hi else lo), True
    return (v - lo) % (1 << acc_bits) + lo, True


for _meth, _names in _SIZED.items():  # the base class's own defaults (matmul_*) too
    setattr(ProcessingElement, _meth, _sized(getattr(ProcessingElement, _meth), _names))

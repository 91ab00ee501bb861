"""Integer MAC PE (baseline, docs/pe_models.md): `lanes` a-bit x w-bit multipliers, an
adder tree, and one `acc_bits` accumulator with wrap or saturate.

Cycle: the products of `lanes` consecutive elements are summed exactly by the adder tree and
added to the accumulator: ceil(k / lanes) cycles per dot product (1 MAC per lane per cycle).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from . import kernels as K
from .base import (
    ProcessingElement,
    ceil_div,
    check_int,
    check_int_accumulator,
    clog2,
    int_acc_step,
    register,
)
from .operands import PEError, check, resolve, validate


@dataclass(frozen=True)
class IntMacConfig:
    a_fmt: str = "int8"  # INT8 x INT8 -> INT32 baseline (docs/pe_models.md)
    w_fmt: str = "int8"
    lanes: int = 1  # 1 MAC per cycle (docs/pe_models.md)
    acc_bits: int = 32  # INT32 accumulator (docs/pe_models.md)
    overflow: str = "wrap"  # none of the papers saturate; wrap + detection (docs/pe_models.md)


class IntegerAccumulatorPE(ProcessingElement):
    """Shared pieces of PEs whose datapath ends in an integer accumulator."""

    def _setup_int(self, need_int_w: bool = True) -> None:
        c = self.cfg
        check_int(self.name, "lanes", c.lanes, 1)
        check_int_accumulator(self.name, c.acc_bits, c.overflow)
        self.a_op, self.w_op = resolve(c.a_fmt), resolve(c.w_fmt)
        if self.a_op.kind not in ("int", "bipolar"):
            raise PEError(f"{self.name}: a_fmt {c.a_fmt!r} must be an integer format")
        if need_int_w and self.w_op.kind not in ("int", "bipolar"):
            raise PEError(f"{self.name}: w_fmt {c.w_fmt!r} must be an integer format")

    @property
    def mode(self) -> int:
        return K.SATURATE if self.cfg.overflow == "saturate" else K.WRAP

    def _prepare(self, X, W, side):
        return (
            check(self.name, "x", self.a_op, X).astype("int64"),
            check(self.name, "w", self.w_op, W).astype("int64"),
            side,
        )

    def _prepare_fast(self, X, W, side):
        """Validated operands left in their dtype (no copies); their largest magnitudes go
        to `_fast` as side["_maxes"] for the exactness bound."""
        X, xmax = validate(self.name, "x", self.a_op, X)
        W, wmax = validate(self.name, "w", self.w_op, W)
        return X, W, dict(side, _maxes=(xmax, wmax))

    def _fast(self, X, W, side):
        c = self.cfg
        return K.exact_int_matmul(X, W, c.lanes, c.acc_bits, self.mode, maxes=side.get("_maxes"))

    def _own_datapath(self) -> bool:
        """True when a subclass uses this class's validation and fast path as they are."""
        cls = type(self)
        return (
            cls._fast is IntegerAccumulatorPE._fast
            and cls._prepare_fast is IntegerAccumulatorPE._prepare_fast
        )

    def segments_exact(self, X, W, segment: int) -> bool:
        """Exact when no segment's partial sum can reach the accumulator's range (or 2^53):
        the adder tree is exact, so each segment sum is then the exact integer dot product
        (the bound ``kernels.group_partials`` uses for its BLAS route)."""
        if not self._own_datapath():
            return False
        X, W = self._as_2d(X, W)
        segment = self._segment_length(segment)
        _, _, side = self._prepare_fast(X, W, {})
        xmax, wmax = side["_maxes"]
        bound = min(segment, X.shape[1]) * xmax * wmax
        return bound < min(2.0 ** (self.cfg.acc_bits - 1), 2.0**53)

    def _fast_segments(self, X, W, segment):
        """All K segments in one pass (``kernels.group_partials``: one batched BLAS call
        when no segment partial can reach the accumulator's limits, else the chunked
        integer kernel per segment) for PEs that use this class's datapath as it is."""
        if not self._own_datapath():
            return super()._fast_segments(X, W, segment)
        c = self.cfg
        X, W, side = self._prepare_fast(X, W, {})
        return K.group_partials(
            X, W, segment, c.lanes, c.acc_bits, self.mode, maxes=side["_maxes"], float32_ok=True
        )

    def _acc(self, acc: int, add: int) -> tuple[int, bool]:
        return int_acc_step(acc, add, self.cfg.acc_bits, self.cfg.overflow)


@register
class IntMacPE(IntegerAccumulatorPE):
    """INT a x INT w multiply-accumulate, `lanes` MACs per cycle."""

    kind = "int_mac"
    Config = IntMacConfig

    def _setup(self):
        self._setup_int()
        c = self.cfg
        self.tree_bits = self.a_op.bits + self.w_op.bits + clog2(c.lanes)

    def _cycle_events(self, used: int) -> dict[str, int]:
        c = self.cfg
        return {
            f"mul_{self.a_op.bits}x{self.w_op.bits}": used,
            f"add_{self.tree_bits}": used - 1,
            f"add_{c.acc_bits}": 1,
            f"reg_write_{c.acc_bits}": 1,
        }

    def dot_cycles(self, k: int) -> int:
        return ceil_div(k, self.cfg.lanes)

    def dot_events(self, k: int) -> dict[str, int]:
        ev = Counter()
        full, rest = divmod(k, self.cfg.lanes)
        for used, times in ((self.cfg.lanes, full), (rest, 1 if rest else 0)):
            for name, v in self._cycle_events(used).items():
                ev[name] += v * times
        return {k_: v for k_, v in ev.items() if v}

    def _steps(self, x, w, side):
        L, k = self.cfg.lanes, len(x)
        acc, ovf = 0, False
        for cyc, c0 in enumerate(range(0, k, L)):
            a_reg = [int(v) for v in x[c0 : c0 + L]]
            w_reg = [int(v) for v in w[c0 : c0 + L]]
            prods = [a * b for a, b in zip(a_reg, w_reg, strict=True)]
            tree = sum(prods)
            acc, o = self._acc(acc, tree)
            ovf |= o
            done = c0 + L >= k
            yield {
                "cycle": cyc,
                "a_reg": a_reg,
                "w_reg": w_reg,
                "products": prods,
                "tree_sum": tree,
                "acc": acc,
                "overflowed": ovf,
                "valid": done,
                "done": done,
                "result": acc if done else None,
                "events": {n: v for n, v in self._cycle_events(len(prods)).items() if v},
            }

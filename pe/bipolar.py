"""Bipolar-INT bit-plane PE (Ma et al., arXiv 2409.17870).

Weights are bipolar-INT (each bit b stands for +-1: w = sum_j 2^j (2 b_j - 1), odd values);
activations are bipolar-INT (XOR form) or two's complement / unsigned INT (AND form).
Each cycle processes one (activation plane i, weight plane j) pair over a chunk of `lanes`
elements (a 1-bit MMA of K = lanes, like PTX mma.b1 m8n8k128):

* XOR form: D = n - 2 popc(a_i XOR w_j)  (n = valid elements of the chunk)
* AND form: D = 2 popc(a_i AND w_j) - popc(a_i)  (sum of (2 w_j - 1) a_i)

and adds D << (i + j) (negated for the sign plane of a two's complement activation) to the
chunk register; the chunk sum then goes into the `acc_bits` accumulator. Cycles per dot
product: ceil(k / lanes) * p * q. Bits beyond k in the last chunk are masked (zero
padding). All event counts are data-independent.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np

from .base import add_events, ceil_div, check_int, clog2, register
from .int_mac import IntegerAccumulatorPE
from .operands import PEError


@dataclass(frozen=True)
class BipolarConfig:
    a_fmt: str = "bipolar4"
    w_fmt: str = "bipolar4"
    lanes: int = 128  # 1-bit MMA K = 128 (PTX mma.b1 m8n8k128; Ma et al., arXiv 2409.17870)
    acc_bits: int = 32  # recovery accumulates in INT32 (Ma et al., arXiv 2409.17870)
    overflow: str = "wrap"


def planes(v: int, bits: int) -> list[int]:
    """Bit planes of a code pattern, LSB first."""
    return [(v >> i) & 1 for i in range(bits)]


@register
class BipolarPE(IntegerAccumulatorPE):
    """Arbitrary W x A precision GEMM on 1-bit plane pairs, recombined by shifts."""

    kind = "bipolar"
    Config = BipolarConfig

    def _setup(self):
        self._setup_int()
        check_int(self.name, "lanes", self.cfg.lanes, 1)
        if self.w_op.kind != "bipolar":
            raise PEError(f"{self.name}: w_fmt {self.cfg.w_fmt!r} must be a bipolar format")
        self.xor_form = self.a_op.kind == "bipolar"
        self.p, self.q = self.a_op.bits, self.w_op.bits
        self.sip_bits = self.p + self.q + clog2(self.cfg.lanes) + 1

    def _a_code(self, a: int) -> int:
        if self.xor_form:
            return (a + (1 << self.p) - 1) // 2  # bipolar code u: a = 2u - (2^p - 1)
        return a & ((1 << self.p) - 1)  # two's complement / unsigned pattern

    def _cycle_events(self, first_w_plane: bool) -> dict[str, int]:
        L = self.cfg.lanes
        ev = {
            f"{'xor' if self.xor_form else 'and'}_{L}": 1,
            f"popcount_{L}": 1 + (0 if self.xor_form or not first_w_plane else 1),
            f"shift_{self.sip_bits}": 1,
            f"add_{self.sip_bits}": 1,
            f"reg_write_{self.sip_bits}": 1,
        }
        return ev

    def _chunk_end_events(self) -> dict[str, int]:
        return {f"add_{self.cfg.acc_bits}": 1, f"reg_write_{self.cfg.acc_bits}": 1}

    def dot_cycles(self, k: int) -> int:
        return ceil_div(k, self.cfg.lanes) * self.p * self.q

    def dot_events(self, k: int) -> dict[str, int]:
        ev = Counter()
        chunks = ceil_div(k, self.cfg.lanes)
        add_events(ev, self._cycle_events(True), chunks * self.p)
        add_events(ev, self._cycle_events(False), chunks * self.p * (self.q - 1))
        add_events(ev, self._chunk_end_events(), chunks)
        return dict(ev)

    def _steps(self, x, w, side):
        L, k = self.cfg.lanes, len(x)
        acc, ovf, cyc = 0, False, 0
        n_chunks = ceil_div(k, L)
        for ci in range(n_chunks):
            xs = [self._a_code(int(v)) for v in x[ci * L : (ci + 1) * L]]
            ws = [(int(v) + (1 << self.q) - 1) // 2 for v in w[ci * L : (ci + 1) * L]]
            n = len(xs)
            sip = 0
            for i in range(self.p):
                a_plane = [(u >> i) & 1 for u in xs]
                neg = (not self.xor_form) and self.a_op.signed and i == self.p - 1
                for j in range(self.q):
                    w_plane = [(u >> j) & 1 for u in ws]
                    if self.xor_form:
                        pc = sum(a ^ b for a, b in zip(a_plane, w_plane, strict=True))
                        d = n - 2 * pc
                    else:
                        pc = sum(a & b for a, b in zip(a_plane, w_plane, strict=True))
                        d = 2 * pc - sum(a_plane)
                    sip += (-d if neg else d) << (i + j)
                    ev = Counter(self._cycle_events(j == 0))
                    last = i == self.p - 1 and j == self.q - 1
                    if last:
                        acc, o = self._acc(acc, sip)
                        ovf |= o
                        add_events(ev, self._chunk_end_events())
                    done = last and ci == n_chunks - 1
                    yield {
                        "cycle": cyc,
                        "chunk": ci,
                        "a_plane_index": i,
                        "w_plane_index": j,
                        "a_plane": a_plane,
                        "w_plane": w_plane,
                        "popcount": pc,
                        "plane_dot": d,
                        "sip": sip,
                        "acc": acc,
                        "overflowed": ovf,
                        "valid": done,
                        "done": done,
                        "result": acc if done else None,
                        "events": dict(ev),
                    }
                    cyc += 1


def bipolar_reference(x, w) -> int:
    """Exact integer dot product (for tests): plain int64 sum."""
    return int(np.dot(np.asarray(x, np.int64), np.asarray(w, np.int64)))

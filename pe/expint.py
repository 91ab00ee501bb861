"""Decoder + integer MAC PEs of the adaptive-type accelerators BitMoD compares against
(docs/pe_models.md):

* ``ant``: ANT (Guo et al., MICRO 2022). A 4-bit weight of one ANT type (``ant_int4``,
  ``ant_flint4``, ``ant_pot4``; the type is chosen per tensor, so the decoder's table is
  fixed for a GEMM) is decoded to an exponent-integer pair (sign, m, e) with m odd or 0 and
  value (-1)^sign * m * 2^e; an integer multiplier forms a * m, a shifter adds e.
* ``olive``: OliVe (Guo et al., ISCA 2023). Weights are decoded OliVe values (normal int4
  -7..7 or an abfloat outlier, ``olive4_values``) that obey the victim rule along K: in each
  pair (k, k+1), k even, an outlier's partner is 0 (checked with victim_check=True: PEError
  naming the pair). The pair decoder
  reads the partner's identifier and selects the int4 or abfloat decoding; the MAC is the
  same exponent-integer datapath.

Cycle: `lanes` weights per cycle; per lane one decode (a 16-entry table read), one
a x (m bits + sign) multiply and one shift; an adder tree and the accumulator (acc_bits,
wrap or saturate). ceil(k / lanes) cycles per dot product. The value is the exact integer
dot product (checked against the step model).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from .base import ceil_div, clog2, register
from .int_mac import IntegerAccumulatorPE
from .operands import PEError

OLIVE_NORMAL_MAX = 7  # formats/olive.py NORMAL_MAX: int4 without the identifier code


def exp_int(v: int) -> tuple[int, int, int]:
    """(sign, m, e) with v = (-1)^sign * m * 2^e, m odd (or v = 0: (0, 0, 0))."""
    if v == 0:
        return 0, 0, 0
    mag = abs(v)
    e = (mag & -mag).bit_length() - 1
    return int(v < 0), mag >> e, e


@dataclass(frozen=True)
class AntConfig:
    a_fmt: str = "int8"  # ANT's 8-bit int activations for its 4-bit weights (MICRO 2022)
    w_fmt: str = "ant_flint4"  # flint: the type ANT adds; ant_int4 / ant_pot4 also decode
    lanes: int = 1  # 1 MAC per cycle, like the int_mac baseline (docs/pe_models.md)
    acc_bits: int = 32  # INT32 accumulator (docs/pe_models.md)
    overflow: str = "wrap"  # wrap + detection (docs/pe_models.md)


@dataclass(frozen=True)
class OliveConfig(AntConfig):
    w_fmt: str = "olive4_values"  # decoded OliVe values (formats/olive.py)
    # validate the victim rule on the weights (PEError naming the pair); off by default: the
    # datapath after the pair decoder computes on any decoded values (formats/olive.py
    # encode_pairs is where the rule is enforced)
    victim_check: bool = False


class ExpIntMacPE(IntegerAccumulatorPE):
    """Shared datapath: table decoder -> a x m multiplier -> << e -> adder tree -> acc."""

    pair_decoder = False

    def _setup(self):
        self._setup_int(need_int_w=False)
        vals = self.w_op.values if self.w_op.kind == "table" else ()
        if self.w_op.kind != "table" or any(v != int(v) for v in vals):
            raise PEError(
                f"{self.name}: w_fmt {self.cfg.w_fmt!r} must be a value table of integers "
                "(ant_int4, ant_flint4, ant_pot4, olive4_values)"
            )
        fields = [exp_int(int(v)) for v in vals]
        self.m_bits = max(max(m for _, m, _ in fields).bit_length(), 1) + 1  # + sign
        self.max_shift = max(e for _, _, e in fields)
        self.dec_bits = 1 + (self.m_bits - 1) + max(self.max_shift, 1).bit_length()
        self.prod_bits = self.a_op.bits + self.m_bits + self.max_shift
        self.tree_bits = self.prod_bits + clog2(self.cfg.lanes)

    def _cycle_events(self, used: int) -> dict[str, int]:
        c = self.cfg
        ev = {
            f"lut_read_{self.dec_bits}": used,
            f"mul_{self.a_op.bits}x{self.m_bits}": used,
            f"shift_{self.prod_bits}": used,
            f"add_{self.tree_bits}": used - 1,
            f"add_{c.acc_bits}": 1,
            f"reg_write_{c.acc_bits}": 1,
        }
        if self.pair_decoder:  # int4 or abfloat decoding, selected by the partner's code
            ev[f"mux_{self.dec_bits}"] = used
        return ev

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
            decoded = [exp_int(int(v)) for v in w[c0 : c0 + L]]
            prods = [a * m for a, (_, m, _) in zip(a_reg, decoded, strict=True)]
            shifted = [(-p if s else p) << e for p, (s, _, e) in zip(prods, decoded, strict=True)]
            tree = sum(shifted)
            acc, o = self._acc(acc, tree)
            ovf |= o
            done = c0 + L >= k
            yield {
                "cycle": cyc,
                "a_reg": a_reg,
                "decoded": decoded,
                "products": prods,
                "shifted": shifted,
                "tree_sum": tree,
                "acc": acc,
                "overflowed": ovf,
                "valid": done,
                "done": done,
                "result": acc if done else None,
                "events": {n: v for n, v in self._cycle_events(len(prods)).items() if v},
            }


@register
class AntPE(ExpIntMacPE):
    """ANT: 4-bit adaptive-type weights decoded to exponent-integer pairs, integer MAC."""

    kind = "ant"
    Config = AntConfig


@register
class OlivePE(ExpIntMacPE):
    """OliVe: outlier-victim pairs decoded to exponent-integer pairs, integer MAC."""

    kind = "olive"
    Config = OliveConfig
    pair_decoder = True

    def _check_pairs(self, W):
        if not self.cfg.victim_check:
            return
        if not isinstance(self.cfg.victim_check, bool):
            raise PEError(f"{self.name}: victim_check must be True or False")
        k2 = W.shape[0] // 2 * 2  # an odd last weight pairs with padding (0)
        a, b = abs(W[0:k2:2]), abs(W[1:k2:2])
        bad = ((a > OLIVE_NORMAL_MAX) & (b != 0)) | ((b > OLIVE_NORMAL_MAX) & (a != 0))
        if bad.any():
            i, n = (int(v[0]) for v in bad.nonzero())
            raise PEError(
                f"{self.name}: weights ({2 * i}, {2 * i + 1}) of column {n} break the victim "
                "rule (an outlier's pair partner must be 0)"
            )

    def _prepare(self, X, W, side):
        X, W, side = super()._prepare(X, W, side)
        self._check_pairs(W)
        return X, W, side

    def _prepare_fast(self, X, W, side):
        X, W, side = super()._prepare_fast(X, W, side)
        self._check_pairs(W)
        return X, W, side

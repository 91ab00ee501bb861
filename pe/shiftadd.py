"""Shift-add PEs (DeepShift, Elhoushi et al., 2021; ShiftAddNet, You et al., NeurIPS 2020):
multiplier-free MACs for power-of-two style weights.

mode "shift" with INT activations: weights from a power-of-two (DeepShift, "potN" with zero;
DenseShift, zero-free "potN_nz") or APoT ("apotN", sums of two powers of two) format. Each
weight is a sign and at most `n_terms` powers of two in units of the format's grid unit u
(the largest number dividing every value: 2^-k for PoT, 1/10 or 1/48 for APoT). The PE
shifts the activation once per term, negates on the sign and accumulates exactly in an
`acc_bits` integer register; value = u * acc (exact for PoT; one float64 division for APoT's
non-power-of-two unit). Shifts are left shifts by the term position, i.e. DeepShift's right
shift of a fixed-point activation with enough fraction bits: no bits are truncated.

mode "shift" with FP activations (DenseShift on FP16): x * (+-2^p) adds p to the exponent
field and XORs the sign: exact, except that results below the smallest normal flush to zero
and results above the largest finite become +-inf; an FP adder (RNE) accumulates in
`acc_fmt`. Subnormal activations are read as zero.

mode "lmul": L-Mul (arXiv 2410.00907): both operands in the same FP format; the product is
one integer add of the (exponent|mantissa) fields minus (bias << m) - (2^m >> l(m)),
l(m) = m if m <= 3, 3 if m == 4, else 4; zero if either input is zero or subnormal, or the
result exponent field is <= 0; +-inf if it reaches all ones. Approximate by design; exact to
that definition. One MAC per cycle (lanes for the INT path). Event counts data-independent.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass

import numpy as np

from . import kernels as K
from . import softfloat as sf
from .base import (
    add_events,
    ceil_div,
    check_choice,
    check_int,
    check_int_accumulator,
    clog2,
    int_acc_step,
    register,
)
from .fp_fma import FloatAccumulatorPE, daz, fp_tag
from .operands import PEError, as_fraction, check, grid_unit, resolve, validate


@dataclass(frozen=True)
class ShiftAddConfig:
    mode: str = "shift"
    a_fmt: str = "int8"
    w_fmt: str = "pot4"  # 4-bit sign + shift weights (DeepShift-PS style, Elhoushi et al., 2021)
    lanes: int = 1  # one MAC per cycle
    acc_bits: int = 32  # DeepShift uses 32-bit fixed-point accumulation (Elhoushi et al., 2021)
    overflow: str = "wrap"
    acc_fmt: str = "fp32"  # FP paths: FP32 accumulation (tensor-core style, docs/pe_models.md)
    ftz: bool = False  # FP paths: flush subnormal adder inputs/results to zero


def lmul_l(mbits: int) -> int:
    """L-Mul offset exponent l(m) (arXiv 2410.00907)."""
    return mbits if mbits <= 3 else (3 if mbits == 4 else 4)


def lmul_fields(x: float, w: float, ebits: int, mbits: int, bias: int) -> float:
    """L-Mul of two values by integer field arithmetic (step-model reference)."""
    sign = (x < 0) != (w < 0)
    emin = 1 - bias
    if x == 0 or w == 0 or abs(x) < 2.0**emin or abs(w) < 2.0**emin:
        return -0.0 if sign else 0.0

    def field(v: float) -> int:
        _, sig, exp = sf.split(v)
        top = sig.bit_length() - 1
        mant = (sig << mbits >> top) - (1 << mbits)  # exact: v has <= mbits fraction bits
        return ((exp + top + bias) << mbits) | mant

    r = field(x) + field(w) - ((bias << mbits) - ((1 << mbits) >> lmul_l(mbits)))
    e = r >> mbits
    if e <= 0:
        v = 0.0
    elif e >= (1 << ebits) - 1:
        v = math.inf
    else:
        v = math.ldexp((1 << mbits) + (r & ((1 << mbits) - 1)), e - bias - mbits)
    return -v if sign else v


@register
class ShiftAddPE(FloatAccumulatorPE):
    """Shift-and-add MAC (PoT / APoT weights) or L-Mul approximate FP MAC."""

    kind = "shiftadd"
    Config = ShiftAddConfig

    def _setup(self):
        c = self.cfg
        check_choice(self.name, "mode", c.mode, ("shift", "lmul"))
        check_int(self.name, "lanes", c.lanes, 1)
        check_int_accumulator(self.name, c.acc_bits, c.overflow)
        self.a_op, self.w_op = resolve(c.a_fmt), resolve(c.w_fmt)
        if c.mode == "lmul":
            a, w = self.a_op, self.w_op
            if a.kind != "float" or (a.ebits, a.mbits) != (w.ebits, w.mbits):
                raise PEError(f"{self.name}: lmul needs a_fmt and w_fmt in the same FP format")
            self.int_path = False
            self._setup_fp(None)
            self.lspec = np.array([a.ebits, a.mbits, (1 << (a.ebits - 1)) - 1, lmul_l(a.mbits)])
            return
        if self.w_op.kind == "table":
            vals = self.w_op.values
        elif self.w_op.kind == "int":
            vals = tuple(range(self.w_op.qmin, self.w_op.qmax + 1))
        else:
            raise PEError(f"{self.name}: w_fmt {c.w_fmt!r} must be a PoT/APoT table format")
        self.unit = grid_unit(vals)
        levels = [abs(as_fraction(v) / self.unit) for v in vals]
        self.n_terms = max(bin(int(v)).count("1") for v in levels)
        self.max_pos = max(int(v).bit_length() - 1 for v in levels if v)
        if any(v.denominator != 1 for v in levels) or self.n_terms > 2:
            raise PEError(
                f"{self.name}: w_fmt {c.w_fmt!r} values are not sums of <= 2 powers of two"
            )
        if self.a_op.kind == "int":
            self.int_path = True
            self.term_bits = self.a_op.bits + self.max_pos + 1
        elif self.a_op.kind == "float":
            if (
                self.n_terms != 1
                or self.unit.numerator != 1
                or self.unit.denominator & (self.unit.denominator - 1)
            ):
                raise PEError(f"{self.name}: FP activations need power-of-two weights (potN)")
            if c.lanes != 1:
                raise PEError(f"{self.name}: FP paths have lanes = 1")
            self.int_path = False
            self._setup_fp(None)
            self.a_spec = sf.ieee_spec(self.a_op.ebits, self.a_op.mbits, True, self.a_op.name)
        else:
            raise PEError(f"{self.name}: a_fmt {c.a_fmt!r} must be an INT or FP format")

    # --- operands ------------------------------------------------------------------------
    def _prepare(self, X, W, side):
        X = check(self.name, "x", self.a_op, X)
        W = check(self.name, "w", self.w_op, W)
        if self.int_path:
            u = self.unit
            return (
                X.astype(np.int64),
                np.rint(W * u.denominator / u.numerator).astype(np.int64),
                side,
            )
        X = daz(X, self.a_op, True)
        if self.cfg.mode == "lmul":
            W = daz(W, self.w_op, True)
        return X, W, side

    def _pow2_unit(self) -> bool:
        u = self.unit
        return u.numerator == 1 and not (u.denominator & (u.denominator - 1))

    def _prepare_fast(self, X, W, side):
        """INT path with a power-of-two grid unit u (PoT weights, or u = 1): validated
        operands left in their dtype (no copies; W keeps its values, multiples of u), with
        (max |x|, max |w| / u) in side["_maxes"]. Other paths: `_prepare`."""
        if not self.int_path or not self._pow2_unit():
            return self._prepare(X, W, side)
        X, xmax = validate(self.name, "x", self.a_op, X)
        W, wmax = validate(self.name, "w", self.w_op, W)
        return X, W, dict(side, _maxes=(xmax, wmax * self.unit.denominator))

    def _value(self, acc):
        u = self.unit
        if u == 1:
            return acc
        if u.numerator == 1 and not (u.denominator & (u.denominator - 1)):
            if isinstance(acc, np.ndarray):
                acc *= float(u)  # power of two: exact (acc is a float64 temporary)
                return acc
            return acc * float(u)
        return acc * u.numerator / u.denominator  # one correctly rounded division

    def _fast(self, X, W, side):
        c = self.cfg
        if self.int_path:
            mode = K.SATURATE if c.overflow == "saturate" else K.WRAP
            maxes = side.get("_maxes")
            if self.unit == 1:
                return K.exact_int_matmul(X, W, c.lanes, c.acc_bits, mode, maxes=maxes)
            if maxes is not None:  # W holds the values: multiples of the power of two u
                bound = X.shape[1] * maxes[0] * maxes[1]  # in units of u, as for the levels
                if bound < min(2.0 ** (c.acc_bits - 1), 2.0**53):
                    # X @ W = u * (X @ levels) exactly (see blas_exact): the value itself
                    return K.blas_exact(X, W, True, bound), False
                u = self.unit
                W = np.rint(np.add(W, 0.0, dtype=np.float64) * u.denominator / u.numerator)
                W = W.astype(np.int64)
            v, ovf = K.exact_int_matmul(X, W, c.lanes, c.acc_bits, mode, as_float=True)
            return self._value(v), ovf
        if c.mode == "lmul":
            out = self._gemm(X, W, 1, self.lspec.astype(np.float64))
        else:
            self.prod_spec = self.a_spec
            out = self._gemm(X, W, 2)
        return out, False

    # --- timing and events ---------------------------------------------------------------
    def dot_cycles(self, k: int) -> int:
        return ceil_div(k, self.cfg.lanes)

    def _cycle_events(self, used: int) -> dict[str, int]:
        c = self.cfg
        if self.int_path:
            tree = self.term_bits + 1 + clog2(c.lanes)
            return {
                f"shift_{self.term_bits}": used * self.n_terms,
                f"add_{self.term_bits + 1}": used * (self.n_terms - 1),
                f"add_{tree}": used - 1,
                f"add_{c.acc_bits}": 1,
                f"reg_write_{c.acc_bits}": 1,
            }
        ev = {"xor_1": 1, f"fadd_{fp_tag(self.acc_op)}": 1, f"reg_write_{self.acc_op.bits}": 1}
        if c.mode == "lmul":
            ev[f"add_{self.a_op.bits - 1}"] = 1  # (exponent|mantissa) field adder
        else:
            ev[f"add_{self.a_op.ebits}"] = 1  # exponent-field adder
        return ev

    def dot_events(self, k: int) -> dict[str, int]:
        ev = Counter()
        full, rest = divmod(k, self.cfg.lanes)
        add_events(ev, self._cycle_events(self.cfg.lanes), full)
        add_events(ev, self._cycle_events(rest), 1 if rest else 0)
        return dict(ev)

    # --- step model ----------------------------------------------------------------------
    def _fp_product(self, a: float, w: float) -> float:
        if self.cfg.mode == "lmul":
            op = self.a_op
            return lmul_fields(a, w, op.ebits, op.mbits, (1 << (op.ebits - 1)) - 1)
        sign, sig, exp = sf.split(a)
        ws, wsig, wexp = sf.split(w)
        if sig == 0:
            return -0.0 if sign ^ ws else 0.0
        top = exp + sig.bit_length() - 1 + wexp + wsig.bit_length() - 1  # exponent add
        s = self.a_spec
        if top < s.emin:
            v = 0.0
        elif top > s.emax:
            v = math.inf
        else:
            v = math.ldexp(float(sig * wsig), exp + wexp)
        return -v if sign ^ ws else v

    def _steps(self, x, w, side):
        c, k = self.cfg, len(x)
        acc, ovf = 0 if self.int_path else 0.0, False
        L = c.lanes
        for cyc, c0 in enumerate(range(0, k, L)):
            a_reg, w_reg = (
                [x[i].item() for i in range(c0, min(c0 + L, k))],
                [w[i].item() for i in range(c0, min(c0 + L, k))],
            )
            state = {"cycle": cyc, "a_reg": a_reg, "w_reg": w_reg}
            if self.int_path:
                terms, total = [], 0
                for a, lv in zip(a_reg, w_reg, strict=True):
                    mag = abs(lv)
                    pos = [i for i in range(mag.bit_length()) if (mag >> i) & 1]
                    shifted = [(a << p) for p in pos]
                    t = sum(shifted)
                    total += -t if lv < 0 else t
                    terms.append({"sign": int(lv < 0), "shifts": pos, "shifted": shifted})
                acc, o = self._acc_int(acc, total)
                ovf |= o
                state.update(terms=terms, tree_sum=total)
            else:
                p = self._fp_product(a_reg[0], w_reg[0])
                acc = sf.fp_add(p, acc, self.acc_spec)
                state.update(product=p)
            done = c0 + L >= k
            result = (self._value(acc) if self.int_path else acc) if done else None
            yield dict(
                state,
                acc=acc,
                overflowed=ovf,
                valid=done,
                done=done,
                result=result,
                events={n: v for n, v in self._cycle_events(len(a_reg)).items() if v},
            )

    def _acc_int(self, acc: int, add: int):
        return int_acc_step(acc, add, self.cfg.acc_bits, self.cfg.overflow)

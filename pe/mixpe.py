"""MixPE (Zhang et al., arXiv 2411.16158): low-bit weight x higher-bit
activation with shift&add instead of a multiplier, integer (or FP32) accumulation over a
quantization group, and dequantization once per group partial sum.

W4A8 (a_fmt INT): per MAC x * q = sum_i q_i (x << i) (the sign bit of a two's complement q
weighs -2^(b-1)), an exact integer; the group partial P_g accumulates in `acc_bits` (wrap /
saturate), alongside S_g = sum x (zero-point correction). At the group end the dequant unit
computes out <- round(s_g * (P_g - z_g S_g) + out) in `out_fmt` (FP32), one rounding: an
integer x FP16-scale multiply fused with the FP32 add.

W4A16 (a_fmt fp16): q' = q - z_g; the FP16 significand is shift&added by q' (exact), the
group partial accumulates in `out_fmt` with RNE, and out <- round(s_g * P_g + out).

Timing: ceil(|group| / lanes) MAC cycles per group; the 1-cycle dequant unit works on group
g while the MAC unit runs group g + 1, so only the last dequant shows: total = MAC cycles
+ 1. The value equals per-element dequantization (dequant_mac) exactly when every rounding
is exact (power-of-two scales, integer activations, sums within FP32 precision); otherwise
the difference is measurable (tests). Event counts are data-independent.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass

import numpy as np

from . import kernels as K
from . import softfloat as sf
from .base import (
    ProcessingElement,
    add_events,
    ceil_div,
    check_int,
    check_int_accumulator,
    clog2,
    int_acc_step,
    register,
)
from .fp_fma import fp_tag
from .groups import expand, group_side
from .operands import PEError, check, resolve, validate


@dataclass(frozen=True)
class MixPEConfig:
    a_fmt: str = "int8"  # W4A8 (MixPE; Zhang et al., arXiv 2411.16158)
    w_fmt: str = "int4"
    group_size: int = 128  # per-group scales, typically G = 128 (docs/pe_models.md)
    lanes: int = 1  # MACs per cycle (INT path); FP path is sequential
    acc_bits: int = 32  # INT32 group partial sum (Zhang et al., arXiv 2411.16158)
    overflow: str = "wrap"
    out_fmt: str = "fp32"  # dequantized output accumulator (choice; paper detail is [M])
    scale_fmt: str = "fp16"  # FP16 group scales (as in the hwsim.formats *_g128 presets)
    ftz: bool = False


@register
class MixPE(ProcessingElement):
    """Shift&add mixed-precision PE with per-group dequantization."""

    kind = "mixpe"
    Config = MixPEConfig
    side_inputs = ("scales", "zeros")

    def _setup(self):
        c = self.cfg
        check_int(self.name, "group_size", c.group_size, 1)
        check_int(self.name, "lanes", c.lanes, 1)
        check_int_accumulator(self.name, c.acc_bits, c.overflow)
        self.a_op, self.w_op = resolve(c.a_fmt), resolve(c.w_fmt)
        self.scale_op = resolve(c.scale_fmt)
        self.out_op = resolve(c.out_fmt)
        if self.w_op.kind != "int":
            raise PEError(f"{self.name}: w_fmt {c.w_fmt!r} must be an integer format")
        if self.out_op.kind != "float" or not self.out_op.has_inf:
            raise PEError(f"{self.name}: out_fmt {c.out_fmt!r} must be an IEEE float format")
        self.spec = sf.ieee_spec(self.out_op.ebits, self.out_op.mbits, c.ftz, c.out_fmt)
        if self.a_op.kind == "int":
            self.fp = False
        elif self.a_op.kind == "float" and self.a_op.mbits + self.w_op.bits + 1 <= 24:
            self.fp = True
            if c.lanes != 1:
                raise PEError(f"{self.name}: the FP16-activation path has lanes = 1")
        else:
            raise PEError(f"{self.name}: a_fmt {c.a_fmt!r} must be INT or FP16-like")
        if c.group_size % c.lanes:
            raise PEError(f"{self.name}: group_size must be a multiple of lanes")

    def _prepare(self, X, W, side):
        X = check(self.name, "x", self.a_op, X)
        W = check(self.name, "w", self.w_op, W).astype(np.int64)
        if self.fp and self.cfg.ftz:
            X = np.where(np.abs(X) < 2.0**self.a_op.emin, np.copysign(0.0, X), X)
        s, z = group_side(
            self.name, side, X.shape[1], W.shape[1], self.cfg.group_size, self.scale_op, True
        )
        if not self.fp:
            X = X.astype(np.int64)
        return X, W, {"scales": s, "zeros": z}

    def _prepare_fast(self, X, W, side):
        """W4A8: validated operands left in their dtype (no copies), their largest
        magnitudes in side["_maxes"]. W4A16: `_prepare`."""
        if self.fp:
            return self._prepare(X, W, side)
        X, xmax = validate(self.name, "x", self.a_op, X)
        W, wmax = validate(self.name, "w", self.w_op, W)
        s, z = group_side(
            self.name, side, X.shape[1], W.shape[1], self.cfg.group_size, self.scale_op, True
        )
        return X, W, {"scales": s, "zeros": z, "_maxes": (xmax, wmax)}

    def _fast(self, X, W, side):
        c, s, z = self.cfg, side["scales"], side["zeros"]
        if self.fp:
            Q = (W - expand(z, W.shape[0], c.group_size)).astype(np.float64)
            return K.group_fp_gemm(X, Q, s, c.group_size, self.spec.as_array()), False
        mode = K.SATURATE if c.overflow == "saturate" else K.WRAP
        maxes = side.get("_maxes")
        P, ovf = K.group_partials(
            X, W, c.group_size, c.lanes, c.acc_bits, mode, maxes=maxes, float32_ok=True
        )
        ng = P.shape[0]
        if np.any(z):
            X = np.asarray(X, dtype=np.int64)
            Xs = np.pad(X, ((0, 0), (0, ng * c.group_size - X.shape[1])))
            S = Xs.reshape(X.shape[0], ng, c.group_size).sum(axis=2).T  # (ng, M)
            P = P - z[:, None, :] * S[:, :, None]  # exact: integers far below 2^53
        C = P if P.dtype.kind == "f" else P.astype(np.float64)  # exact integers
        return K.dequant_accumulate(C, s, self.spec.as_array()), ovf

    # --- timing and events ---------------------------------------------------------------
    def _group_sizes(self, k: int) -> list[int]:
        G = self.cfg.group_size
        return [min(G, k - g0) for g0 in range(0, k, G)]

    def dot_cycles(self, k: int) -> int:
        ends = np.cumsum([ceil_div(n, self.cfg.lanes) for n in self._group_sizes(k)])
        return K.pipeline_end(ends, 1)

    def _mac_cycle_events(self, used: int) -> dict[str, int]:
        c, ab, wb = self.cfg, self.a_op.bits, self.w_op.bits
        if self.fp:
            sig = self.a_op.mbits + 1
            return {
                f"and_{sig + wb}": used * wb,
                f"add_{sig + wb}": used * (wb - 1),
                f"add_{self.a_op.ebits}": used,  # exponent pass-through / normalise
                f"add_{wb + 1}": used,  # q - z
                f"fadd_{fp_tag(self.out_op)}": used,
                f"reg_write_{self.out_op.bits}": 1,
            }
        return {
            f"and_{ab + wb}": used * wb,  # gated shifted copies x << i
            f"add_{ab + wb}": used * (wb - 1),  # shift&add tree per MAC
            f"add_{ab + wb + clog2(c.lanes)}": used - 1,
            f"add_{c.acc_bits}": 1,
            f"reg_write_{c.acc_bits}": 1,
            f"add_{ab + clog2(c.group_size)}": used,  # S_g = sum x for the zero point
        }

    def _dequant_events(self) -> dict[str, int]:
        ev = {f"ffma_{fp_tag(self.out_op)}": 1, f"reg_write_{self.out_op.bits}": 1}
        if not self.fp:
            ev[f"mul_{self.w_op.bits + 1}x{self.a_op.bits + clog2(self.cfg.group_size)}"] = 1
            ev[f"add_{self.cfg.acc_bits}"] = 1
        return ev

    def dot_events(self, k: int) -> dict[str, int]:
        ev = Counter()
        for n in self._group_sizes(k):
            full, rest = divmod(n, self.cfg.lanes)
            add_events(ev, self._mac_cycle_events(self.cfg.lanes), full)
            add_events(ev, self._mac_cycle_events(rest), 1 if rest else 0)
            add_events(ev, self._dequant_events())
        return {n: v for n, v in ev.items() if v}

    def dequant_ops(self, k: int) -> int:
        """Dequantization multiplies in a length-k dot product: one per group."""
        return len(self._group_sizes(k))

    # --- step model ----------------------------------------------------------------------
    def _shift_add_int(self, a: int, q: int) -> int:
        """x * q from shifted copies of x gated by the bits of q (sign bit weighs -2^(b-1))."""
        b = self.w_op.bits
        bits = q & ((1 << b) - 1)
        total = 0
        for i in range(b):
            if (bits >> i) & 1:
                term = a << i
                total += -term if (self.w_op.signed and i == b - 1) else term
        return total

    def _shift_add_fp(self, a: float, q: int) -> float:
        """FP16 x small integer: the significand shift&added by |q|, exponent passed through."""
        sign, sig, exp = sf.split(a)
        mag = abs(q)
        prod = sum(sig << i for i in range(mag.bit_length()) if (mag >> i) & 1)
        neg = sign ^ (q < 0)
        v = math.ldexp(float(prod), exp)  # exact: <= 16 significant bits
        return -v if neg else v

    def _steps(self, x, w, side):
        c = self.cfg
        s, z = side["scales"][:, 0], side["zeros"][:, 0]
        k = len(x)
        groups = self._group_sizes(k)
        out, ovf, cyc, g0 = 0.0, False, 0, 0
        pending = None  # group partial waiting for the dequant unit (next cycle)
        for g, n in enumerate(groups):
            P = 0.0 if self.fp else 0
            S = 0
            for c0 in range(g0, g0 + n, c.lanes):
                idx = range(c0, min(c0 + c.lanes, g0 + n))
                ev = Counter(self._mac_cycle_events(len(idx)))
                state = {"cycle": cyc, "group": g, "a_reg": [x[i].item() for i in idx],
                         "w_reg": [int(w[i]) for i in idx]}  # fmt: skip
                if self.fp:
                    qz = int(w[c0]) - int(z[g])
                    prod = self._shift_add_fp(float(x[c0]), qz)
                    P = sf.fp_add(prod, P, self.spec)
                    state.update(q_minus_z=qz, product=prod)
                else:
                    prods = [self._shift_add_int(int(x[i]), int(w[i])) for i in idx]
                    P, o = int_acc_step(P, sum(prods), c.acc_bits, c.overflow)
                    ovf |= o
                    S += sum(int(x[i]) for i in idx)
                    state.update(products=prods)
                if pending is not None:
                    out = self._dequant(
                        *pending, float(s[pending[0]]), int(z[pending[0]]), out, ev, state
                    )
                    pending = None
                if c0 + c.lanes >= g0 + n:
                    pending = (g, P, S)
                state.update(group_psum=P, out=out, overflowed=ovf, valid=False, done=False,
                             result=None, events=dict(ev))  # fmt: skip
                yield state
                cyc += 1
            g0 += n
        ev = Counter()
        state = {"cycle": cyc}
        out = self._dequant(*pending, float(s[pending[0]]), int(z[pending[0]]), out, ev, state)
        yield dict(state, out=out, overflowed=ovf, valid=True, done=True, result=out,
                   events=dict(ev))  # fmt: skip

    def _dequant(self, g, P, S, s_g, z_g, out, ev, state):
        """Dequant unit: out <- round(s_g * (P - z_g * S) + out), one rounding."""
        add_events(ev, self._dequant_events())
        corr = P if self.fp else P - z_g * S
        out = sf.fp_fma(s_g, float(corr), out, self.spec)
        state["dequant"] = {"group": g, "psum": P, "corrected": corr, "scale": s_g}
        return out

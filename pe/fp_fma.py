"""Floating-point MAC PE (baseline, docs/pe_models.md): FP16 (or bf16/fp8/fp32) operands,
fused (one rounding) or unfused (multiplier rounds to `prod_fmt`, adder rounds to
`acc_fmt`) multiply-add, FP16 or FP32 accumulation, RNE, optional flush-to-zero.

One MAC per cycle: k cycles per dot product. Accumulation order is k = 0, 1, ..., k-1 from
+0. Overflow gives +-inf (IEEE); NaN does not occur for finite inputs unless inf - inf.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import kernels as K
from . import softfloat as sf
from .base import ProcessingElement, register
from .operands import Operand, PEError, check, resolve


def fp_tag(op: Operand) -> str:
    """Event width tag of an FP format: "16" (fp16), "32" (fp32), "bf16", else its bits."""
    if op.ebits == 8 and op.mbits == 7:
        return "bf16"
    return str(op.bits)


def float_spec(pe: str, role: str, op: Operand, ftz: bool) -> sf.FloatSpec:
    """FloatSpec of an IEEE-style arithmetic format (products, accumulators)."""
    if op.kind != "float" or not op.has_inf:
        raise PEError(f"{pe}: {role} {op.name!r} must be an IEEE-style float format (with inf)")
    return sf.ieee_spec(op.ebits, op.mbits, ftz, op.name)


def daz(x: np.ndarray, op: Operand, ftz: bool) -> np.ndarray:
    """Denormals-are-zero on an operand array (when ftz)."""
    if not ftz or op.kind != "float":
        return x
    tiny = np.ldexp(1.0, op.emin)
    return np.where(np.abs(x) < tiny, np.copysign(0.0, x), x)


@dataclass(frozen=True)
class FpFmaConfig:
    a_fmt: str = "fp16"  # FP16 MAC baseline (BitMoD's, Chen et al., HPCA 2025)
    w_fmt: str = "fp16"
    acc_fmt: str = "fp16"  # BitMoD's FP16 MAC baseline accumulates in FP16 (docs/pe_models.md)
    fused: bool = False  # accelerator baselines are often unfused mul + add (docs/pe_models.md)
    prod_fmt: str | None = None  # unfused multiplier output format; None = acc_fmt
    ftz: bool = False  # IEEE subnormals; True = DesignWare ieee_compliance=0 (docs/pe_models.md)


class FloatAccumulatorPE(ProcessingElement):
    """Shared pieces of PEs with a sequential floating-point accumulator."""

    def _setup_fp(self, prod_fmt: str | None) -> None:
        c = self.cfg
        self.acc_op = resolve(c.acc_fmt)
        self.acc_spec = float_spec(self.name, "acc_fmt", self.acc_op, c.ftz)
        self.prod_op = resolve(prod_fmt) if prod_fmt else self.acc_op
        self.prod_spec = float_spec(self.name, "prod_fmt", self.prod_op, c.ftz)

    def _mac_step(self, a: float, w: float, acc: float) -> tuple[float, float]:
        """(product register, new accumulator) of one MAC, step-model arithmetic."""
        if getattr(self.cfg, "fused", False):
            return a * w, sf.fp_fma(a, w, acc, self.acc_spec)  # a*w: exact product (display)
        p = sf.fp_mul(a, w, self.prod_spec)
        return p, sf.fp_add(p, acc, self.acc_spec)

    def _gemm(self, X, W, mult: int = 0, lspec=None) -> np.ndarray:
        lspec = np.zeros(4) if lspec is None else lspec
        return K.fp_gemm(
            np.ascontiguousarray(X, dtype=np.float64),
            np.ascontiguousarray(W, dtype=np.float64),
            mult,
            bool(getattr(self.cfg, "fused", False)),
            self.prod_spec.as_array(),
            self.acc_spec.as_array(),
            lspec,
        )

    def _mac_events(self) -> dict[str, int]:
        t = fp_tag(self.acc_op)
        if getattr(self.cfg, "fused", False):
            ev = {f"ffma_{t}": 1}
        else:
            ev = {f"fmul_{fp_tag(self.prod_op)}": 1, f"fadd_{t}": 1}
        ev[f"reg_write_{self.acc_op.bits}"] = 1
        return ev


@register
class FpFmaPE(FloatAccumulatorPE):
    """FP multiply-accumulate, one MAC per cycle."""

    kind = "fp_fma"
    Config = FpFmaConfig

    def _setup(self):
        c = self.cfg
        self.a_op, self.w_op = resolve(c.a_fmt), resolve(c.w_fmt)
        for role, op in (("a_fmt", self.a_op), ("w_fmt", self.w_op)):
            if op.kind not in ("float", "int") or op.bits > 32:
                raise PEError(f"{self.name}: {role} {op.name!r} must be a float/int format")
            if op.kind == "float" and op.mbits > 23:
                raise PEError(f"{self.name}: {role} {op.name!r} is wider than fp32")
        self._setup_fp(c.prod_fmt)

    def _prepare(self, X, W, side):
        ftz = self.cfg.ftz
        X = daz(check(self.name, "x", self.a_op, X), self.a_op, ftz)
        W = daz(check(self.name, "w", self.w_op, W), self.w_op, ftz)
        return X, W, side

    def _fast(self, X, W, side):
        return self._gemm(X, W), False

    def dot_cycles(self, k: int) -> int:
        return k

    def dot_events(self, k: int) -> dict[str, int]:
        return {n: v * k for n, v in self._mac_events().items()}

    def _steps(self, x, w, side):
        acc, k = 0.0, len(x)
        for i in range(k):
            a, b = float(x[i]), float(w[i])
            p, acc = self._mac_step(a, b, acc)
            done = i == k - 1
            yield {
                "cycle": i,
                "a_reg": a,
                "w_reg": b,
                "product": p,
                "acc": acc,
                "valid": done,
                "done": done,
                "result": acc if done else None,
                "events": self._mac_events(),
            }

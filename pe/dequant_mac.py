"""Dequantize-then-multiply mixed-precision PE (generic baseline; Zhang et al.,
arXiv 2411.16158; docs/pe_models.md).

Each cycle one weight is dequantized to the multiplier's format, w_deq = round((q - z_g) *
s_g) in `deq_fmt` (one FP multiply per element), and multiplied-accumulated with the
activation by an FP MAC (fused or unfused, `acc_fmt` accumulator), exactly like `fp_fma`.
k cycles per dot product. This is the per-element-dequantization baseline that MixPE
improves on: k dequant multiplies per length-k dot product instead of ceil(k / G).
Event counts are data-independent (the zero-point subtract is always counted).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import kernels as K
from . import softfloat as sf
from .base import check_int, register
from .fp_fma import FloatAccumulatorPE, daz, float_spec, fp_tag
from .groups import expand, group_side
from .operands import PEError, check, resolve


@dataclass(frozen=True)
class DequantMacConfig:
    w_fmt: str = "int4"  # W4 weights (MixPE's baseline comparison, Zhang et al., arXiv 2411.16158)
    a_fmt: str = "fp16"  # A16 activations
    deq_fmt: str = "fp16"  # dequantized weight in the FP16 multiplier format
    acc_fmt: str = "fp32"  # FP32 accumulation (tensor-core style, docs/pe_models.md)
    fused: bool = True
    prod_fmt: str | None = None  # unfused multiplier output; None = acc_fmt
    group_size: int = 128  # per-group scales, typically G = 128 (docs/pe_models.md)
    scale_fmt: str = "fp16"
    ftz: bool = False


@register
class DequantMacPE(FloatAccumulatorPE):
    """Per-element dequantization followed by an FP MAC."""

    kind = "dequant_mac"
    Config = DequantMacConfig
    side_inputs = ("scales", "zeros")

    def _setup(self):
        c = self.cfg
        check_int(self.name, "group_size", c.group_size, 1)
        self.a_op, self.w_op = resolve(c.a_fmt), resolve(c.w_fmt)
        self.scale_op = resolve(c.scale_fmt)
        self.deq_op = resolve(c.deq_fmt)
        self.deq_spec = float_spec(self.name, "deq_fmt", self.deq_op, c.ftz)
        if self.a_op.kind not in ("float", "int") or (
            self.a_op.kind == "float" and self.a_op.mbits > 23
        ):
            raise PEError(f"{self.name}: a_fmt {c.a_fmt!r} must be an FP (<= fp32) or INT format")
        if self.w_op.kind not in ("int", "table", "float", "bipolar"):
            raise PEError(f"{self.name}: w_fmt {c.w_fmt!r} is not supported")
        self._setup_fp(c.prod_fmt)

    def _prepare(self, X, W, side):
        c = self.cfg
        X = daz(check(self.name, "x", self.a_op, X), self.a_op, c.ftz)
        W = check(self.name, "w", self.w_op, W)
        s, z = group_side(
            self.name, side, X.shape[1], W.shape[1], c.group_size, self.scale_op,
            self.w_op.kind == "int",
        )  # fmt: skip
        return X, W, {"scales": s, "zeros": z}

    def dequantize(self, W, scales, zeros) -> np.ndarray:
        """Vectorised w_deq = round((q - z) * s) to deq_fmt (float64 array)."""
        k = W.shape[0]
        G = self.cfg.group_size
        exact = (W - expand(zeros, k, G)) * expand(scales, k, G)  # exact in float64
        d = self.deq_spec
        flat = K.fp_round_array(exact.reshape(-1).astype(np.float64), d.mbits, d.emin,
                                d.max_finite, d.ftz)  # fmt: skip
        return flat.reshape(exact.shape)

    def _fast(self, X, W, side):
        return self._gemm(X, self.dequantize(W, side["scales"], side["zeros"])), False

    def dot_cycles(self, k: int) -> int:
        return k

    def _cycle_events(self) -> dict[str, int]:
        ev = dict(self._mac_events())
        ev[f"add_{self.w_op.bits + 1}"] = 1  # q - z
        ev[f"fmul_{fp_tag(self.deq_op)}"] = ev.get(f"fmul_{fp_tag(self.deq_op)}", 0) + 1
        return ev

    def dot_events(self, k: int) -> dict[str, int]:
        return {n: v * k for n, v in self._cycle_events().items()}

    def dequant_ops(self, k: int) -> int:
        """Dequantization multiplies in a length-k dot product: one per weight."""
        return k

    def _steps(self, x, w, side):
        G = self.cfg.group_size
        s, z = side["scales"][:, 0], side["zeros"][:, 0]
        acc, k = 0.0, len(x)
        for i in range(k):
            g = i // G
            qz = float(w[i]) - float(z[g])
            w_deq = sf.fp_mul(qz, float(s[g]), self.deq_spec)
            p, acc = self._mac_step(float(x[i]), w_deq, acc)
            done = i == k - 1
            yield {
                "cycle": i,
                "group": g,
                "a_reg": float(x[i]),
                "w_code_value": float(w[i]),
                "w_dequant": w_deq,
                "product": p,
                "acc": acc,
                "valid": done,
                "done": done,
                "result": acc if done else None,
                "events": self._cycle_events(),
            }

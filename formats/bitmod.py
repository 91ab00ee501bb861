"""BitMoD mixture of data types (Chen et al., HPCA 2025, arXiv 2411.11745).

Extended FP3/FP4 element types: the sign-magnitude E2M0 / E2M1 grid whose redundant -0 code
holds one extra value, either a resolution value (ER: +-3 for FP3, +-5 for FP4) or an
asymmetry value (EA: +-6 for FP3, +-8 for FP4); values here in OCP units (the reference code's
"code units" are twice these for FP4). Each group of ``group_size`` weights along the input
axis picks the candidate type with the least mean squared error (ties keep the earlier
candidate), with scale = absmax / max|type| and nearest-value rounding with ties toward -inf,
as in the reference ``quant_datatype`` / ``search_datatype``
(abdelfattah-lab/BitMoD-HPCA-25, bitmod_quant/quant_utils/quant_weight.py).

Arithmetic: the reference runs in float16; here scales are stored in ``scale_format`` (fp16
by default) and the rest is float64, so results can differ from it in the last fp16 bit.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .base import FormatError, as_real_array, check_int
from .blocks import (
    QuantizedTensor,
    from_blocks,
    plan_blocks,
    scales_from_layout,
    scales_to_layout,
    to_blocks,
)
from .codebook import CodebookFormat, sign_magnitude_table
from .minifloat import MinifloatFormat

SOURCE = "BitMoD HPCA 2025; abdelfattah-lab/BitMoD-HPCA-25 quant_weight.py"
FP3_MAGS = (0.0, 1.0, 2.0, 4.0)  # E2M0 magnitudes (code units of the reference)
FP4_MAGS = (0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0)  # OCP E2M1 magnitudes
SPECIALS = {
    3: {"er_pos": 3.0, "er_neg": -3.0, "ea_pos": 6.0, "ea_neg": -6.0},
    4: {"er_pos": 5.0, "er_neg": -5.0, "ea_pos": 8.0, "ea_neg": -8.0},
}


def bitmod_type(bits: int, variant: str) -> CodebookFormat:
    """One extended type, e.g. ``bitmod_type(4, "er_pos")`` (FP4 plus +5)."""
    if bits not in SPECIALS or variant not in SPECIALS[bits]:
        raise FormatError(
            f"BitMoD types exist for bits 3/4 and variants {sorted(SPECIALS[4])}, "
            f"got bits={bits!r}, variant={variant!r}"
        )
    mags = FP3_MAGS if bits == 3 else FP4_MAGS
    return CodebookFormat(
        sign_magnitude_table(mags, SPECIALS[bits][variant]),
        name=f"bitmod_fp{bits}_{variant}",
        tie="lower",
        source=SOURCE,
    )


@dataclass(frozen=True)
class BitModFormat:
    """Per-group choice among extended FP3/FP4 types (see module docstring)."""

    bits: int = 4
    group_size: int = 128
    candidates: tuple = ("er_pos", "er_neg", "ea_pos", "ea_neg")
    scale_format: MinifloatFormat = field(
        default_factory=lambda: MinifloatFormat(5, 10, overflow="saturate", name="fp16")
    )
    min_scale: float = 1e-5  # reference clamps scales to [1e-5, 1e4]
    max_scale: float = 1e4
    partial: str = "allow"
    name: str = ""
    is_block = True

    def __post_init__(self):
        object.__setattr__(self, "name", self.name or f"bitmod_fp{self.bits}")
        if not self.candidates:
            raise FormatError(f"{self.name}: need at least one candidate type")
        object.__setattr__(self, "candidates", tuple(self.candidates))
        for c in self.candidates:
            bitmod_type(self.bits, c)  # validates
        object.__setattr__(
            self, "group_size", check_int(self.group_size, self.name, "group_size", 1)
        )

    @property
    def types(self) -> list[CodebookFormat]:
        return [bitmod_type(self.bits, c) for c in self.candidates]

    @property
    def type_bits(self) -> int:
        return max(int(len(self.candidates) - 1).bit_length(), 0)

    def _plan_bits(self, plan) -> int:
        n = int(np.prod(plan.shape))
        groups = n // max(plan.shape[plan.axis], 1) * plan.n_blocks
        return n * self.bits + groups * (self.scale_format.bits + self.type_bits)

    def storage_bits(self, shape, axis: int = -1) -> int:
        plan = plan_blocks(tuple(shape), axis, self.group_size, self.partial, self.name)
        return self._plan_bits(plan)

    def bits_per_element(self, block_len: int | None = None) -> float:
        return self.bits + (self.scale_format.bits + self.type_bits) / self.group_size

    def encode(self, x, axis: int = -1) -> QuantizedTensor:
        arr = as_real_array(x, self.name).astype(np.float64)
        if not np.all(np.isfinite(arr)):
            raise FormatError(f"{self.name}: non-finite input")
        plan = plan_blocks(arr.shape, axis, self.group_size, self.partial, self.name)
        xb = to_blocks(arr, plan)
        counts = np.full(plan.n_blocks, plan.size)
        if plan.pad:
            counts[-1] -= plan.pad
        real = np.arange(plan.size)[None, :] < counts[:, None]  # (n_blocks, size)
        amax = np.abs(xb).max(axis=-1)
        best_err = np.full(amax.shape, np.inf)
        best = np.zeros(amax.shape, dtype=np.int64)
        best_codes = np.zeros(xb.shape, dtype=np.uint8)
        best_scodes = np.zeros(amax.shape, dtype=np.uint16)
        for t_idx, t in enumerate(self.types):  # a handful of candidate types, not elements
            qmax = float(np.max(np.abs(t.grid())))
            s = np.clip(amax / qmax, self.min_scale, self.max_scale)
            scodes = self.scale_format.encode(s)
            sv = self.scale_format.decode(scodes)
            codes = t.encode(xb / sv[..., None])
            err = (((t.decode(codes) * sv[..., None] - xb) ** 2) * real).sum(axis=-1) / counts
            better = err < best_err  # strict: ties keep the earlier candidate
            best_err = np.where(better, err, best_err)
            best = np.where(better, t_idx, best)
            best_codes = np.where(better[..., None], codes, best_codes)
            best_scodes = np.where(better, scodes, best_scodes)
        return QuantizedTensor(
            format=self,
            codes=from_blocks(best_codes, plan),
            scales=scales_to_layout(best_scodes, plan),
            plan=plan,
            extra={"types": scales_to_layout(best, plan), "mse": scales_to_layout(best_err, plan)},
        )

    def scale_values(self, qt: QuantizedTensor) -> np.ndarray:
        return self.scale_format.decode(qt.scales)

    def dequantize(self, qt: QuantizedTensor) -> np.ndarray:
        plan = qt.plan
        codes = to_blocks(qt.codes, plan).astype(np.int64)
        tables = np.stack([np.asarray(t.table) for t in self.types])  # (types, 2^bits)
        kinds = scales_from_layout(qt.extra["types"], plan)
        vals = tables[kinds, codes]
        return from_blocks(vals * scales_from_layout(self.scale_values(qt), plan), plan)

    def quantize(self, x, axis: int = -1) -> np.ndarray:
        return self.encode(x, axis).dequantize()

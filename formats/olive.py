"""OliVe outlier-victim pair encoding (Guo et al., "OliVe: Accelerating Large Language Models
via Hardware-friendly Outlier-Victim Pair Quantization", ISCA 2023).

Values in integer units of the normal type (one step of int4):

* normal values: int4 -7..7, two's complement codes; code 0b1000 (-8) is never a value, it
  is the outlier identifier;
* outliers: 4-bit abfloat (adaptive-bias float) sign, 2-bit exponent e, 1-bit mantissa m,
  magnitude (1 + m/2) * 2^(e + 3) in {12, 16, 24, 32, 48, 64, 96}; the bias 3 puts the
  smallest outlier above the normal range, and the (e, m) = (0, 0) code (8) is unused, as in
  the reference grid ``outlier_value(exp_bit=2, exp_base=5)`` (clevercool/ANT-Quantization,
  olive_quantization, there in units of 4 x ours).

Elements pair up along the axis, (0, 1), (2, 3), ... A pair holds two normal values, or one
outlier and its victim: the victim is zeroed and its slot holds the identifier, so the pair
decoder knows which slot is the outlier. Quantization: x / scale rounded to the nearest value
of normal U outliers (ties toward zero); then in each pair with an outlier the other element is
the victim; with two outliers the first (even) one is kept and the second becomes its victim
(the reference's rule). Scale per group of ``group_size`` along the axis (a last partial
group on its own statistics; the axis length must be even): the clip value
max(|mean + 3 std|, |mean - 3 std|) of the group maps to the largest normal value 7 (the
reference's initial clip for outlier mode; its MSE search over clip ratios is not reproduced),
stored in fp16.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .base import FormatError, as_real_array, check_int
from .blocks import (
    QuantizedTensor,
    block_counts,
    from_blocks,
    plan_blocks,
    scales_from_layout,
    scales_to_layout,
    to_blocks,
)
from .codebook import CodebookFormat
from .minifloat import MinifloatFormat

SOURCE = "OliVe (Guo et al., ISCA 2023); clevercool/ANT-Quantization olive_quantization"
NORMAL_MAX = 7  # int4 without -8 (0b1000 is the outlier identifier)
IDENTIFIER = 0b1000
ABFLOAT_BIAS = 3  # smallest abfloat exponent: 2^3 (reference exp_base 5 in units of 4)
CLIP_SIGMAS = 3.0  # reference initial clip: mean +- 3 std


def abfloat_decode(code: np.ndarray) -> np.ndarray:
    """Value of 4-bit abfloat codes (sign<<3 | e<<1 | m); the unused (e, m) = (0, 0) codes
    raise FormatError."""
    code = np.asarray(code, dtype=np.int64)
    e, m = (code >> 1) & 3, code & 1
    if np.any((e == 0) & (m == 0)):
        raise FormatError("olive: abfloat code with e = 0, m = 0 is unused (not an outlier)")
    mag = (2 + m) * 2.0 ** (e + ABFLOAT_BIAS - 1)
    return np.where(code & 8, -mag, mag)


def outlier_magnitudes() -> tuple[float, ...]:
    """{12, 16, 24, 32, 48, 64, 96}: every abfloat magnitude but the unused (0, 0) code."""
    return tuple(float(v) for v in np.abs(abfloat_decode(np.arange(1, 8))))


def _abfloat_encode(v: np.ndarray) -> np.ndarray:
    mags = np.asarray(outlier_magnitudes())
    idx = np.searchsorted(mags, np.abs(v))  # v is exactly one of mags
    return ((v < 0).astype(np.int64) << 3) | (idx + 1)


def value_table() -> CodebookFormat:
    """Element view for PE operands: every value a decoded OliVe weight can take (normal
    -7..7 and the +-outliers; 29 values, padded with zeros to a 32-entry table)."""
    outs = outlier_magnitudes()
    vals = [float(v) for v in range(-NORMAL_MAX, NORMAL_MAX + 1)] + [
        s * v for v in outs for s in (1, -1)
    ]
    vals += [0.0] * (32 - len(vals))
    return CodebookFormat(tuple(vals), name="olive4_values", source=SOURCE)


def victim_rule(q: np.ndarray) -> np.ndarray:
    """Zero the victims of values q (last axis in pairs): in a pair with an outlier
    (|q| > NORMAL_MAX) the other element is zeroed; with two, the second."""
    a, b = q[..., 0::2], q[..., 1::2]
    out_a, out_b = np.abs(a) > NORMAL_MAX, np.abs(b) > NORMAL_MAX
    r = q.copy()
    r[..., 1::2] = np.where(out_a, 0.0, b)
    r[..., 0::2] = np.where(out_b & ~out_a, 0.0, a)
    return r


@dataclass(frozen=True)
class OliveFormat:
    """OliVe 4-bit outlier-victim pairs with per-group fp16 scales (module docstring)."""

    group_size: int = 128
    scale_format: MinifloatFormat = field(
        default_factory=lambda: MinifloatFormat(5, 10, overflow="saturate", name="fp16")
    )
    name: str = "olive4"
    is_block = True
    bits = 4

    def __post_init__(self):
        check_int(self.group_size, self.name, "group_size", 2)
        if self.group_size % 2:
            raise FormatError(
                f"{self.name}: group_size must be even (pairs), got {self.group_size}"
            )

    @property
    def types(self) -> list[CodebookFormat]:
        """Element view: the decoded values (normal and outlier), ``olive4_values``."""
        return [value_table()]

    @staticmethod
    def grid() -> np.ndarray:
        """Sorted values before the victim rule: normal U outliers."""
        return np.unique(np.asarray(value_table().table))

    def bits_per_element(self, block_len: int | None = None) -> float:
        return self.bits + self.scale_format.bits / self.group_size

    def _plan_bits(self, plan) -> int:
        n = int(np.prod(plan.shape))
        groups = n // max(plan.shape[plan.axis], 1) * plan.n_blocks
        return n * self.bits + groups * self.scale_format.bits

    def storage_bits(self, shape, axis: int = -1) -> int:
        """4 bits per element + one fp16 scale per group (partial groups included)."""
        return self._plan_bits(self._plan(tuple(shape), axis))

    def _plan(self, shape, axis):
        plan = plan_blocks(tuple(shape), axis, self.group_size, "allow", self.name)
        if shape[plan.axis] % 2:
            raise FormatError(
                f"{self.name}: pairs need an even length along axis {plan.axis}, got "
                f"{shape[plan.axis]}"
            )
        return plan

    def round_values(self, y: np.ndarray) -> np.ndarray:
        """Nearest value of ``grid()`` (ties toward zero), before the victim rule."""
        return _nearest(self.grid(), np.asarray(y, dtype=np.float64))

    def encode(self, x, axis: int = -1) -> QuantizedTensor:
        arr = as_real_array(x, self.name).astype(np.float64)
        if not np.all(np.isfinite(arr)):
            raise FormatError(f"{self.name}: non-finite input")
        plan = self._plan(arr.shape, axis)
        xb = to_blocks(arr, plan)  # (..., n_blocks, size), a partial last block zero padded
        n = block_counts(plan)  # real elements per block: statistics ignore the padding
        mean = xb.sum(axis=-1) / n
        real = np.arange(plan.size) < n[:, None]
        std = np.sqrt((((xb - mean[..., None]) ** 2) * real).sum(axis=-1) / n)
        clip = np.maximum(np.abs(mean + CLIP_SIGMAS * std), np.abs(mean - CLIP_SIGMAS * std))
        s = np.where(clip > 0, clip / NORMAL_MAX, 1.0)
        scodes = self.scale_format.encode(s)
        sv = self.scale_format.decode(scodes)
        q = victim_rule(self.round_values(xb / sv[..., None]))
        return QuantizedTensor(
            format=self, codes=from_blocks(encode_pairs(q), plan),
            scales=scales_to_layout(scodes, plan), plan=plan,
        )  # fmt: skip

    def scale_values(self, qt: QuantizedTensor) -> np.ndarray:
        return self.scale_format.decode(qt.scales)

    def dequantize(self, qt: QuantizedTensor) -> np.ndarray:
        plan = qt.plan
        vals = decode_pairs(to_blocks(qt.codes, plan))
        return from_blocks(vals * scales_from_layout(self.scale_values(qt), plan), plan)

    def quantize(self, x, axis: int = -1) -> np.ndarray:
        return self.encode(x, axis).dequantize()


def _nearest(grid: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Nearest grid value of each y; an exact midpoint goes toward zero."""
    i = np.clip(np.searchsorted(grid, y), 1, len(grid) - 1)
    lo, hi = grid[i - 1], grid[i]
    d_lo, d_hi = y - lo, hi - y
    pick_hi = (d_hi < d_lo) | ((d_hi == d_lo) & (hi <= 0))  # tie: the one nearer zero
    return np.where(y <= grid[0], grid[0], np.where(y >= grid[-1], grid[-1],
                    np.where(pick_hi, hi, lo)))  # fmt: skip


def encode_pairs(q: np.ndarray) -> np.ndarray:
    """4-bit codes (uint8) of values q obeying the victim rule, pairs along the last axis."""
    q = np.asarray(q, dtype=np.float64)
    if q.shape[-1] % 2:
        raise FormatError("olive: pairs need an even length along the axis")
    out = np.abs(q) > NORMAL_MAX
    a_out, b_out = out[..., 0::2], out[..., 1::2]
    if np.any(a_out & (q[..., 1::2] != 0)) or np.any(b_out & (q[..., 0::2] != 0)):
        raise FormatError("olive: an outlier's pair partner (its victim) must be 0")
    normal = np.mod(np.where(out, 0, q).astype(np.int64), 16)  # two's complement int4
    codes = np.where(out, _abfloat_encode(np.where(out, q, 12.0)), normal)
    codes[..., 0::2] = np.where(b_out, IDENTIFIER, codes[..., 0::2])
    codes[..., 1::2] = np.where(a_out, IDENTIFIER, codes[..., 1::2])
    return codes.astype(np.uint8)


def decode_pairs(codes: np.ndarray) -> np.ndarray:
    """Values of 4-bit codes, pairs along the last axis (the OliVe pair decoder)."""
    c = np.asarray(codes, dtype=np.int64)
    if np.any((c < 0) | (c > 15)):
        raise FormatError("olive: codes must be 4-bit (0..15)")
    if c.shape[-1] % 2:
        raise FormatError("olive: pairs need an even length along the axis")
    a, b = c[..., 0::2], c[..., 1::2]
    if np.any((a == IDENTIFIER) & (b == IDENTIFIER)):
        raise FormatError("olive: a pair with two outlier identifiers is not a valid code")
    as_int = lambda v: np.where(v >= 8, v - 16, v).astype(np.float64)  # noqa: E731
    safe = lambda v, use: np.where(use, v, 2)  # noqa: E731  (a valid abfloat code)
    va = np.where(b == IDENTIFIER, abfloat_decode(safe(a, b == IDENTIFIER)), as_int(a))
    vb = np.where(a == IDENTIFIER, abfloat_decode(safe(b, a == IDENTIFIER)), as_int(b))
    va = np.where(a == IDENTIFIER, 0.0, va)
    vb = np.where(b == IDENTIFIER, 0.0, vb)
    out = np.empty(c.shape, dtype=np.float64)
    out[..., 0::2], out[..., 1::2] = va, vb
    return out

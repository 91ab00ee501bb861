"""Storage bits per element of an operand format (element bits plus shared-scale overhead)."""

from __future__ import annotations

import math

#: NVFP4 stores one FP8 E4M3 scale per 16-element block (NVIDIA Blackwell NVFP4 description);
#: used when a block format does not expose its scale format.
_FALLBACK_SCALE_BITS = 8


def storage_bits(fmt: float | int | str) -> float:
    """Bits per element (bits) of ``fmt``: a plain number, or a hwsim.formats preset name.

    For block formats the shared scale is amortised: ``bits + scale_bits / block``
    (e.g. mxfp4 = 4 + 8/32 = 4.25 bits).
    """
    if isinstance(fmt, bool):
        raise ValueError(f"format must be a bits-per-element number or a name, got {fmt!r}")
    if isinstance(fmt, int | float):
        if not (math.isfinite(fmt) and fmt > 0):
            raise ValueError(f"bits per element must be finite and > 0, got {fmt!r}")
        return float(fmt)
    if not isinstance(fmt, str):
        raise ValueError(f"format must be a bits-per-element number or a name, got {fmt!r}")
    try:
        from hwsim import formats
    except ImportError as exc:  # pragma: no cover - formats ships with hwsim
        raise ValueError(f"cannot resolve format {fmt!r}: hwsim.formats unavailable") from exc
    try:
        f = formats.get(fmt)
    except (KeyError, ValueError) as exc:
        raise ValueError(f"unknown operand format {fmt!r}: {exc}") from None
    bits = float(f.bits)
    block = getattr(f, "block", None)
    if isinstance(block, int) and block > 0:
        scale_fmt = getattr(f, "scale_format", None)
        scale_bits = getattr(scale_fmt, "bits", None) or _FALLBACK_SCALE_BITS
        bits += scale_bits / block
    return bits

"""Operand-width keys: parsing and normalising the ``bits`` argument of every cost function.

Integer ops take a positive int width (bits); ``mul`` also takes a pair ``(a, b)`` for an a-bit x
b-bit multiply. Floating-point ops take a storage width with a default layout (4 -> e2m1,
6 -> e3m2, 8 -> e4m3, 16 -> fp16, 32 -> fp32, 64 -> fp64) or a name: ``"bf16"``, ``"fp16"``,
``"eXmY"``. Other int widths take the exponent width of the nearest listed width below
(e.g. 12 -> e4m7). Internally a float width is the pair (exponent bits, mantissa bits).
"""

from __future__ import annotations

import numbers
import re

INT_OPS = (
    "add",
    "mul",
    "shift",
    "mux",
    "and",
    "xor",
    "popcount",
    "lut_read",
    "lut_write",
    "reg_write",
    "cmp",
)
FLOAT_OPS = ("fadd", "fmul", "ffma", "lmul")
OPS = INT_OPS + FLOAT_OPS

#: Default (exponent, mantissa) layout per floating-point storage width, in bits.
FLOAT_LAYOUTS: dict[int | str, tuple[int, int]] = {
    4: (2, 1),
    6: (3, 2),
    8: (4, 3),
    16: (5, 10),
    32: (8, 23),
    64: (11, 52),
    "bf16": (8, 7),
    "fp16": (5, 10),
    "fp32": (8, 23),
}

_EM = re.compile(r"^e(\d+)m(\d+)$")
_PAIR = re.compile(r"^(\d+)x(\d+)$")

Width = int | tuple[int, int] | str


def _positive_int(value: object, op: str) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError(f"bits for op {op!r} must be an int number of bits, got {value!r}")
    if value <= 0:
        raise ValueError(f"bits for op {op!r} must be positive, got {value}")
    return int(value)


def normalize(op: str, bits: Width) -> tuple[int, ...]:
    """Canonical width key of ``bits`` for ``op``.

    Integer ops -> ``(w,)``; ``mul`` -> sorted ``(a, b)``; float ops -> ``(exp, man)``.
    Raises ValueError for a malformed, non-positive or unsupported width.
    """
    if op in FLOAT_OPS:
        return float_layout(op, bits)
    if isinstance(bits, str):
        m = _PAIR.match(bits)
        if m and op == "mul":
            bits = (int(m.group(1)), int(m.group(2)))
        elif bits.isdigit():
            bits = int(bits)
        else:
            raise ValueError(f"bad width {bits!r} for op {op!r}")
    if isinstance(bits, tuple):
        if op != "mul":
            raise ValueError(f"op {op!r} takes one width, got the pair {bits!r}")
        if len(bits) != 2:
            raise ValueError(f"a mul width pair must be (a, b), got {bits!r}")
        a, b = (_positive_int(v, op) for v in bits)
        return (min(a, b), max(a, b))
    w = _positive_int(bits, op)
    return (w, w) if op == "mul" else (w,)


def float_layout(op: str, bits: Width) -> tuple[int, int]:
    """(exponent bits, mantissa bits) of a floating-point width spec."""
    if isinstance(bits, str):
        key = bits.lower()
        if key.isdigit():
            return float_layout(op, int(key))
        if key in FLOAT_LAYOUTS:
            return FLOAT_LAYOUTS[key]
        m = _EM.match(key)
        if m:
            e, man = int(m.group(1)), int(m.group(2))
            if e <= 0:
                raise ValueError(f"float width {bits!r} for op {op!r} needs >= 1 exponent bit")
            return (e, man)
        raise ValueError(f"bad float width {bits!r} for op {op!r}; use an int, 'bf16' or 'eXmY'")
    if isinstance(bits, tuple):
        raise ValueError(f"op {op!r} takes one width, got the pair {bits!r}")
    w = _positive_int(bits, op)
    if w in FLOAT_LAYOUTS:
        return FLOAT_LAYOUTS[w]
    if w < 3:
        raise ValueError(f"float width {w} for op {op!r} is too narrow (needs >= 3 bits)")
    # Other widths: the exponent of the nearest listed width below, the rest mantissa.
    e = max((v[0] for k, v in FLOAT_LAYOUTS.items() if isinstance(k, int) and k < w), default=1)
    return (e, w - 1 - e)


def label(op: str, key: tuple[int, ...]) -> str:
    """Event-grammar width label of a canonical key: '32', '4x8', 'bf16', 'e4m3'."""
    if op in FLOAT_OPS:
        for name, layout in FLOAT_LAYOUTS.items():
            if layout == key and isinstance(name, int):
                return str(name)
        return "bf16" if key == FLOAT_LAYOUTS["bf16"] else f"e{key[0]}m{key[1]}"
    if op == "mul":
        return f"{key[0]}x{key[1]}"
    return str(key[0])

"""Packing unpacked codes into a dense byte stream and back.

Bit order: the stream is a sequence of ``bits``-wide fields, element 0 first.
    order="lsb_first" (default): element 0 occupies the least significant bits of byte 0, and
        each field is stored least significant bit first (torchao FP4/MX packing: element 0 in
        the low nibble).
    order="msb_first": element 0 occupies the most significant bits of byte 0, each field most
        significant bit first (bitsandbytes NF4/FP4: element 0 in the high nibble).
Trailing bits of the last byte are zero. Works for any width 1..32.
"""

from __future__ import annotations

import numpy as np

from .base import FormatError, check_codes, check_int, code_dtype

ORDERS = ("lsb_first", "msb_first")


def _check(bits: int, order: str) -> None:
    check_int(bits, "pack", "bits", 1, 32)
    if order not in ORDERS:
        raise FormatError(f"pack: order must be one of {ORDERS}, got {order!r}")


def pack(codes, bits: int, order: str = "lsb_first") -> np.ndarray:
    """Pack codes (any shape, flattened in C order) into uint8, ``ceil(n*bits/8)`` bytes."""
    _check(bits, order)
    c = check_codes(codes, bits, f"pack({bits}-bit)").reshape(-1).astype(np.uint32)
    little = order == "lsb_first"
    bitorder = "little" if little else "big"
    raw = c.astype("<u4" if little else ">u4").view(np.uint8).reshape(-1, 4)
    planes = np.unpackbits(raw, axis=1, bitorder=bitorder)  # (n, 32)
    planes = planes[:, :bits] if little else planes[:, 32 - bits :]
    return np.packbits(planes.reshape(-1), bitorder=bitorder)


def unpack(data, bits: int, count: int, order: str = "lsb_first") -> np.ndarray:
    """Inverse of ``pack``: the first ``count`` codes from the byte stream."""
    _check(bits, order)
    buf = np.asarray(data, dtype=np.uint8).reshape(-1)
    need = -(-count * bits // 8)
    if buf.size < need:
        raise FormatError(f"unpack: {count} codes of {bits} bits need {need} bytes, got {buf.size}")
    little = order == "lsb_first"
    bitorder = "little" if little else "big"
    stream = np.unpackbits(buf[:need], bitorder=bitorder)[: count * bits].reshape(count, bits)
    weights = (
        (1 << np.arange(bits, dtype=np.uint64))
        if little
        else (1 << np.arange(bits - 1, -1, -1, dtype=np.uint64))
    )
    return (stream.astype(np.uint64) @ weights).astype(code_dtype(bits))


def packed_bytes(count: int, bits: int) -> int:
    """Bytes ``pack`` produces for ``count`` codes of ``bits`` bits."""
    return -(-count * bits // 8)

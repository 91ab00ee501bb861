"""Cycle-level, bit-exact processing-element (PE) models.

>>> import hwsim.pe as pe
>>> unit = pe.get("int_mac", a_fmt="int8", w_fmt="int4", lanes=4)
>>> r = unit.dot([1, -2, 3, 4, 5], [7, -8, 1, 0, 2])
>>> (r.value, r.cycles)
(36, 2)
"""

from __future__ import annotations

from . import (  # noqa: F401  (registration side effect)
    bipolar,
    bitserial,
    dequant_mac,
    expint,
    fp_fma,
    int_mac,
    lut,
    mixpe,
    shiftadd,
)
from .base import REGISTRY, PEOverflowError, PEResult, ProcessingElement
from .operands import PEError


def kinds() -> list[str]:
    """Names of the available PE kinds."""
    return sorted(REGISTRY)


def get(kind: str, **params) -> ProcessingElement:
    """Build a PE model: `get("bitserial", scheme="booth", w_fmt="int4")`."""
    if kind not in REGISTRY:
        raise PEError(f"unknown PE kind {kind!r}; available: {', '.join(kinds())}")
    return REGISTRY[kind](**params)


__all__ = ["PEError", "PEOverflowError", "PEResult", "ProcessingElement", "get", "kinds"]

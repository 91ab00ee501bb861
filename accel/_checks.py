"""Argument checks shared by accel's configuration dataclasses."""

from __future__ import annotations

import numbers


def pos_int(name: str, v: object) -> int:
    """``v`` as a Python int if it is a positive integer (numpy integers too), else ValueError."""
    if isinstance(v, bool) or not isinstance(v, numbers.Integral) or v <= 0:
        raise ValueError(f"{name} must be a positive int, got {v!r}")
    return int(v)

"""Argument checks shared by accel's configuration dataclasses."""

from __future__ import annotations

import numbers


def pos_int(name: str, v: object, most: int | None = None) -> int:
    """``v`` as a Python int if it is a positive integer (numpy integers too) and at most
    ``most`` (when given), else ValueError naming ``name``."""
    if isinstance(v, bool) or not isinstance(v, numbers.Integral) or v <= 0:
        raise ValueError(f"{name} must be a positive int, got {v!r}")
    if most is not None and v > most:
        raise ValueError(f"{name} = {v} exceeds the simulator's limit of {most:,}")
    return int(v)  # numpy integers are accepted and stored as int

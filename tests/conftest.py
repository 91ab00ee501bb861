"""Shared test settings."""

import os
import zlib

from hypothesis import settings

settings.register_profile("ci", max_examples=60, deadline=None)
settings.register_profile("dev", max_examples=100, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


def stable_seed(name: str, modulo: int = 2**32) -> int:
    """A seed that is the same in every process (``hash(str)`` is salted per process)."""
    return zlib.crc32(str(name).encode()) % modulo

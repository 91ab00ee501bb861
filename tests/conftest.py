"""Shared test settings."""

import os
import zlib

import pytest
from hypothesis import settings

settings.register_profile("ci", max_examples=60, deadline=None)
settings.register_profile("dev", max_examples=100, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture(autouse=True, scope="session")
def _rtl_builds_in_tmp(tmp_path_factory):
    """RTL builds of the test session go to a temporary folder (not the user's cache)."""
    old = os.environ.get("HWSIM_RTL_BUILD")
    os.environ["HWSIM_RTL_BUILD"] = str(tmp_path_factory.mktemp("rtl_build"))
    yield
    if old is None:
        os.environ.pop("HWSIM_RTL_BUILD", None)
    else:
        os.environ["HWSIM_RTL_BUILD"] = old


def stable_seed(name: str, modulo: int = 2**32) -> int:
    """A seed that is the same in every process (``hash(str)`` is salted per process)."""
    return zlib.crc32(str(name).encode()) % modulo

"""hwsim.rtl generator modules: no import circle (each imports cleanly as the first module)."""

from __future__ import annotations

import subprocess
import sys

import pytest

MODULES = [
    "hwsim.rtl.emit_base",
    "hwsim.rtl.emit_int",
    "hwsim.rtl.emit_fp",
    "hwsim.rtl.emit_array",
    "hwsim.rtl.emit",
]


@pytest.mark.parametrize("mod", MODULES)
def test_generator_module_imports_first_in_a_fresh_interpreter(mod):
    code = f"import {mod}; import hwsim.rtl.emit as e; assert sorted(e.GENERATORS)"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]


def test_public_names_stay_importable_from_emit():
    from hwsim.rtl.emit import GENERATORS, Design, V, generate, module_name  # noqa: F401

    assert {"int_mac", "bipolar", "bitserial", "fp_fma", "mixpe"} <= set(GENERATORS)


def test_base_module_imports_no_generator():
    code = (
        "import sys, hwsim.rtl.emit_base; "
        "bad = [m for m in sys.modules if m.startswith('hwsim.rtl.emit') "
        "and m != 'hwsim.rtl.emit_base']; "
        "assert not bad, bad"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]

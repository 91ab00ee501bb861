"""`verilator --lint-only -Wall` on generated designs."""

from __future__ import annotations

import subprocess

from . import tools


def lint(design, folder=None) -> tuple[bool, str]:
    """Lint a generated `Design` in `folder` (default: a new `tools.run_dir`); (clean,
    verilator output)."""
    tools.setup_path()
    exe = tools.verilator_exe()
    if exe is None:
        raise RuntimeError(tools.missing("verilator") or "verilator missing")
    folder = folder or tools.run_dir(what="lint")
    src = design.write(folder)
    r = subprocess.run(
        [exe, "--lint-only", "-Wall", "--top-module", design.top, src],
        capture_output=True,
        text=True,
        timeout=120,
    )
    out = (r.stdout + r.stderr).strip()
    return r.returncode == 0 and "%Warning" not in out, out

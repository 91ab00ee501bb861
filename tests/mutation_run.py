"""Run pytest against a copy of the source tree (used by test_model_mutations.py).

Usage: ``python tests/mutation_run.py ROOT [pytest args...]``. ROOT is a copy of the repository
(hwsim/, formats/, pe/, accel/, rtl/, tests/, pyproject.toml). The editable install maps
``hwsim.formats`` -> ``<worktree>/formats`` etc.; a meta-path finder placed in front of it maps
the same package names to the copy instead, so the copy's (mutated) source is what runs.
"""

from __future__ import annotations

import importlib.abc
import importlib.util
import os
import sys

# Same mapping as [tool.setuptools] package-dir in pyproject.toml.
PACKAGE_DIRS = {
    "hwsim": "hwsim",
    "hwsim.formats": "formats",
    "hwsim.pe": "pe",
    "hwsim.accel": "accel",
    "hwsim.rtl": "rtl",
}


class CopyFinder(importlib.abc.MetaPathFinder):
    """Finds the top-level hwsim packages in ``root``; their subpackages follow __path__."""

    def __init__(self, root: str):
        self.root = os.path.abspath(root)

    def find_spec(self, fullname, path=None, target=None):
        folder = PACKAGE_DIRS.get(fullname)
        if folder is None:
            return None
        d = os.path.join(self.root, folder)
        return importlib.util.spec_from_file_location(
            fullname, os.path.join(d, "__init__.py"), submodule_search_locations=[d]
        )


def install(root: str) -> None:
    """Put the finder first on sys.meta_path (before the editable install's finder)."""
    if any(m == "hwsim" or m.startswith("hwsim.") for m in sys.modules):
        raise RuntimeError("hwsim was imported before the copy's finder was installed")
    sys.meta_path.insert(0, CopyFinder(root))


def main(argv: list[str]) -> int:
    root, args = argv[0], argv[1:]
    install(root)
    import hwsim.accel
    import hwsim.formats
    import hwsim.pe

    for mod in (hwsim, hwsim.formats, hwsim.pe, hwsim.accel):
        if not os.path.abspath(mod.__file__).startswith(os.path.abspath(root) + os.sep):
            print(f"mutation_run: {mod.__name__} imported from {mod.__file__}, not {root}")
            return 99
    import pytest

    return pytest.main(args)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

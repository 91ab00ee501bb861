"""The numba disk cache key covers every module a kernel inlines (issue 17, item 4)."""

import os
import shutil
import subprocess
import sys
import textwrap

from hwsim.formats import _block_kernels as BK
from hwsim.formats import _float_kernels as FK
from hwsim.formats import jitcache
from hwsim.pe import kernels as PK


def test_block_kernel_key_covers_the_inlined_float_kernels(tmp_path):
    """Pins: numba keyed _block_kernels' cache on that file alone, so after an edit of
    round_magnitude in _float_kernels.py the MX/NVFP4 kernels ran stale machine code."""
    srcs = jitcache.kernel_sources(BK.pow2_blocks.py_func)
    assert FK.__file__ in srcs and BK.__file__ in srcs
    assert jitcache.kernel_sources(PK.int_gemm.py_func) == (PK.__file__,)
    stamp = BK.pow2_blocks._cache._impl.locator.get_source_stamp()
    assert stamp == "hwsim-deps-" + jitcache.source_key(srcs)
    copies = []
    for p in srcs:
        copies.append(str(tmp_path / os.path.basename(p)))
        shutil.copy(p, copies[-1])
    assert jitcache.source_key(copies) == jitcache.source_key(srcs)
    fk_copy = tmp_path / "_float_kernels.py"
    text = fk_copy.read_text()
    # the ties-away mutant of round_magnitude, same length (a (mtime, size) stamp can miss it)
    mutant = text.replace("inc = np.int64(rem >= half)", "inc = np.int64(rem > half) ", 1)
    assert mutant != text and len(mutant) == len(text)
    fk_copy.write_text(mutant)
    assert jitcache.source_key(copies) != jitcache.source_key(srcs)


HELPER = """
from hwsim.formats.jitcache import njit_cached

@njit_cached(inline="always")
def bump(x):
    return x + {inc}
"""
KERNEL = """
import numba
from helper import bump
from hwsim.formats.jitcache import njit_cached

@njit_cached
def dep(x):
    return bump(x)

@numba.njit(cache=True)
def plain(x):
    return bump(x)

print(dep(1), plain(1))
"""


def test_editing_an_inlined_helper_recompiles_the_kernel(tmp_path):
    """End to end in fresh processes: edit the helper module only; the njit_cached kernel
    returns the new result from a warm cache, numba's cache=True kernel the stale one."""
    (tmp_path / "kernel.py").write_text(textwrap.dedent(KERNEL))
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path / "cache"), "PYTHONPATH": str(tmp_path)}

    def run(inc):
        (tmp_path / "helper.py").write_text(textwrap.dedent(HELPER.format(inc=inc)))
        out = subprocess.run(
            [sys.executable, str(tmp_path / "kernel.py")], env=env, capture_output=True, text=True
        )
        assert out.returncode == 0, out.stderr
        return out.stdout.split()

    assert run(1) == ["2", "2"]
    dep, plain = run(2)
    assert dep == "3"
    assert plain in ("2", "3")  # numba's own cache: stale "2" with numba <= 0.68

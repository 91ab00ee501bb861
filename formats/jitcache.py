"""``njit_cached``: numba's on-disk cache, keyed on every source file a kernel compiles in.

numba's own cache (``cache=True``) checks only the file that defines a function (and the
function's bytecode): a kernel that inlines or calls a jitted helper from another module
keeps loading the old machine code after that helper's module is edited. ``njit_cached``
replaces the freshness stamp of the cache index with a SHA-256 over the defining file plus
the files of every jitted function reachable from its globals (directly, or as attributes of
an imported module), transitively; any edit to any of them discards the cached code.
Everything else (cache directory, file names, signature keys) is numba's.
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import os
import types
from collections.abc import Callable, Iterable

import numba
from numba.core.caching import (
    CompileResultCacheImpl,
    FunctionCache,
    _CacheLocator,
)
from numba.core.dispatcher import Dispatcher


def _jitted_in(value) -> list[Dispatcher]:
    """Jitted functions a kernel can reach through the global ``value``."""
    if isinstance(value, Dispatcher):
        return [value]
    if isinstance(value, types.ModuleType) and not value.__name__.startswith(("numba", "numpy")):
        return [v for v in vars(value).values() if isinstance(v, Dispatcher)]
    return []


def kernel_sources(py_func: Callable) -> tuple[str, ...]:
    """Sorted source files of ``py_func`` and of every jitted function it can reach."""
    seen_files: set[str] = set()
    seen_funcs: set[int] = set()
    todo = [py_func]
    while todo:
        fn = todo.pop()
        if id(fn) in seen_funcs:
            continue
        seen_funcs.add(id(fn))
        seen_files.add(inspect.getfile(fn))
        for value in list(fn.__globals__.values()):
            todo.extend(d.py_func for d in _jitted_in(value))
    return tuple(sorted(seen_files))


@functools.lru_cache(maxsize=256)
def _file_digest(path: str, mtime_ns: int, size: int) -> bytes:
    """SHA-256 of one file; (mtime, size) are part of the memo key so edits are re-read."""
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).digest()


def source_key(paths: Iterable[str]) -> str:
    """SHA-256 (hex) over the contents of the files ``paths``, in the given order."""
    h = hashlib.sha256()
    for p in paths:
        st = os.stat(p)
        h.update(_file_digest(p, st.st_mtime_ns, st.st_size))
    return h.hexdigest()


class _DependencyLocator(_CacheLocator):
    """numba's chosen locator, with the source stamp replaced by ``source_key``."""

    def __init__(self, inner: _CacheLocator, py_func: Callable):
        self._inner = inner
        self._py_func = py_func

    def ensure_cache_path(self):
        self._inner.ensure_cache_path()

    def get_cache_path(self):
        return self._inner.get_cache_path()

    def get_disambiguator(self):
        return self._inner.get_disambiguator()

    def get_source_stamp(self):
        return "hwsim-deps-" + source_key(kernel_sources(self._py_func))


class _DependencyCacheImpl(CompileResultCacheImpl):
    def __init__(self, py_func):
        super().__init__(py_func)
        self._locator = _DependencyLocator(self._locator, py_func)


class DependencyFunctionCache(FunctionCache):
    """numba ``FunctionCache`` whose index is invalidated by any edit to a dependency."""

    _impl_class = _DependencyCacheImpl


def njit_cached(fn: Callable | None = None, **options):
    """``numba.njit(**options)`` with a dependency-aware on-disk cache (use instead of
    ``cache=True``; the stamp is computed once, when the kernel is defined, after the
    modules it imports have loaded)."""
    if "cache" in options:
        raise TypeError("njit_cached always caches; do not pass cache=")

    def wrap(f):
        disp = numba.njit(**options)(f)
        disp._cache = DependencyFunctionCache(f)  # what Dispatcher.enable_caching() sets
        return disp

    return wrap if fn is None else wrap(fn)

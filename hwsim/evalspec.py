"""Evaluator parameter schemas: which point keys an evaluator accepts, their types, defaults.

A study point is checked against its evaluator's schema before anything runs, so a typo in a
study file (``dram_bandwith``, ``weight_formt``) is an error with a "did you mean" suggestion
instead of a silently used default, and a string where a number belongs is caught up front.
"""

from __future__ import annotations

import difflib
import importlib.util
import json
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass

REQUIRED = object()  # sentinel: the parameter has no default

# kind -> check(value) returning an error text or None. Name kinds ("format", "pe", "design",
# "model") are checked against the library's registries; "none" / "" mean "not given".
_NONE = (None, "", "none")


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_num(v) -> bool:
    return (isinstance(v, int | float)) and not isinstance(v, bool)


def _check_format(v):
    if v in _NONE or v == "fp64":
        return None
    if not isinstance(v, str):
        return f"must be a format name (string), got {v!r}"
    import hwsim.formats as F

    try:
        F.get(v)
    except (ValueError, KeyError) as exc:
        return str(exc)
    return None


def _check_formats(v):
    items = v.split(",") if isinstance(v, str) else v
    if not isinstance(items, list) or not items:
        return f"must be a list of format names or a comma-separated string, got {v!r}"
    for item in items:
        err = _check_format(str(item).strip())
        if err:
            return err
    return None


def _check_pe(v):
    if v in _NONE:
        return None
    import hwsim.pe

    if v not in hwsim.pe.kinds():
        close = difflib.get_close_matches(str(v), hwsim.pe.kinds(), n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        return f"unknown PE kind {v!r}{hint} (known: {', '.join(hwsim.pe.kinds())})"
    return None


def _check_table(v):
    if v in _NONE or isinstance(v, dict):
        return None
    if isinstance(v, str):
        try:
            if isinstance(json.loads(v), dict):
                return None
        except json.JSONDecodeError:
            pass
    return f"must be a table or a JSON object string, got {v!r}"


def _check_name_in(names: Callable[[], Iterable[str]], what: str):
    def check(v):
        if v in _NONE:
            return None
        known = list(names())
        if v not in known:
            close = difflib.get_close_matches(str(v), known, n=3)
            hint = f"; did you mean {', '.join(close)}?" if close else ""
            return f"unknown {what} {v!r}{hint}"
        return None

    return check


def _designs():
    from hwsim.evaluators import LLM_DESIGNS

    return LLM_DESIGNS


def _models():
    import hwsim.workloads

    return hwsim.workloads.names()


KINDS: dict[str, Callable[[object], str | None]] = {
    "int": lambda v: None if _is_int(v) else f"must be an integer, got {v!r}",
    "float": lambda v: None if _is_num(v) else f"must be a number, got {v!r}",
    "float?": lambda v: None if v in _NONE or _is_num(v) else f"must be a number, got {v!r}",
    "bool": lambda v: None if isinstance(v, bool) else f"must be true or false, got {v!r}",
    "str": lambda v: None if isinstance(v, str) else f"must be a string, got {v!r}",
    "format": _check_format,
    "formats": _check_formats,
    "pe": _check_pe,
    "pe|auto": lambda v: None if v == "auto" else _check_pe(v),
    "table": _check_table,
    "design": _check_name_in(_designs, "design"),
    "model": _check_name_in(_models, "model"),
}


@dataclass(frozen=True)
class Param:
    """One point key an evaluator reads: its kind (a key of ``KINDS``), default and meaning.

    choices: if given, the only allowed values (besides the kind's check)."""

    name: str
    kind: str
    default: object = REQUIRED
    help: str = ""
    choices: tuple = ()

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(
                f"param {self.name!r}: unknown kind {self.kind!r}; use {sorted(KINDS)}"
            )

    @property
    def required(self) -> bool:
        return self.default is REQUIRED

    def check(self, value) -> str | None:
        """An error text for ``value``, or None when it is acceptable."""
        if self.choices and value not in self.choices:
            close = difflib.get_close_matches(str(value), [str(c) for c in self.choices], n=3)
            hint = f"; did you mean {', '.join(close)}?" if close else ""
            return f"must be one of {list(self.choices)}, got {value!r}{hint}"
        return KINDS[self.kind](value)


@dataclass(frozen=True)
class Evaluator:
    """A named evaluator: ``fn(point) -> metrics``, the keys it accepts and its version.

    version: bump it whenever ``fn``'s results change, so stored points are recomputed.
    requires: (module names, install command) of an optional extra it needs, or None.
    """

    name: str
    fn: Callable[[dict], dict]
    params: tuple[Param, ...]
    version: str = "1"
    requires: tuple[tuple[str, ...], str] | None = None

    def param(self, name: str) -> Param | None:
        return next((p for p in self.params if p.name == name), None)

    def check_keys(self, keys: Iterable[str], where: str = "study") -> None:
        """Unknown keys (with a "did you mean") and missing required ones -> ValueError."""
        keys = set(keys)
        known = [p.name for p in self.params]
        errors = []
        for k in sorted(keys - set(known)):
            close = difflib.get_close_matches(k, known, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            errors.append(f"unknown parameter {k!r}{hint}")
        missing = [p.name for p in self.params if p.required and p.name not in keys]
        if missing:
            errors.append(f"missing required parameter(s) {missing}")
        if errors:
            raise ValueError(
                f"{where}: evaluator {self.name!r}: {'; '.join(errors)}; "
                f"it accepts: {', '.join(known)}"
            )

    def check_values(self, values: dict[str, Iterable], where: str = "study") -> None:
        """Every value of every key (key -> candidate values) passes its kind/choices check."""
        errors = []
        for key, vals in values.items():
            p = self.param(key)
            if p is None:
                continue
            seen = []
            for v in vals:
                if v in seen:
                    continue
                seen.append(v)
                err = p.check(v)
                if err:
                    errors.append(f"{key} = {v!r}: {err}")
        if errors:
            raise ValueError(f"{where}: evaluator {self.name!r}: {'; '.join(errors)}")

    def check_requirements(self) -> None:
        """Raise ValueError naming the install command if an optional module is missing."""
        if self.requires is None:
            return
        modules, install = self.requires
        missing = [m for m in modules if not _importable(m)]
        if missing:
            raise ValueError(
                f"evaluator {self.name!r} needs the optional module(s) {', '.join(missing)}; "
                f"install them with: {install}"
            )

    def describe(self) -> str:
        """One line per parameter: name, kind, default, help."""
        out = []
        for p in self.params:
            d = "required" if p.required else f"default {p.default!r}"
            out.append(f"{p.name} ({p.kind}, {d}): {p.help}")
        return "\n".join(out)


def _importable(module: str) -> bool:
    if module in sys.modules:
        return sys.modules[module] is not None  # None: import explicitly blocked
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False

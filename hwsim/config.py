"""Accelerator and workload configuration from TOML, validated with messages naming the key.

Example (see studies/configs/*.toml)::

    [accelerator]
    rows = 32
    cols = 32
    pe = "int_mac"
    dataflow = "os"
    [accelerator.pe_params]      # passed to hwsim.pe.get(pe, **pe_params)
    [formats]                    # bits per element or hwsim.formats names
    act = "int8"
    weight = "int4"
    out = "int8"
    [sram]                       # bytes
    act_bytes = 262144
    weight_bytes = 131072
    out_bytes = 131072
    accumulator_bytes = 65536    # optional accumulator buffer (partial sums, accumulator width)
    [dram]
    bandwidth_bytes_per_cycle = 64   # omit for unlimited
    latency_cycles = 100
    [workload]                   # one of: model (+ phase, seq_len, batch), gemm = [M, N, K],
    model = "llama2-7b"          #   layers = "file.toml" (relative to this file)
    phase = "prefill"
    seq_len = 2048
    [mapping]                    # optional (hwsim.simulate's mapping and objective)
    mode = "optimal"             # or "scalesim"
    objective = "latency"        # latency | energy | edp
    prefetch_next_layer = false  # fetch the next layer's first weight tile during this one
    [mapping.layers."L0.q_proj"] # optional pinned loop nests: SRAM tile and DRAM order
    tiles = { M = 256, N = 128, K = 4096 }
    order = ["M", "N", "K", "B"]
    [layer_formats]              # optional per-layer storage formats
    "L0.q_proj" = "int4"         # a weight format, or a table {weight = ..., act = ...}

``[accelerator]`` also takes ``array`` ("systolic" | "tensor_core"), ``preload_overlap`` and
``preload_rows_per_cycle``; ``[formats]`` ``kv`` (the KV cache); ``[sram]`` ``kv_bytes``.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

from hwsim.accel import Accelerator, systolic
from hwsim.workloads import Workload, gemm, get, load_toml

_SECTIONS = {
    "accelerator": {
        "rows",
        "cols",
        "pe",
        "dataflow",
        "pe_params",
        "freq_hz",
        "max_tiles",
        "name",
        "array",
        "preload_overlap",
        "preload_rows_per_cycle",
    },
    "formats": {"act", "weight", "out", "kv"},
    "sram": {
        "act_bytes",
        "weight_bytes",
        "out_bytes",
        "kv_bytes",
        "accumulator_bytes",
        "banks",
        "ports",
        "width_bits",
        "double_buffered",
    },
    "dram": {"bandwidth_bytes_per_cycle", "latency_cycles", "channels", "dma_engines", "spec"},
    "workload": {"model", "phase", "seq_len", "batch", "gemm", "layers", "name"},
    "mapping": {"mode", "objective", "layers", "prefetch_next_layer"},
}
_FREE_SECTIONS = {"layer_formats"}  # keys are layer names
_SRAM_ARGS = {
    "act_bytes": "act_sram_bytes",
    "weight_bytes": "weight_sram_bytes",
    "out_bytes": "out_sram_bytes",
    "kv_bytes": "kv_sram_bytes",
    "accumulator_bytes": "accumulator_bytes",
    "banks": "sram_banks",
    "ports": "sram_ports",
    "width_bits": "sram_width_bits",
    "double_buffered": "double_buffered",
}
_DRAM_ARGS = {
    "bandwidth_bytes_per_cycle": "dram_bw",
    "latency_cycles": "dram_latency",
    "channels": "dram_channels",
    "dma_engines": "dma_engines",
    "spec": "dram_spec",
}


def _check_keys(data: dict, where: str) -> None:
    unknown = sorted(set(data) - set(_SECTIONS) - _FREE_SECTIONS)
    if unknown:
        raise ValueError(f"{where}: unknown section(s) {unknown}; allowed: {sorted(_SECTIONS)}")
    for sec, keys in _SECTIONS.items():
        got = data.get(sec, {})
        if not isinstance(got, dict):
            raise ValueError(f"{where}: [{sec}] must be a table")
        bad = sorted(set(got) - keys)
        if bad:
            raise ValueError(f"{where}: unknown key(s) {bad} in [{sec}]; allowed: {sorted(keys)}")


def accelerator_from_dict(data: dict, where: str = "config") -> Accelerator:
    """Build an :class:`Accelerator` from parsed TOML sections."""
    _check_keys(data, where)
    a = dict(data.get("accelerator", {}))
    for req in ("rows", "cols"):
        if req not in a:
            raise ValueError(f"{where}: [accelerator] needs {req!r}")
    if not isinstance(a.get("pe_params", {}), dict):
        raise ValueError(f"{where}: [accelerator.pe_params] must be a table")
    kw = {"pe_params": a.pop("pe_params", None)}
    given = ("pe", "dataflow", "freq_hz", "max_tiles", "name", "array", "preload_overlap",
             "preload_rows_per_cycle")  # fmt: skip
    kw.update({k: a[k] for k in given if k in a})
    kw.update({f"{k}_fmt": v for k, v in data.get("formats", {}).items()})
    kw.update({_SRAM_ARGS[k]: v for k, v in data.get("sram", {}).items()})
    kw.update({_DRAM_ARGS[k]: v for k, v in data.get("dram", {}).items()})
    try:
        return systolic(a["rows"], a["cols"], **kw)
    except ValueError as exc:
        raise ValueError(f"{where}: {exc}") from None


def workload_from_dict(section: dict, base: Path | None = None, where: str = "config") -> Workload:
    """Build the workload named in a [workload] section (exactly one of model, gemm, layers)."""
    try:
        return _workload(section, base, where)
    except ValueError as exc:
        msg = str(exc)
        raise ValueError(msg if msg.startswith(where) else f"{where}: {msg}") from None


def _workload(section: dict, base: Path | None, where: str) -> Workload:
    given = [k for k in ("model", "gemm", "layers") if k in section]
    if len(given) != 1:
        raise ValueError(
            f"{where}: [workload] needs exactly one of model, gemm, layers; got {given}"
        )
    for key in ("model", "phase", "name", "layers"):
        if key in section and not isinstance(section[key], str):
            raise ValueError(f"[workload] {key} must be a string, got {section[key]!r}")
    if "gemm" in section:
        g = section["gemm"]
        if not (isinstance(g, list) and len(g) == 3):
            raise ValueError(f"{where}: [workload] gemm must be [M, N, K], got {g!r}")
        return gemm(*g, name=section.get("name"))
    if "layers" in section:
        path = Path(section["layers"])
        return load_toml(path if path.is_absolute() or base is None else base / path)
    kw = {k: section[k] for k in ("phase", "seq_len", "batch") if k in section}
    return get(section["model"], **kw)


def _read_toml(path: Path) -> dict:
    with path.open("rb") as f:
        try:
            return tomllib.load(f)
        except tomllib.TOMLDecodeError as exc:
            raise ValueError(f"{path}: invalid TOML: {exc}") from None


def _from_data(data: dict, path: Path) -> tuple[Accelerator, Workload | None]:
    acc = accelerator_from_dict(data, str(path))
    wl = data.get("workload")
    return acc, (workload_from_dict(wl, path.parent, str(path)) if wl else None)


def load_config(path: str | Path) -> tuple[Accelerator, Workload | None]:
    """(accelerator, workload or None) from a TOML file."""
    path = Path(path)
    return _from_data(_read_toml(path), path)


def simulate_options(data: dict, where: str = "config") -> dict:
    """Keyword arguments of ``hwsim.simulate`` from the [mapping] and [layer_formats] sections:
    ``mapping`` ("optimal", "scalesim" or {layer: pinned}), ``objective``,
    ``prefetch_next_layer``, ``layer_formats``."""
    m = data.get("mapping", {})
    out: dict = {}
    mode = m.get("mode", "optimal")
    if mode not in ("optimal", "scalesim"):
        raise ValueError(f"{where}: [mapping] mode must be 'optimal' or 'scalesim', got {mode!r}")
    pinned = m.get("layers", {})
    if not isinstance(pinned, dict) or not all(isinstance(v, dict) for v in pinned.values()):
        raise ValueError(f"{where}: [mapping.layers] must hold one table per layer name")
    if pinned and mode == "scalesim":
        raise ValueError(f"{where}: pinned [mapping.layers] need mode = 'optimal'")
    out["mapping"] = dict(pinned) if pinned else mode
    if "objective" in m:
        out["objective"] = m["objective"]
    if "prefetch_next_layer" in m:
        out["prefetch_next_layer"] = m["prefetch_next_layer"]
    fmts = data.get("layer_formats")
    if fmts is not None:
        if not isinstance(fmts, dict):
            raise ValueError(f"{where}: [layer_formats] must be a table")
        out["layer_formats"] = dict(fmts)
    return out


def load_simulation(path: str | Path) -> tuple[Accelerator, Workload | None, dict]:
    """(accelerator, workload or None, ``hwsim.simulate`` keyword options) from a TOML file."""
    path = Path(path)
    data = _read_toml(path)
    return (*_from_data(data, path), simulate_options(data, str(path)))


def load_accelerator(path: str | Path) -> Accelerator:
    """The accelerator of a TOML config file."""
    return load_config(path)[0]

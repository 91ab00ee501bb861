"""Study 3: per-layer weight formats chosen by ILP under a memory budget, then measured.

For all-MiniLM-L6-v2 (the optional ``minilm`` extra) every linear layer l and candidate
format f gets
  * an error cost: the embedding-fidelity drop 1 - cos when only layer l is quantized to f
    (``hwsim.accuracy.minilm.layer_sensitivity``; summing drops over layers is an additive
    approximation, which is why each allocation is then evaluated for real),
  * a memory cost: the layer's weight storage in bits (elements, block scales included:
    ``hwsim.formats`` storage accounting, blocks along the input dimension),
  * for reporting only, the MAC energy per token: MACs x the MAC energy of (f, act_format)
    from the 45 nm cost model (``hwsim.evaluators.mac_cost``; approximate; NaN where that
    model has no figure, e.g. INT weights x FP activations).
``allocate(...)`` solves min sum(drop) s.t. sum(memory) <= budget (PuLP/CBC,
``hwsim.accel.mapping.allocate_precision_min_error``); ``mixed_precision(point)`` is the
study evaluator: the ILP's allocation (or one uniform format) evaluated end to end with
``embedding_fidelity(layer_formats=...)``.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import pandas as pd


def _formats(value) -> tuple[str, ...]:
    """A format list from a TOML list or a comma-separated string."""
    items = value.split(",") if isinstance(value, str) else list(value)
    out = tuple(s.strip() for s in items if str(s).strip())
    if not out:
        raise ValueError("mixed precision needs at least one candidate format")
    return out


def weight_bits(fmt: str, n: int, k: int) -> float:
    """Storage bits of an n x k weight (output x input) in ``fmt``, blocks along k (bits)."""
    import hwsim.formats as F

    f = F.get(fmt)
    if getattr(f, "is_block", False):
        return float(f.storage_bits((n, k), axis=-1))
    return float(f.bits) * n * k


def _texts(n_texts) -> tuple[str, ...]:
    from hwsim.accuracy.minilm import TEXTS

    if n_texts is None:
        return tuple(TEXTS)
    n = int(n_texts)
    if not 1 <= n <= len(TEXTS):
        raise ValueError(f"texts must be 1..{len(TEXTS)} (the fixed MiniLM text set), got {n}")
    return tuple(TEXTS[:n])


@lru_cache(maxsize=8)
def layer_table(
    formats: tuple[str, ...], act_format: str | None, texts: tuple[str, ...] | None = None
) -> pd.DataFrame:
    """Long table (layer, format, k, n, weight_elements, drop, memory_bits, energy_pj) for
    the 36 MiniLM linear layers; energy is per token (pJ). ``texts``: default the fixed set."""
    from hwsim.accuracy.minilm import layer_sensitivity
    from hwsim.evaluators import mac_cost

    texts = texts or _texts(None)
    parts = []
    for fmt in formats:
        df = layer_sensitivity(fmt, act_format, texts=texts)
        df["format"] = fmt
        df["memory_bits"] = [weight_bits(fmt, n, k) for n, k in zip(df.n, df.k, strict=True)]
        try:
            pj = mac_cost(fmt, act_format or "fp16")["mac_energy_pj"]
        except ValueError:
            pj = float("nan")
        df["energy_pj"] = df.weight_elements * pj
        parts.append(df)
    return pd.concat(parts, ignore_index=True)


def _problem(table: pd.DataFrame, formats: tuple[str, ...]):
    from hwsim.accel.mapping import PrecisionProblem

    layers = list(dict.fromkeys(table.layer))

    def wide(col):
        return table.pivot(index="layer", columns="format", values=col).loc[layers, list(formats)]

    return PrecisionProblem(
        layers=tuple(layers),
        formats=formats,
        error=np.maximum(wide("drop").to_numpy(), 0.0),  # a negative drop is noise: no gain
        sensitivity=np.ones(len(layers)),
        memory_bits=wide("memory_bits").to_numpy(),
    )


def allocate(formats, budget_bits_per_weight: float, act_format: str | None = None, texts=None):
    """ILP allocation of MiniLM weight formats with at most ``budget_bits_per_weight`` bits
    per weight on average (block scales included). Returns ``PrecisionResult``."""
    from hwsim.accel.mapping import allocate_precision_min_error

    formats = _formats(formats)
    table = layer_table(formats, act_format, texts)
    elements = table.drop_duplicates("layer").weight_elements.sum()
    return allocate_precision_min_error(
        _problem(table, formats), memory_budget_bits=float(budget_bits_per_weight) * elements
    )


def mixed_precision(point: dict) -> dict:
    """Study evaluator. point: strategy ("ilp" | "uniform"), formats (candidates), budget
    (ILP: average bits per weight), format (uniform), act_format (None = full precision),
    texts (how many of the fixed MiniLM texts, default all 16).

    Returns the measured cosine (``embedding_fidelity``), the predicted cosine (1 - summed
    per-layer drops), average weight bits, weight memory (MiB), MAC energy per token (pJ,
    approximate) and the allocation (formats and per-format layer counts)."""
    from hwsim.accuracy.minilm import embedding_fidelity

    formats = _formats(point.get("formats", "int8,int4_g128"))
    act = point.get("act_format") or None
    act = None if act in ("none", "fp64") else act
    texts = _texts(point.get("texts"))
    table = layer_table(formats, act, texts)
    strategy = point.get("strategy", "ilp")
    if strategy == "ilp":
        res = allocate(formats, float(point["budget"]), act, texts)
        if res.status not in ("optimal", "feasible"):
            raise ValueError(f"budget {point['budget']} bits/weight: {res.status} ({res.reason})")
        choice = dict(res.choice)
    elif strategy == "uniform":
        fmt = point["format"]
        if fmt not in formats:
            raise ValueError(f"uniform format {fmt!r} is not among the candidates {formats}")
        choice = {layer: fmt for layer in dict.fromkeys(table.layer)}
    else:
        raise ValueError(f"strategy must be 'ilp' or 'uniform', got {strategy!r}")
    rows = table.set_index(["layer", "format"]).loc[list(choice.items())]
    elements = float(rows.weight_elements.sum())
    cos = embedding_fidelity(
        None, act, texts=texts, layer_formats={k: (v, act) for k, v in choice.items()}
    )
    label = f"ILP <= {float(point['budget']):g} b" if strategy == "ilp" else f"all {fmt}"
    out = {
        "label": label,
        "cosine": cos,
        "predicted_cosine": 1.0 - float(np.maximum(rows["drop"], 0.0).sum()),
        "bits_per_weight": float(rows.memory_bits.sum()) / elements,
        "weight_mib": float(rows.memory_bits.sum()) / 8 / 2**20,
        "mac_energy_pj_per_token": float(rows.energy_pj.sum()),
        "allocation": ";".join(f"{k}={v}" for k, v in choice.items()),
    }
    for fmt in formats:
        out[f"layers_{fmt}"] = sum(v == fmt for v in choice.values())
    return out

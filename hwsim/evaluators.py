"""Named evaluators for sweeps: ``point (dict) -> metrics (dict)``, importable by workers."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


def format_error(point: dict) -> dict:
    """Quantization error of one format on a synthetic distribution.

    point: format, distribution (gaussian | laplace | student_t), rows, cols, seed.
    """
    import hwsim.formats as F
    from hwsim.metrics import kl_divergence, mse, sqnr_db, synthetic

    shape = (int(point.get("rows", 64)), int(point.get("cols", 1024)))
    w = synthetic(point["distribution"], shape, int(point.get("seed", 0)))
    fmt = F.get(point["format"])
    block = getattr(fmt, "is_block", False)
    q = fmt.quantize(w, axis=-1) if block else fmt.quantize(w)
    bits = fmt.storage_bits(shape, axis=-1) / w.size if block else float(fmt.bits)
    return {
        "bits_per_element": bits,
        "mse": mse(w, q),
        "sqnr_db": sqnr_db(w, q),
        "kl": kl_divergence(w, q),
    }


def digits_accuracy(point: dict) -> dict:
    """Top-1 accuracy of the digits MLP with weight_format / act_format (None = full)."""
    from hwsim.accuracy import evaluate_digits, train_digits_mlp

    model = train_digits_mlp(seed=int(point.get("seed", 0)))
    acc = evaluate_digits(model, _none(point.get("weight_format")), _none(point.get("act_format")))
    return {"accuracy": acc}


def minilm_fidelity(point: dict) -> dict:
    """Mean cosine of quantized to full-precision MiniLM embeddings (optional extra)."""
    from hwsim.accuracy.minilm import embedding_fidelity

    cos = embedding_fidelity(
        _none(point.get("weight_format")),
        _none(point.get("act_format")),
        bool(point.get("attention", False)),
    )
    return {"cosine": cos}


def _none(v):
    return None if v in (None, "", "none", "fp64") else v


def _selftest(point: dict) -> dict:
    """Cheap deterministic evaluator for tests of the sweep machinery."""
    x = float(point["x"])
    if x < 0:
        raise ValueError("negative x")
    return {"y": x * x, "pid": int(np.int64(point.get("k", 0)))}


EVALUATORS: dict[str, Callable[[dict], dict]] = {
    "format_error": format_error,
    "digits_accuracy": digits_accuracy,
    "minilm_fidelity": minilm_fidelity,
    "selftest": _selftest,
}


def get_evaluator(name: str) -> Callable[[dict], dict]:
    if name not in EVALUATORS:
        raise ValueError(f"unknown evaluator {name!r}; available: {', '.join(sorted(EVALUATORS))}")
    return EVALUATORS[name]

"""Quantization methods of the LLM evaluation: names, which formats each needs, and applying
one to loaded weights (pure: new weights and the forward's ``Online`` part, the input kept).

- None: round to nearest with the formats.
- "smoothquant" (``smoothquant``), "awq" (``awq``), "clip" (``clip``), "gptq" (``gptq``):
  calibrated on the held-out calibration text (``calibrate.calibration_stats``).
- "hadamard" (``hadamard``): QuaRot-style rotation, no calibration.
- "llm_int8" (``outlier``): the LLM.int8 outlier split at run time, no calibration.
"""

from __future__ import annotations

from . import awq, clip, gptq, hadamard, smoothquant
from .calibrate import DEFAULT_TOKENS, calibration_stats
from .loader import LlamaWeights
from .model import Online, QuantSpec, resolve_format
from .outlier import THRESHOLD

METHODS = (None, "smoothquant", "hadamard", "gptq", "awq", "clip", "llm_int8")
# method -> the QuantSpec field it needs (a method that has nothing to act on is an error)
NEEDS = {"gptq": "weight_fmt", "awq": "weight_fmt", "clip": "weight_fmt", "llm_int8": "act_fmt"}
CALIBRATED = ("smoothquant", "gptq", "awq", "clip")
PARAMS = {
    None: (),
    "smoothquant": ("alpha",),
    "hadamard": ("seed",),
    "gptq": ("damp", "block"),
    "awq": ("grid",),
    "clip": ("ratios",),
    "llm_int8": ("threshold",),
}


def check_method(method, quant: QuantSpec | None = None, params=None) -> None:
    """ValueError for an unknown method, a format combination it cannot act on, or a
    parameter it does not take."""
    if method not in METHODS:
        raise ValueError(
            f"unknown method {method!r}; methods: None, " + ", ".join(repr(m) for m in METHODS[1:])
        )
    bad = sorted(set(params or {}) - set(PARAMS[method]))
    if bad:
        raise ValueError(
            f"method {method!r} takes no parameter {', '.join(bad)}; "
            f"parameters: {', '.join(PARAMS[method]) or 'none'}"
        )
    if quant is None:
        return
    need = NEEDS.get(method)
    if need and resolve_format(getattr(quant, need)) is None:
        raise ValueError(f"method {method!r} needs {need} (it quantizes nothing otherwise)")
    if method == "llm_int8" and quant.pe is not None:
        raise ValueError("method 'llm_int8' runs on the float path only (pe=None)")


def apply_method(
    weights: LlamaWeights,
    quant: QuantSpec,
    method,
    params=None,
    *,
    model: str = "smollm2-135m",
    calib_tokens: int = DEFAULT_TOKENS,
    stats=None,
) -> tuple[LlamaWeights, Online]:
    """(weights, Online) of ``method`` on ``weights`` (``stats``: calibration statistics to
    use instead of ``calibration_stats(model, calib_tokens)``, e.g. of a truncated model)."""
    check_method(method, quant, params)
    p = dict(params or {})
    if method is None:
        return weights, Online()
    if method == "hadamard":
        return hadamard.apply(weights, **p)
    if method == "llm_int8":
        return weights, Online(outlier_threshold=float(p.get("threshold", THRESHOLD)))
    if stats is None:
        stats = calibration_stats(model, calib_tokens)
    wfmt = resolve_format(quant.weight_fmt)
    if method == "smoothquant":
        return smoothquant.apply(weights, stats, **p), Online()
    if method == "awq":
        return awq.apply(weights, wfmt, stats, **p), Online()
    if method == "clip":
        return clip.apply(weights, wfmt, stats, **p), Online()
    new, ops = gptq.apply(weights, wfmt, stats, **p)
    return new, Online(quantized=ops)

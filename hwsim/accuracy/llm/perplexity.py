"""Perplexity of the causal LM on the fixed offline text (``text.eval_text``).

Windows: the first ``tokens`` tokens of the text are cut into consecutive non-overlapping
windows of ``window`` tokens (the last may be shorter); each window is evaluated from an
empty context, and every token but its first is predicted. Perplexity = exp(mean negative
log-likelihood) over those ``tokens - number of windows`` predictions. No BOS token.
Deterministic: no sampling, fixed text, fixed windows.
"""

from __future__ import annotations

import math
import platform
import time
from dataclasses import asdict, dataclass

import numpy as np

from ..qgemm import QGemmError, exact_gemm, pe_plan, select_layers
from .calibrate import DEFAULT_TOKENS
from .loader import check_model, gguf_path, load_model
from .methods import apply_method, check_method
from .model import Llama, QuantSpec, resolve_format, token_nll
from .text import eval_text, sha256
from .tokenizer import encode

DEFAULT_WINDOW = 512  # tokens per window (the reference notes' measured setup)
REFERENCES = ("float32", "exact")  # GEMM of quantized layers off the PE (evaluate)
BATCH_WINDOWS = 4  # windows run through the model together (bounds memory, ~40 MB scores)


@dataclass(frozen=True)
class PerplexityResult:
    """Perplexity and what it was computed on (python: the version whose pydoc text was
    used; seconds: wall time of the forward passes, without loading; method_seconds: wall
    time of applying the method, calibration included)."""

    model: str
    perplexity: float
    nll: float
    predictions: int
    tokens: int
    window: int
    weight_fmt: str | None
    act_fmt: str | None
    kv_fmt: str | None
    method: str | None
    method_params: str
    pe: str | None
    python: str
    text_sha256: str
    seconds: float
    method_seconds: float = 0.0
    k_fmt: str | None = None
    v_fmt: str | None = None
    k_axis: str = "head_dim"
    v_axis: str = "head_dim"
    score_fmt: str | None = None
    prob_fmt: str | None = None

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class _Args:
    tokens: int
    window: int


def _check_sizes(tokens, window, available: int) -> _Args:
    for name, v in (("tokens", tokens), ("window", window)):
        if isinstance(v, bool) or not isinstance(v, int | np.integer) or v < 2:
            raise ValueError(f"{name} must be an integer >= 2, got {v!r}")
    if tokens > available:
        raise ValueError(f"tokens={tokens} exceeds the {available} tokens of the evaluation text")
    return _Args(int(tokens), int(window))


def evaluate(
    model: str = "smollm2-135m",
    *,
    tokens: int = 2048,
    weight_fmt=None,
    act_fmt=None,
    kv_fmt=None,
    method=None,
    window: int = DEFAULT_WINDOW,
    pe=None,
    pe_params=None,
    pe_layers=None,
    reference: str = "float32",
    check_text: bool = True,
    rope=None,
    method_params=None,
    calib_tokens: int = DEFAULT_TOKENS,
    k_fmt=None,
    v_fmt=None,
    k_axis: str = "head_dim",
    v_axis: str = "head_dim",
    score_fmt=None,
    prob_fmt=None,
) -> PerplexityResult:
    """Perplexity with everything it depends on (see the module docstring; formats and
    ``pe`` as in ``model.QuantSpec``; ``method`` and its ``method_params`` (a dict) as in
    ``methods``, calibrated on ``calib_tokens`` calibration tokens; ``rope``: override the
    RoPE function, for tests).

    KV cache and attention: ``kv_fmt`` stores K and V, ``k_fmt`` / ``v_fmt`` override it for
    one of them, ``k_axis`` / ``v_axis`` ("head_dim" or "tokens") choose the blocks,
    ``score_fmt`` / ``prob_fmt`` quantize the attention scores / probabilities
    (``model`` module docstring).

    PE datapaths: ``pe`` (a PE kind, (kind, params), or a per-layer {glob: pe} mapping,
    ``hwsim.accuracy.qgemm.pe_plan``) runs the quantized linear GEMMs on that PE's fast
    path; ``pe_layers`` (a glob such as "L0.*" or "*.down_proj", a comma-separated list or
    a list of globs) limits ``pe`` to the matching layers. ``reference``: the GEMM of
    quantized layers that are not on a PE: "float32" (BLAS on the dequantized operands, the
    default) or "exact" (every output the exact sum rounded once, as the PE path's
    epilogue; docs/accuracy.md)."""
    check_model(model)
    _check_sizes(tokens, window, available=tokens)
    if reference not in REFERENCES:
        raise QGemmError(f"reference must be one of {list(REFERENCES)}, got {reference!r}")
    quant = QuantSpec(weight_fmt, act_fmt, kv_fmt, select_layers(pe, pe_layers), pe_params,
                      k_fmt, v_fmt, k_axis, v_axis, score_fmt, prob_fmt)  # fmt: skip
    for f in quant.formats():
        resolve_format(f)  # bad names fail before the model is loaded
    pe_plan(quant.pe, pe_params)  # so do bad PE kinds and parameters
    check_method(method, quant, method_params)
    gguf_path()  # LLMUnavailable naming the install command when the extra is missing
    text = eval_text(check=check_text)
    ids = encode(text, model)
    a = _check_sizes(tokens, window, len(ids))
    kwargs = {} if rope is None else {"rope": rope}
    t_method = time.perf_counter()
    weights, online = apply_method(
        load_model(model), quant, method, method_params, model=model, calib_tokens=calib_tokens
    )
    t_method = time.perf_counter() - t_method
    net = Llama(weights, quant, online=online, **kwargs)
    if reference == "exact":
        net.runner.reference = exact_gemm  # the runner's exact path (qgemm.exact_qgemm)
    t0 = time.perf_counter()
    ids = ids[: a.tokens]
    starts = list(range(0, a.tokens, a.window))
    nll = []
    for s in range(0, len(starts), BATCH_WINDOWS):
        group = starts[s : s + BATCH_WINDOWS]
        full = [st for st in group if st + a.window <= a.tokens]
        parts = [(np.stack([ids[st : st + a.window] for st in full]), full)] if full else []
        parts += [(ids[st:][None], [st]) for st in group if st + a.window > a.tokens]
        for batch, _ in parts:
            h, _ = net.hidden(batch)
            for row, seq in zip(h, batch, strict=True):
                nll.append(token_nll(net, row[:-1], seq[1:]))
    nll = np.concatenate(nll)
    mean = float(nll.mean())
    pe_label = net.runner.pe_label()
    return PerplexityResult(
        model, math.exp(mean), mean, int(nll.size), a.tokens, a.window,
        weight_fmt, act_fmt, kv_fmt, method, repr(dict(sorted((method_params or {}).items()))),
        pe_label,
        platform.python_version(), sha256(text), time.perf_counter() - t0, t_method,
        k_fmt, v_fmt, k_axis, v_axis, score_fmt, prob_fmt,
    )  # fmt: skip


def llm_perplexity(
    model: str = "smollm2-135m",
    *,
    tokens: int = 2048,
    weight_fmt=None,
    act_fmt=None,
    kv_fmt=None,
    method=None,
    **options,
) -> float:
    """Perplexity of ``model`` on the first ``tokens`` tokens of the default offline text
    (``hwsim.formats`` names; None = the shipped model unquantized; ``method`` one of
    ``methods.METHODS``). ``options``: ``window``, ``pe``, ``pe_params``, ``pe_layers``,
    ``reference``, ``check_text``, ``method_params``, ``calib_tokens``, ``k_fmt``, ``v_fmt``,
    ``k_axis``, ``v_axis``, ``score_fmt``, ``prob_fmt`` of ``evaluate``."""
    return evaluate(
        model, tokens=tokens, weight_fmt=weight_fmt, act_fmt=act_fmt, kv_fmt=kv_fmt,
        method=method, **options,
    ).perplexity  # fmt: skip

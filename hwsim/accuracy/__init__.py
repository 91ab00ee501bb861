"""Accuracy of quantized models evaluated through exact datapaths (no downloads needed).

``digits`` (scikit-learn digits MLP) and ``minilm`` (all-MiniLM-L6-v2, optional extra) run
every GEMM on quantized operands, either with the exact reference GEMM or executed by a PE
model (``pe=``); ``qgemm`` holds the shared machinery (see its docstring). ``llm``:
perplexity of a causal LM (SmolLM2-135M, optional extra ``llm``) with quantized weights,
activations and KV cache (``llm_perplexity``)."""

from .digits import (
    DigitsMLP,
    digits_layer_sensitivity,
    digits_layers,
    digits_logits,
    evaluate_digits,
    train_digits_mlp,
)
from .llm import llm_perplexity
from .qgemm import QGemmError, compatible_pes, exact_gemm, pe_spec

__all__ = [
    "DigitsMLP",
    "QGemmError",
    "compatible_pes",
    "digits_layer_sensitivity",
    "digits_layers",
    "digits_logits",
    "evaluate_digits",
    "exact_gemm",
    "llm_perplexity",
    "pe_spec",
    "train_digits_mlp",
]

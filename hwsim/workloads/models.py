"""Model shape library; every number is from the model's published config (source per entry)."""

from __future__ import annotations

import numbers
from dataclasses import dataclass

from .layers import Layer, Workload, conv2d


@dataclass(frozen=True)
class TransformerShape:
    """Transformer dimensions (HF config names in comments)."""

    hidden: int  # hidden_size
    intermediate: int  # intermediate_size / ffn_dim
    heads: int  # num_attention_heads
    kv_heads: int  # num_key_value_heads (== heads without GQA)
    layers: int  # num_hidden_layers
    vocab: int  # vocab_size
    gated_mlp: bool  # SwiGLU (gate, up, down) vs two-matrix MLP
    decoder: bool  # causal LM with a KV cache (has a decode phase)
    source: str
    tokens: int | None = None  # fixed sequence length (ViT: 196 patches + CLS)


TRANSFORMERS: dict[str, TransformerShape] = {
    "llama2-7b": TransformerShape(
        4096, 11008, 32, 32, 32, 32000, True, True, "HF meta-llama/Llama-2-7b-hf config.json"
    ),
    "llama2-13b": TransformerShape(
        5120, 13824, 40, 40, 40, 32000, True, True, "HF meta-llama/Llama-2-13b-hf config.json"
    ),
    # Touvron et al. 2023, "Llama 2: Open Foundation and Fine-Tuned Chat Models" (arXiv
    # 2307.09288), Table 1: the 34B and 70B models use grouped-query attention (8 KV heads).
    "llama2-70b": TransformerShape(
        8192, 28672, 64, 8, 80, 32000, True, True, "HF meta-llama/Llama-2-70b-hf config.json"
    ),
    "llama3-8b": TransformerShape(
        4096, 14336, 32, 8, 32, 128256, True, True, "HF meta-llama/Meta-Llama-3-8B config.json"
    ),
    # Allal et al. 2025, "SmolLM2" (arXiv 2502.02737); HF HuggingFaceTB/SmolLM2-135M config.json,
    # equal to the llama.* metadata of the GGUF file that hwsim.accuracy.llm evaluates (checked
    # by tests/test_workloads_smollm2.py): 9 query / 3 KV heads of 64, SwiGLU, LM head tied to
    # the embedding (the lm_head GEMM is 576 x 49,152 all the same).
    "smollm2-135m": TransformerShape(
        576, 1536, 9, 3, 30, 49152, True, True, "HF HuggingFaceTB/SmolLM2-135M config.json"
    ),
    "opt-1.3b": TransformerShape(
        2048, 8192, 32, 32, 24, 50272, False, True, "HF facebook/opt-1.3b config.json"
    ),
    "opt-6.7b": TransformerShape(
        4096, 16384, 32, 32, 32, 50272, False, True, "HF facebook/opt-6.7b config.json"
    ),
    "bert-base": TransformerShape(
        768, 3072, 12, 12, 12, 30522, False, False, "HF bert-base-uncased config.json"
    ),
    "minilm-l6": TransformerShape(
        384,
        1536,
        12,
        12,
        6,
        30522,
        False,
        False,
        "HF sentence-transformers/all-MiniLM-L6-v2 config.json",
    ),
    "vit-b16": TransformerShape(
        768,
        3072,
        12,
        12,
        12,
        1000,
        False,
        False,
        "HF google/vit-base-patch16-224 config.json (224/16 = 14x14 patches + CLS)",
        197,
    ),
}

# torchvision ResNet (He et al. 2016, Table 1): blocks per stage, bottleneck or basic.
RESNETS = {"resnet18": ((2, 2, 2, 2), False), "resnet50": ((3, 4, 6, 3), True)}


def _block(p: str, s: TransformerShape, seq: int, ctx: int, batch: int) -> list[Layer]:
    """Layers of one transformer block for ``seq`` new tokens attending to ``ctx`` tokens."""
    d = s.hidden // s.heads
    m = seq * batch
    L = [
        Layer(f"{p}.q_proj", "gemm", m, s.hidden, s.hidden),
        Layer(f"{p}.k_proj", "gemm", m, s.kv_heads * d, s.hidden, kv_out=s.decoder),
        Layer(f"{p}.v_proj", "gemm", m, s.kv_heads * d, s.hidden, kv_out=s.decoder),
        # GQA: each query head reads its group's K/V; modelled as heads independent products.
        Layer(f"{p}.attn_qk", "attn_qk", seq, ctx, d, batch * s.heads),
        Layer(f"{p}.softmax", "elementwise", seq * ctx * batch * s.heads, inputs=1),
        Layer(f"{p}.attn_pv", "attn_pv", seq, d, ctx, batch * s.heads),
        Layer(f"{p}.o_proj", "gemm", m, s.hidden, s.hidden),
    ]
    if s.gated_mlp:
        L += [
            Layer(f"{p}.gate_proj", "gemm", m, s.intermediate, s.hidden),
            Layer(f"{p}.up_proj", "gemm", m, s.intermediate, s.hidden),
            Layer(f"{p}.act_mul", "elementwise", m * s.intermediate, inputs=2),
            Layer(f"{p}.down_proj", "gemm", m, s.hidden, s.intermediate),
        ]
    else:
        L += [
            Layer(f"{p}.fc1", "gemm", m, s.intermediate, s.hidden),
            Layer(f"{p}.act", "elementwise", m * s.intermediate, inputs=1),
            Layer(f"{p}.fc2", "gemm", m, s.hidden, s.intermediate),
        ]
    return L


def transformer(
    model: str, phase: str = "prefill", seq_len: int = 2048, batch: int = 1, step: int = 0
) -> Workload:
    """Prefill: ``seq_len`` tokens at once. Decode: one token per sequence attending to a KV
    cache of ``seq_len + step`` earlier tokens plus itself. LM head on the last token only."""
    s = TRANSFORMERS[model]
    if phase not in ("prefill", "decode"):
        raise ValueError(f"phase must be 'prefill' or 'decode', got {phase!r}")
    if phase == "decode" and not s.decoder:
        raise ValueError(f"{model} is an encoder; it has no decode phase")
    if s.tokens is not None:
        seq_len = s.tokens
    if phase == "prefill":
        seq, ctx = seq_len, seq_len
    else:
        seq, ctx = 1, seq_len + step + 1
    layers = []
    for i in range(s.layers):
        layers += _block(f"L{i}", s, seq, ctx, batch)
    if s.decoder:
        layers.append(Layer("lm_head", "gemm", batch, s.vocab, s.hidden))
    else:
        layers.append(Layer("head", "gemm", batch, s.vocab, s.hidden))
    return Workload(
        f"{model}-{phase}-{seq_len}" + (f"+{step}" if phase == "decode" else ""), tuple(layers)
    )


def resnet(model: str, batch: int = 1, image: int = 224) -> Workload:
    """torchvision ResNet-18/50 convolutions (im2col GEMMs) plus the final FC layer."""
    blocks, bottleneck = RESNETS[model]
    L = [conv2d("conv1", image, image, 3, 64, 7, stride=2, pad=3, batch=batch)]
    size = (image + 6 - 7) // 2 + 1
    size = (size + 2 - 3) // 2 + 1  # 3x3/2 max-pool
    cin = 64
    for stage, (nb, width) in enumerate(zip(blocks, (64, 128, 256, 512), strict=True)):
        cout = width * (4 if bottleneck else 1)
        for b in range(nb):
            st = 2 if (b == 0 and stage > 0) else 1
            p = f"layer{stage + 1}.{b}"
            out = (size - 1) // st + 1
            if bottleneck:
                L.append(conv2d(f"{p}.conv1", size, size, cin, width, 1, pad=0, batch=batch))
                L.append(conv2d(f"{p}.conv2", size, size, width, width, 3, stride=st, batch=batch))
                L.append(conv2d(f"{p}.conv3", out, out, width, cout, 1, pad=0, batch=batch))
            else:
                L.append(conv2d(f"{p}.conv1", size, size, cin, width, 3, stride=st, batch=batch))
                L.append(conv2d(f"{p}.conv2", out, out, width, cout, 3, batch=batch))
            if st != 1 or cin != cout:
                L.append(
                    conv2d(
                        f"{p}.downsample", size, size, cin, cout, 1, stride=st, pad=0, batch=batch
                    )
                )
            L.append(Layer(f"{p}.add_relu", "elementwise", batch * out * out * cout, inputs=2))
            cin, size = cout, out
    L.append(Layer("fc", "gemm", batch, 1000, cin))
    return Workload(model, tuple(L))


def names() -> list[str]:
    """Model names accepted by :func:`get`."""
    return sorted([*TRANSFORMERS, *RESNETS])


def get(
    model: str, phase: str = "prefill", seq_len: int = 2048, batch: int = 1, step: int = 0
) -> Workload:
    """A named model's layer graph, e.g. ``get("llama2-7b", phase="decode", seq_len=2048)``."""
    key = model.lower().replace("_", "-")
    key = {
        "llama-2-7b": "llama2-7b",
        "llama-2-13b": "llama2-13b",
        "llama-2-70b": "llama2-70b",
        "llama-3-8b": "llama3-8b",
        "resnet-18": "resnet18",
        "resnet-50": "resnet50",
        "vit-b/16": "vit-b16",
        "smollm2": "smollm2-135m",
    }.get(key, key)
    if key in RESNETS:
        if phase != "prefill":
            raise ValueError(f"{model} is a CNN; only phase='prefill' (one forward pass) applies")
        return resnet(key, batch)
    if key not in TRANSFORMERS:
        raise ValueError(f"unknown model {model!r}; known: {names()}")
    for f, v in (("seq_len", seq_len), ("batch", batch)):
        if isinstance(v, bool) or not isinstance(v, numbers.Integral) or v <= 0:
            raise ValueError(f"{f} must be a positive int, got {v!r}")
    return transformer(key, phase, seq_len, batch, step)


#: Most layers `generation` builds. Every decode step is its own layer list (its attention
#: shapes depend on the KV length, so steps cannot be merged into one repeated layer): 353
#: layers per Llama-2-7B step. Measured on the 2-core VM: ~230 bytes and ~36 us to build per
#: layer, ~0.37 ms to simulate, so 10^6 layers are ~0.23 GB and ~6 min.
MAX_GENERATION_LAYERS = 1_000_000


def generation(model: str, prompt_len: int, decode_steps: int, batch: int = 1) -> Workload:
    """Prefill of ``prompt_len`` tokens followed by ``decode_steps`` KV-cached decode steps.

    At most ``MAX_GENERATION_LAYERS`` layers in total (checked before building)."""
    if isinstance(decode_steps, bool) or not isinstance(decode_steps, int) or decode_steps < 0:
        raise ValueError(f"decode_steps must be an int >= 0, got {decode_steps!r}")
    layers = list(get(model, "prefill", prompt_len, batch).layers)
    per_step = len(get(model, "decode", prompt_len, batch).layers)
    total = len(layers) + decode_steps * per_step
    if total > MAX_GENERATION_LAYERS:
        most = (MAX_GENERATION_LAYERS - len(layers)) // per_step
        raise ValueError(
            f"generation({model!r}, {prompt_len}, {decode_steps}): {total:,} layers "
            f"({per_step} per decode step) exceed the limit of {MAX_GENERATION_LAYERS:,}; "
            f"simulate at most {most:,} decode steps and scale, or sample steps with "
            f"get({model!r}, 'decode', seq_len, step=i)"
        )
    for i in range(decode_steps):
        layers += get(model, "decode", prompt_len, batch, step=i).layers
    return Workload(f"{model}-gen-{prompt_len}+{decode_steps}", tuple(layers))

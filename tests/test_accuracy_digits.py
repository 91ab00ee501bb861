"""Digits MLP: deterministic training, exact GEMM, accuracy ordering by precision."""

from fractions import Fraction

import numpy as np
import pytest

from hwsim.accuracy import evaluate_digits, train_digits_mlp
from hwsim.accuracy.digits import exact_gemm


@pytest.fixture(scope="module")
def model():
    return train_digits_mlp(epochs=150)


def test_training_is_deterministic(model):
    again = train_digits_mlp(epochs=150)
    assert np.array_equal(again.w1, model.w1) and np.array_equal(again.b2, model.b2)


def test_exact_gemm_rounds_once_per_output():
    rng = np.random.default_rng(0)
    a = rng.integers(-(2**20), 2**20, (3, 50)) * 2.0**-7
    b = rng.integers(-(2**20), 2**20, (50, 2)) * 2.0**30
    b[0, 0] = 2.0**70  # forces cancellation that naive float64 summation gets wrong
    a[:, 0] = 1.0
    exact = [[float(sum(Fraction(a[i, k]) * Fraction(b[k, j]) for k in range(50)))
              for j in range(2)] for i in range(3)]  # fmt: skip
    assert exact_gemm(a, b).tolist() == exact


def test_accuracy_follows_precision(model):
    fp = evaluate_digits(model)
    int8 = evaluate_digits(model, "int8_channel", "int8_tensor")
    int2 = evaluate_digits(model, "int2_g128")
    assert fp > 0.95
    assert abs(int8 - fp) <= 0.01
    assert int2 < int8 - 0.2


def test_lloyd_max_beats_uniform_and_matches_known_gaussian_levels():
    from hwsim.metrics import lloyd_max, lloyd_max_sqnr_db, sqnr_db, synthetic

    x = synthetic("gaussian", 400_000, seed=1)
    lv = lloyd_max(x, 4)
    # Max (1960): optimal 4-level Gaussian quantizer +-0.4528, +-1.510
    assert np.allclose(lv, [-1.510, -0.4528, 0.4528, 1.510], atol=0.01)
    uniform = np.clip(np.round(x / 0.5) * 0.5, -1.0, 1.0)  # 5-level uniform grid
    assert lloyd_max_sqnr_db(x, 2) > sqnr_db(x, uniform) - 0.5
    assert lloyd_max_sqnr_db(x, 3) > lloyd_max_sqnr_db(x, 2) + 4


def test_exact_int_pe_reproduces_the_reference_logits(model):
    from hwsim.accuracy.digits import digits_logits

    for wf, af in (("int8_channel", "int8_tensor"), ("int4_g128", "int8_channel")):
        ref = digits_logits(model, wf, af)
        stats = {}
        pe = digits_logits(model, wf, af, pe="int_mac", stats=stats)
        assert np.array_equal(pe, ref)
        assert stats["pe_calls"] == 2 and stats["overflowed_layers"] == []


def test_narrow_accumulator_and_fp16_accumulation_change_the_result(model):
    wide = evaluate_digits(model, "int8_channel", "int8_tensor", pe="int_mac")
    stats = {}
    narrow = evaluate_digits(
        model, "int8_channel", "int8_tensor", pe="int_mac", pe_params={"acc_bits": 16},
        stats=stats,
    )  # fmt: skip
    assert stats["overflowed_layers"] and narrow < wide - 0.1
    from hwsim.accuracy.digits import digits_logits

    ref = digits_logits(model, "fp16", "fp16")
    z16 = digits_logits(model, "fp16", "fp16", pe="fp_fma", pe_params={"acc_fmt": "fp16"})
    z32 = digits_logits(model, "fp16", "fp16", pe="fp_fma", pe_params='{"acc_fmt": "fp32"}')
    err16, err32 = np.abs(z16 - ref).max(), np.abs(z32 - ref).max()
    assert err16 > 1e-4 and err16 > 100 * err32


def test_layer_formats_quantize_only_the_named_layers(model):
    from hwsim.accuracy.digits import digits_layer_sensitivity, digits_layers, digits_logits

    only_fc2 = digits_logits(model, layer_formats={"fc2": ("int2_g128", None)})
    both = digits_logits(model, "int2_g128", None)
    json_form = digits_logits(model, layer_formats='{"fc2": ["int2_g128", null]}')
    assert np.array_equal(only_fc2, json_form)
    same = digits_logits(model, "int2_g128", None, layer_formats={"fc1": [None, None]})
    assert np.array_equal(only_fc2, same) and not np.array_equal(only_fc2, both)
    layers = digits_layers(model)
    assert layers["weight_elements"].tolist() == [model.w1.size, model.w2.size]
    sens = digits_layer_sensitivity(model, "int2_g128", "int8_tensor", pe="int_mac",
                                    pe_params={"acc_bits": 48})  # fmt: skip
    z = digits_logits(model, layer_formats={"fc2": ("int2_g128", "int8_tensor")})
    acc_fc2 = float(np.mean(z.argmax(1) == model.test_y))
    assert sens.set_index("layer").loc["fc2", "accuracy"] == acc_fc2
    assert np.allclose(sens["drop"], evaluate_digits(model) - sens["accuracy"])


def test_evaluators_accept_pe_options_and_are_deterministic():
    from hwsim.evaluators import digits_accuracy, format_codesign

    p = {"weight_format": "int8_channel", "act_format": "int8_tensor", "pe": "int_mac"}
    a = digits_accuracy({**p, "pe_params": {"acc_bits": 16}})
    b = digits_accuracy({**p, "pe_params": '{"acc_bits": 16}'})
    assert a == b and a["pe_overflowed"] and not a["pe_nonfinite"]
    assert (
        digits_accuracy(p)["accuracy"]
        == digits_accuracy({"weight_format": "int8_channel", "act_format": "int8_tensor"})[
            "accuracy"
        ]
    )
    c = format_codesign({**p, "layer_formats": '{"fc2": ["int4_g128", "int8_tensor"]}'})
    assert (
        c["accuracy"]
        == digits_accuracy({**p, "layer_formats": {"fc2": ["int4_g128", "int8_tensor"]}})[
            "accuracy"
        ]
    )


def test_codesign_auto_pe_runs_the_costed_datapath():
    """pe = "auto" picks int_mac for INT pairs and fp_fma (FP32 accumulation) for minifloat
    pairs; an INT32 MAC is exact, so its accuracy equals the exact reference."""
    from hwsim.evaluators import format_codesign

    ref = format_codesign({"weight_format": "int4_g32"})
    got = format_codesign({"weight_format": "int4_g32", "pe": "auto"})
    assert got["pe_kind"] == "int_mac" and got["accuracy"] == ref["accuracy"]
    assert format_codesign({"weight_format": "mxfp4", "pe": "auto"})["pe_kind"] == "fp_fma"
    with pytest.raises(ValueError, match="mixes INT and float"):
        format_codesign({"weight_format": "int4_g32", "act_format": "mxfp4", "pe": "auto"})

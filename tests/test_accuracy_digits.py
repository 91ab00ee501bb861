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

"""Lloyd-Max reference: the optimal scalar quantizer on the exact distribution."""

import math

import numpy as np
import pytest

from hwsim.lloyd_max import optimal_quantizer, source
from hwsim.metrics import lloyd_max, sqnr_db, synthetic

# Max (1960), Table I: mean squared error of the optimal N-level quantizer of N(0, 1)
MAX_1960_MSE = {2: 0.3634, 4: 0.1175, 8: 0.03454, 16: 0.009497}


@pytest.mark.parametrize("n", sorted(MAX_1960_MSE))
def test_gaussian_matches_max_1960(n):
    q = optimal_quantizer("gaussian", n)
    assert q.mse == pytest.approx(MAX_1960_MSE[n], rel=5e-4)
    if n == 4:  # Max's levels +-0.4528, +-1.510
        assert np.allclose(q.levels, [-1.510, -0.4528, 0.4528, 1.510], atol=1e-3)


# Panter and Dite (1951) high-rate MSE c * 2^(-2b) for unit variance, c = (int p^(1/3))^3 / 12:
# Gaussian sqrt(3) pi / 2, Laplace 9 / 2 (both integrals in closed form)
PANTER_DITE = {"gaussian": math.sqrt(3) * math.pi / 2, "laplace": 4.5}


@pytest.mark.parametrize("dist", ["gaussian", "laplace", "student_t"])
def test_six_db_per_bit_at_high_rate(dist):
    db = [optimal_quantizer(dist, 1 << b).sqnr_db for b in (6, 7, 8)]
    steps = np.diff(db)
    assert np.all(steps > 5.6) and np.all(steps < 6.3), steps  # -> 6.02 dB per bit
    assert steps[1] > steps[0] - 0.02  # approaching the asymptote from below
    if dist in PANTER_DITE:
        asym = 10 * math.log10(2**16 / PANTER_DITE[dist])
        assert abs(db[-1] - asym) < 0.1  # 8 bits: within 0.1 dB of the asymptote
        assert db[-1] > asym  # Lloyd-Max lies above Panter-Dite at finite rate


@pytest.mark.parametrize("dist", ["gaussian", "laplace", "student_t"])
def test_no_scalar_quantizer_beats_it(dist):
    """Held-out samples: neither a sample-fitted Lloyd quantizer nor the best uniform grid
    (any step size, mid-rise) beats the reference at the same number of levels."""
    train = synthetic(dist, 100_000, seed=1)
    test = synthetic(dist, 200_000, seed=2)
    for n in (4, 16):
        ref = optimal_quantizer(dist, n)
        ref_db = sqnr_db(test, ref.quantize(test))
        lv = lloyd_max(train, n)
        idx = np.clip(np.searchsorted((lv[:-1] + lv[1:]) / 2, test), 0, n - 1)
        assert sqnr_db(test, lv[idx]) <= ref_db + 0.05
        best_uniform = max(
            sqnr_db(test, np.clip(np.floor(test / s) + 0.5, -n / 2 + 0.5, n / 2 - 0.5) * s)
            for s in np.geomspace(0.02, 10, 80)
        )
        assert best_uniform <= ref_db + 0.05


@pytest.mark.parametrize("dist", ["gaussian", "laplace", "student_t"])
def test_source_is_the_distribution_synthetic_draws_from(dist):
    src = source(dist)
    x = synthetic(dist, 2_000_000, seed=3)
    assert np.mean(x**2) == pytest.approx(src.power, rel=0.03)
    for t in (-2.0, -0.5, 0.3, 1.7):
        assert np.mean(x <= t) == pytest.approx(float(src.cdf(np.array(t))), abs=2e-3)
        assert np.mean(np.where(x <= t, x, 0)) == pytest.approx(
            float(src.mpart(np.array(t))), abs=3e-3
        )


def test_gaussian_formats_stay_below_the_reference_at_equal_bits():
    from hwsim.demo import format_error_table

    df = format_error_table(shape=(64, 1024))
    g = df[df.distribution == "gaussian"]
    assert (g.sqnr_db <= g.lloyd_max_sqnr_db + 0.05).all(), g[["format", "sqnr_db"]]


def test_errors_name_the_problem():
    with pytest.raises(ValueError, match="unknown distribution 'cauchy'"):
        source("cauchy")
    with pytest.raises(ValueError, match="levels must be a positive int"):
        optimal_quantizer("gaussian", 0)

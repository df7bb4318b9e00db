"""The exact discrete Gaussian sampler, conditional randomised rounding, and the DDG
accountant against dp-accounting's continuous Gaussian.

The noise comes from the OS CSPRNG (no seed), so every statistical bound here is set far
out in the tail: each states the chance that a correct sampler fails it.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from accord.core import ConfigError, PrivacyError
from accord.privacy import (
    DDGSetting,
    ddg_epsilon,
    ddg_noise_for_epsilon,
    gaussian_mechanism_epsilon,
    randomised_round,
    rounded_l2_bound,
    sample_discrete_gaussian,
)
from accord.privacy._ddg_accounting import ddg_rho
from accord.privacy._discrete_gaussian import bernoulli_exp


def _pmf(sigma_squared: float, support: int) -> dict[int, float]:
    weights = {k: math.exp(-(k * k) / (2 * sigma_squared)) for k in range(-support, support + 1)}
    total = sum(weights.values())
    return {k: w / total for k, w in weights.items()}


@pytest.mark.parametrize("sigma_squared", [Fraction(1, 4), Fraction(9), Fraction(2**80)])
def test_mean_and_variance_match_the_discrete_gaussian(sigma_squared: Fraction) -> None:
    n = 12_000
    draws = np.array(sample_discrete_gaussian(sigma_squared, n), dtype=np.float64)
    s2 = float(sigma_squared)
    # the exact variance, summed over the support (below σ² for small σ); σ² to within
    # exp(-2π²σ²) for large σ
    variance = sum(k * k * p for k, p in _pmf(s2, 60).items()) if s2 < 100 else s2
    sd = math.sqrt(variance)
    # 8 standard errors each (P(fail) ~ 1e-15): the mean's is sd/sqrt(n); the mean square's
    # relative one is sqrt((kurtosis - 1) / n), kurtosis 3 for large σ and 4.9 at σ² = 1/4
    assert abs(float(np.mean(draws))) < 8 * sd / math.sqrt(n)
    assert abs(float(np.mean(draws**2)) / variance - 1) < 8 * math.sqrt(4.0 / n)


def test_chi_square_of_a_small_sigma_against_the_exact_pmf() -> None:
    n, sigma_squared = 20_000, 2.0
    pmf = _pmf(sigma_squared, 40)
    draws = sample_discrete_gaussian(Fraction(2), n)
    bins = list(range(-4, 5))  # |k| >= 5 pooled into a tail bin
    observed = [sum(1 for x in draws if x == k) for k in bins]
    observed.append(n - sum(observed))
    expected = [n * pmf[k] for k in bins]
    expected.append(n - sum(expected))
    chi2 = sum((o - e) ** 2 / e for o, e in zip(observed, expected, strict=True))
    # 9 degrees of freedom: P(χ² > 120) < 1e-20
    assert chi2 < 120


def test_bernoulli_exp_is_exact_at_its_edges_and_refuses_no_gamma() -> None:
    assert all(bernoulli_exp(0, 7) for _ in range(200))  # exp(0) = 1, always
    hits = sum(bernoulli_exp(3, 2) for _ in range(20_000))  # exp(-1.5) = 0.2231
    assert abs(hits / 20_000 - math.exp(-1.5)) < 8 * math.sqrt(0.2231 * 0.7769 / 20_000)
    with pytest.raises(PrivacyError, match="sigma_squared must be > 0"):
        sample_discrete_gaussian(Fraction(0), 1)


@settings(max_examples=60, deadline=None)
@given(
    x=arrays(np.float64, st.integers(1, 40), elements=st.floats(-1.0, 1.0)),
    scale=st.floats(0.5, 1e6),
)
def test_rounding_always_meets_its_norm_bound_and_moves_each_value_less_than_one(
    x: np.ndarray, scale: float
) -> None:
    norm = float(np.linalg.norm(x))
    c = scale * max(norm, 1e-3)
    y = x / max(norm, 1e-3) * c if norm > 0 else x
    bound = rounded_l2_bound(c, x.size)
    rounded, draws = randomised_round(y, bound)
    assert draws >= 1
    np.testing.assert_array_equal(rounded, np.round(rounded))
    assert float(np.max(np.abs(rounded - y))) < 1.0
    assert sum(int(v) ** 2 for v in rounded) <= bound**2


def test_rounding_is_unbiased() -> None:
    n = 20_000
    rounded, _ = randomised_round(np.full(n, 2.3), rounded_l2_bound(2.3 * math.sqrt(n), n))
    assert set(np.unique(rounded)) <= {2.0, 3.0}
    # Bernoulli(0.3) mean: 8 standard errors (P(fail) ~ 1e-15)
    assert abs(float(np.mean(rounded)) - 2.3) < 8 * math.sqrt(0.21 / n)


def test_rounding_refuses_a_bound_below_the_input_norm() -> None:
    with pytest.raises(PrivacyError, match="draws exceeded the norm bound"):
        randomised_round(np.full(4, 10.0), 5.0)


@pytest.mark.parametrize("sigma", [0.6, 1.0, 4.0])
@pytest.mark.parametrize("parties", [1, 5])
def test_ddg_epsilon_is_at_least_and_close_to_the_continuous_gaussian(
    sigma: float, parties: int
) -> None:
    """At F = 40 the discrete mechanism costs ~1e-12 more; never less than dp-accounting's
    continuous Gaussian (same orders, RDP per order >=)."""
    setting = DDGSetting(parties, 2**20, 40, 0.7)
    for rounds in (1, 30):
        continuous = gaussian_mechanism_epsilon(sigma, rounds, 1e-5)["dp_accounting_rdp"].epsilon
        discrete = ddg_epsilon(sigma, rounds, 1e-5, setting)
        assert continuous <= discrete <= continuous * 1.01


def test_coarse_quantisation_and_many_small_shares_cost_privacy() -> None:
    fine = ddg_epsilon(1.0, 10, 1e-5, DDGSetting(1, 100, 40, 1.0))
    coarse = ddg_epsilon(1.0, 10, 1e-5, DDGSetting(1, 100, 2, 1.0))  # rounding inflates Δ₂
    assert coarse > 1.3 * fine
    # at F = 0 each of 50 shares has s = 0.14: tau is large and the bound weakens
    assert ddg_rho(1.0, DDGSetting(50, 10, 0, 1.0)) > ddg_rho(1.0, DDGSetting(1, 10, 0, 1.0))


def test_sigma_search_reaches_the_target_from_above() -> None:
    setting = DDGSetting(4, 2**20, 40, 1.0)
    sigma = ddg_noise_for_epsilon(2.0, 20, 1e-5, setting)
    assert ddg_epsilon(sigma, 20, 1e-5, setting) <= 2.0
    assert ddg_epsilon(sigma / 1.002, 20, 1e-5, setting) > 2.0 * 0.99
    integers = DDGSetting(1, 2**20, 0, 1.0)  # F = 0: rounding makes Δ₂ ~ 512 C
    with pytest.raises(ConfigError, match="no noise_multiplier up to"):
        ddg_noise_for_epsilon(1e-4, 20, 1e-5, integers)

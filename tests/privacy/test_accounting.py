"""Privacy accounting: two independent RDP accountants agree, ε moves the right way."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from accord.core import ConfigError
from accord.privacy import (
    DP_ACCOUNTING_RDP,
    OPACUS_RDP,
    PrivacySpent,
    dpsgd_epsilon,
    gaussian_mechanism_epsilon,
    most_conservative,
    noise_for_epsilon,
)


def _eps(spent: dict[str, PrivacySpent], which: str = OPACUS_RDP) -> float:
    return spent[which].epsilon


@pytest.mark.parametrize(
    ("sigma", "q", "steps", "delta"),
    [
        (1.1, 0.01, 1000, 1e-5),  # Abadi et al.'s MNIST regime
        (1.0, 0.1, 200, 1e-3),  # the small-cohort regime of the DP-SGD tests
        (0.8, 0.2, 100, 1e-3),  # low noise, high sampling rate: the accountants differ most
        (5.0, 0.5, 3, 1e-5),
        (2.0, 1.0, 50, 1e-5),  # no subsampling: plain composed Gaussian mechanism
    ],
)
def test_the_two_accountants_agree_within_a_few_percent(
    sigma: float, q: float, steps: int, delta: float
) -> None:
    spent = dpsgd_epsilon(sigma, q, steps, delta)
    assert set(spent) == {OPACUS_RDP, DP_ACCOUNTING_RDP}
    a, b = _eps(spent, OPACUS_RDP), _eps(spent, DP_ACCOUNTING_RDP)
    assert math.isfinite(a) and a > 0
    assert abs(a - b) / a < 0.04
    assert all(s.delta == delta and s.accountant == name for name, s in spent.items())


def test_known_value_for_the_abadi_setting() -> None:
    # TF Privacy's MNIST tutorial: σ=1.1, q=256/60000, 60 epochs, δ=1e-5 gives ε = 3.01 with
    # the older RDP-to-DP conversion; Balle et al.'s conversion (used by both) is tighter.
    steps = int(60 / (256 / 60000))
    for name, spent in dpsgd_epsilon(1.1, 256 / 60000, steps, 1e-5).items():
        assert 2.0 < spent.epsilon <= 3.01, name


def test_without_subsampling_matches_the_closed_form_rdp_bound() -> None:
    # q = 1: RDP(α) = T·α / (2σ²); ε = min_α RDP(α) + log((α-1)/α) - (log δ + log α)/(α-1)
    sigma, rounds, delta = 3.0, 20, 1e-5
    orders = [1 + x / 10.0 for x in range(1, 100)] + list(range(12, 64)) + [128, 256, 512, 1024]
    closed = min(
        rounds * a / (2 * sigma**2)
        + math.log((a - 1) / a)
        - (math.log(delta) + math.log(a)) / (a - 1)
        for a in orders
    )
    spent = gaussian_mechanism_epsilon(sigma, rounds, delta)
    assert _eps(spent) == pytest.approx(closed, rel=1e-9)
    assert _eps(spent, DP_ACCOUNTING_RDP) == pytest.approx(closed, rel=0.01)


positive_sigma = st.floats(min_value=0.6, max_value=8.0)
rate = st.floats(min_value=0.005, max_value=0.5)


@pytest.mark.filterwarnings("ignore:Optimal order is the:UserWarning")  # extreme corners
@settings(max_examples=15, deadline=None)
@given(sigma=positive_sigma, q=rate, steps=st.integers(1, 300))
def test_epsilon_falls_with_noise_and_grows_with_steps_and_sampling_rate(
    sigma: float, q: float, steps: int
) -> None:
    base = dpsgd_epsilon(sigma, q, steps, 1e-5)
    more_noise = dpsgd_epsilon(sigma * 1.5, q, steps, 1e-5)
    more_steps = dpsgd_epsilon(sigma, q, steps * 2, 1e-5)
    higher_rate = dpsgd_epsilon(sigma, min(1.0, q * 2), steps, 1e-5)
    for name in (OPACUS_RDP, DP_ACCOUNTING_RDP):
        assert _eps(more_noise, name) < _eps(base, name)
        assert _eps(more_steps, name) > _eps(base, name)
        assert _eps(higher_rate, name) > _eps(base, name)


def test_site_sampling_lowers_dp_fedavg_epsilon() -> None:
    every_round = gaussian_mechanism_epsilon(1.0, 30, 1e-5)
    sampled = gaussian_mechanism_epsilon(1.0, 30, 1e-5, sample_rate=0.3)
    assert _eps(sampled) < _eps(every_round)


@pytest.mark.parametrize(
    ("target", "delta", "q", "steps"),
    [
        (8.0, 1e-3, 0.1, 200),  # Opacus' σ alone gave a recorded ε of 8.013 here
        (1.0, 1e-3, 0.02, 500),
        (8.0, 1e-4, 32 / 150, 1000),
        (4.0, 1e-5, 8 / 250, 1500),
    ],
)
def test_noise_for_epsilon_inverts_the_most_conservative_accountant(
    target: float, delta: float, q: float, steps: int
) -> None:
    sigma = noise_for_epsilon(target, delta, q, steps)
    recorded = most_conservative(dpsgd_epsilon(sigma, q, steps, delta)).epsilon
    assert 0.99 * target - 1e-9 <= recorded <= target
    assert all(s.epsilon <= target for s in dpsgd_epsilon(sigma, q, steps, delta).values())
    assert most_conservative(dpsgd_epsilon(sigma * 0.97, q, steps, delta)).epsilon > target


def test_most_conservative_picks_the_largest_epsilon() -> None:
    spent = {
        "a": PrivacySpent(1.0, 1e-5, "a"),
        "b": PrivacySpent(1.2, 1e-5, "b"),
    }
    assert most_conservative(spent).accountant == "b"
    with pytest.raises(ConfigError, match="spent is empty"):
        most_conservative({})


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"noise_multiplier": 0.0}, "noise_multiplier is 0.0; expected a finite number > 0"),
        ({"sample_rate": 1.5}, "sample_rate is 1.5; expected a probability in"),
        ({"steps": 0}, "steps is 0; expected a whole number >= 1"),
        ({"delta": 0.0}, "delta is 0.0; expected a probability in"),
    ],
)
def test_invalid_parameters_are_config_errors(kwargs: dict[str, float], message: str) -> None:
    args: dict[str, float] = {"noise_multiplier": 1.0, "sample_rate": 0.1, "steps": 10}
    args |= {"delta": 1e-5} | kwargs
    with pytest.raises(ConfigError, match=message):
        dpsgd_epsilon(**args)  # type: ignore[arg-type]


@pytest.mark.filterwarnings("ignore:Optimal order is the:UserWarning")
def test_unreachable_epsilon_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="unreachable"):
        noise_for_epsilon(1e-7, 1e-5, 1.0, 10**6)

"""Site-level DP-FedAvg: clipping bounds the norm, noise shares add up to the central noise."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from accord.core import AggregationError, ConfigError
from accord.privacy import clip_update, noise_aggregate, site_noise_share

finite = st.floats(-1e3, 1e3, allow_nan=False)


def _norm(update: dict[str, np.ndarray]) -> float:
    return float(np.sqrt(sum(np.sum(a**2) for a in update.values())))


@settings(max_examples=50, deadline=None)
@given(
    w=arrays(np.float64, (3, 2), elements=finite),
    b=arrays(np.float64, (2,), elements=finite),
    clip=st.floats(0.01, 100.0),
)
def test_clipped_update_has_global_norm_at_most_c_and_keeps_direction(
    w: np.ndarray, b: np.ndarray, clip: float
) -> None:
    update = {"w": w, "b": b}
    clipped, scale = clip_update(update, clip)
    assert _norm(clipped) <= clip * (1 + 1e-12)
    assert 0.0 < scale <= 1.0
    for name in update:
        np.testing.assert_allclose(clipped[name], update[name] * scale)
    if _norm(update) <= clip:
        assert scale == 1.0


def test_clipping_is_global_over_all_arrays_not_per_array() -> None:
    clipped, scale = clip_update({"a": np.array([3.0]), "b": np.array([4.0])}, 1.0)
    assert scale == pytest.approx(0.2)
    np.testing.assert_allclose(clipped["a"], [0.6])
    np.testing.assert_allclose(clipped["b"], [0.8])


def test_zero_update_is_left_alone_and_non_finite_is_refused() -> None:
    clipped, scale = clip_update({"w": np.zeros(3)}, 1.0)
    assert scale == 1.0 and not clipped["w"].any()
    with pytest.raises(AggregationError, match="update array 'w' has non-finite values"):
        clip_update({"w": np.array([1.0, np.nan])}, 1.0)


def test_central_noise_has_std_sigma_c_and_is_independent_of_dict_order() -> None:
    summed = {"w": np.zeros((200, 100)), "b": np.full(5, 2.0)}
    noisy = noise_aggregate(summed, 0.5, 2.0, np.random.default_rng(0))
    assert list(noisy) == ["w", "b"]
    assert np.std(noisy["w"]) == pytest.approx(1.0, rel=0.02)
    reordered = noise_aggregate(
        {"b": summed["b"], "w": summed["w"]}, 0.5, 2.0, np.random.default_rng(0)
    )
    for name in summed:
        np.testing.assert_array_equal(noisy[name], reordered[name])


@pytest.mark.parametrize("n_sites", [1, 3, 10])
def test_sum_of_n_site_shares_has_the_central_variance(n_sites: int) -> None:
    sigma, clip, shape = 1.3, 0.7, (20_000,)
    rngs = [np.random.default_rng([7, site]) for site in range(n_sites)]
    shares = [site_noise_share(shape, clip, sigma, n_sites, rng) for rng in rngs]
    assert np.var(shares[0]) == pytest.approx((sigma * clip) ** 2 / n_sites, rel=0.05)
    total = np.sum(shares, axis=0)
    assert np.var(total) == pytest.approx((sigma * clip) ** 2, rel=0.05)
    assert abs(np.mean(total)) < 0.03


def test_invalid_noise_parameters_are_config_errors() -> None:
    rng = np.random.default_rng(0)
    with pytest.raises(ConfigError, match="n_sites is 0"):
        site_noise_share((2,), 1.0, 1.0, 0, rng)
    with pytest.raises(ConfigError, match="noise_multiplier is -1"):
        noise_aggregate({"w": np.zeros(2)}, 1.0, -1, rng)
    with pytest.raises(ConfigError, match="clip_norm is 0"):
        clip_update({"w": np.zeros(2)}, 0)

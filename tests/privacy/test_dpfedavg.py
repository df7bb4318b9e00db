"""Site-level DP-FedAvg: clipping bounds the norm, discrete Gaussian shares of the threshold
sites add up to the central noise, and secure aggregation encodes them exactly."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from accord.core import AggregationError, ConfigError, PrivacyError, PrivacySpec
from accord.crypto.secagg import Quantizer
from accord.privacy import (
    DDGSetting,
    clip_update,
    dpfedavg_epsilon,
    dpfedavg_noise,
    noise_update_ddg,
)

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


def _setting(parties: int, dim: int, bits: int = 8, clip: float = 0.5) -> DDGSetting:
    return DDGSetting(parties, dim, bits, clip)


def test_shares_of_the_threshold_sites_that_survive_carry_the_central_variance() -> None:
    """Six sites, threshold 4, two drop out: the four surviving shares still add up to
    σ²C²4^F per coordinate (F = 8 keeps each share's σ in integer units large)."""
    sigma, clip, bits, dim = 1.3, 0.5, 8, 5_000
    setting = _setting(4, dim, bits, clip)
    zero = {"w": np.zeros(dim)}
    shares = [noise_update_ddg(zero, sigma, setting)["w"] for _ in range(6)]
    survivors = np.sum(shares[:4], axis=0) * 2.0**bits  # back to integer units
    ratio = float(np.mean(survivors**2)) / (sigma * clip * 2**bits) ** 2
    # the mean square of 5,000 centred Gaussians has relative sd sqrt(2/5000) = 0.02: 8 sd
    assert 1 - 0.16 < ratio < 1 + 0.16
    one = float(np.mean((shares[0] * 2.0**bits) ** 2)) / (sigma * clip * 2**bits) ** 2
    assert 0.25 - 0.04 < one < 0.25 + 0.04


def test_a_noised_update_is_exactly_what_the_quantiser_encodes() -> None:
    """k·2^-F comes back as k from the quantiser: secure aggregation adds no rounding."""
    bits = 40
    update = {"w": np.random.default_rng(3).normal(size=(4, 5)) * 0.1, "b": np.ones(2)}
    clipped, _ = clip_update(update, 1.0)
    noisy = noise_update_ddg(clipped, 1.0, _setting(2, 22, bits, 1.0))
    assert {k: v.shape for k, v in noisy.items()} == {"w": (4, 5), "b": (2,)}
    flat = np.concatenate([noisy["w"].ravel(), noisy["b"]])
    k = np.ldexp(flat, bits)
    np.testing.assert_array_equal(k, np.round(k))  # integers in quanta
    quantizer = Quantizer(clip=1e12, n_summands=3, fraction_bits=bits)
    decoded = quantizer.decode_sum(quantizer.encode(flat), 1)
    np.testing.assert_array_equal(decoded, flat)  # exact: no quantisation error at all


def test_an_update_beyond_the_planned_dimension_or_float_range_is_refused() -> None:
    with pytest.raises(PrivacyError, match=r"has 6 coordinates; .* at most 5"):
        noise_update_ddg({"w": np.zeros(6)}, 1.0, _setting(1, 5))
    with pytest.raises(PrivacyError, match=r"exceed 2\^53 quanta"):
        noise_update_ddg({"w": np.zeros(3)}, 1e4, _setting(1, 3, bits=44, clip=1.0))


def test_dpfedavg_noise_prefers_the_given_sigma_and_else_reaches_the_target() -> None:
    given = PrivacySpec(dp="dpfedavg", noise_multiplier=2.5, epsilon=1.0)
    assert dpfedavg_noise(given, 10) == 2.5
    target = PrivacySpec(dp="dpfedavg", epsilon=3.0, delta=1e-5, clip_norm=0.5)
    sigma = dpfedavg_noise(target, 10, parties=4)
    assert 0.99 * 3.0 <= dpfedavg_epsilon(target, 10, parties=4) <= 3.0
    assert dpfedavg_epsilon(target.model_copy(update={"noise_multiplier": sigma * 0.99}), 10) > 3
    with pytest.raises(ConfigError, match=r"needs privacy\.epsilon or privacy\.noise_multiplier"):
        dpfedavg_noise(PrivacySpec(dp="dpfedavg"), 10)


def test_invalid_noise_parameters_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="parties is 0"):
        DDGSetting(0, 2, 40, 1.0)
    with pytest.raises(ConfigError, match="noise_multiplier is -1"):
        noise_update_ddg({"w": np.zeros(2)}, -1, _setting(1, 2))
    with pytest.raises(ConfigError, match="clip_norm is 0"):
        clip_update({"w": np.zeros(2)}, 0)

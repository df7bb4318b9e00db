"""The consortium C interval (BCa over summed site arrays) and the arrays sites release."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import accord.fl._evaluation as evaluation
from accord.fl import cindex_interval
from accord.fl._evaluation import (
    MOMENT_KEYS,
    PAIR_UNIT,
    bootstrap_counts,
    concordance_arrays,
    concordance_moments,
    percentile_interval,
)
from accord.survival import concordance_components, concordance_counts


def _arrays(estimate_concordant: float, moments: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """100 resamples of 100 comparable pairs with C = 0.00, 0.01, ..., 0.99; the estimate's
    concordant count out of 100 as given."""
    k = np.arange(100.0)
    arrays = {
        "concordant": np.array([estimate_concordant]),
        "tied_risk": np.array([0.0]),
        "comparable": np.array([100.0]),
        "bootstrap_counts": np.stack([k, 100.0 - k, np.zeros(100), np.full(100, 100.0)]),
    }
    if moments is not None:
        arrays["concordance_moments"] = moments
    return arrays


def test_without_bias_or_skew_bca_is_the_percentile_interval() -> None:
    arrays = _arrays(49.5)  # 50 resamples below, 50 above: z0 = 0; no moments: a = 0
    got = cindex_interval(arrays, 0.95)
    assert got == pytest.approx(percentile_interval(arrays["bootstrap_counts"], 0.95), abs=1e-12)
    assert got == pytest.approx((0.99 * 0.025, 0.99 * 0.975), abs=1e-12)


def test_bias_correction_hand_computed() -> None:
    # 30 % of resamples below the estimate: z0 = Phi^-1(0.3) = -0.5244, levels
    # Phi(2 z0 -+ 1.96) = 0.0013116, 0.8188952; the quantile at q of 0, 0.01, ..., 0.99 is 0.99 q
    got = cindex_interval(_arrays(29.5), 0.95)
    assert got == pytest.approx((0.99 * 0.0013116, 0.99 * 0.8188952), abs=1e-6)


def test_acceleration_hand_computed() -> None:
    # ss = 1, sss = 0.6, others 0: a = 0.6 / (6 * 1^1.5) = 0.1 whatever C;
    # levels Phi(z0 + z / (1 - a z)) at z = z0 -+ 1.96 are 0.0059621, 0.8752965
    moments = np.array([1.0, 0.0, 0.0, 0.6, 0.0, 0.0, 0.0])
    got = cindex_interval(_arrays(29.5, moments), 0.95)
    assert got == pytest.approx((0.99 * 0.0059621, 0.99 * 0.8752965), abs=1e-6)


def test_no_comparable_resample_gives_no_interval() -> None:
    arrays = _arrays(49.5)
    arrays["bootstrap_counts"][3] = 0.0
    assert cindex_interval(arrays, 0.95) is None
    assert cindex_interval({"comparable": np.array([0.0])}, 0.95) is None


def _site(n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    risk = rng.normal(size=n)
    time = np.round(rng.exponential(np.exp(-risk)) * 100.0)  # tied days
    return time, rng.random(n) < 0.7, np.round(risk, 1)  # tied risks


def test_acceleration_matches_the_jackknife() -> None:
    # Efron's jackknife acceleration of one site's C from its n leave-one-out values
    time, event, risk = _site(150, 1)
    loo = np.array(
        [
            concordance_counts(*(np.delete(x, i) for x in (time, event, risk))).cindex
            for i in range(150)
        ]
    )
    u = loo.mean() - loo
    jackknife = float(np.sum(u**3) / (6.0 * np.sum(u**2) ** 1.5))
    c = concordance_counts(time, event, risk).cindex
    linear = evaluation._acceleration(concordance_moments(time, event, risk), c)
    assert abs(jackknife) > 1e-3
    assert linear == pytest.approx(jackknife, rel=0.1)


def test_moments_are_power_sums_of_centred_components() -> None:
    time, event, risk = _site(40, 2)
    parts = concordance_components(time, event, risk)
    s = (parts.score - parts.score.mean()) / PAIR_UNIT
    c = (parts.comparable - parts.comparable.mean()) / PAIR_UNIT
    expected = [
        np.sum(s**p * c**q) for p, q in ((2, 0), (1, 1), (0, 2), (3, 0), (2, 1), (1, 2), (0, 3))
    ]
    got = concordance_moments(time, event, risk)
    assert got.shape == (len(MOMENT_KEYS),)
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-18)


@pytest.mark.parametrize("n", [1, 2, 7, 60])
def test_bootstrap_by_matrix_equals_counting_each_resample(
    n: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    time, event, risk = _site(n, n)
    fast = bootstrap_counts(time, event, risk, 30, seed=5)
    monkeypatch.setattr(evaluation, "_MATRIX_ROWS", 0)
    np.testing.assert_array_equal(fast, bootstrap_counts(time, event, risk, 30, seed=5))


def test_released_arrays_are_fixed_size_and_add_up_over_sites() -> None:
    sites = [_site(n, seed) for seed, n in enumerate((30, 50, 80))]
    replies = [concordance_arrays(t, e, r, 20, seed=k) for k, (t, e, r) in enumerate(sites)]
    for reply in replies:
        assert {k: v.shape for k, v in reply.items()} == {
            "concordant": (1,), "discordant": (1,), "tied_risk": (1,), "comparable": (1,),
            "bootstrap_counts": (4, 20), "concordance_moments": (7,),
        }  # fmt: skip
    summed = {k: np.sum([r[k] for r in replies], axis=0) for k in replies[0]}
    low, high = cindex_interval(summed, 0.95) or (np.nan, np.nan)
    total = sum((concordance_counts(*s) for s in sites[1:]), concordance_counts(*sites[0]))
    assert low < total.cindex < high
    assert set(concordance_arrays(*sites[0], 0, seed=0)) == {
        "concordant", "discordant", "tied_risk", "comparable"
    }  # fmt: skip


@settings(max_examples=40, deadline=None)
@given(n=st.integers(2, 40), seed=st.integers(0, 2**16), confidence=st.floats(0.5, 0.99))
def test_interval_is_ordered_inside_the_unit_interval(n: int, seed: int, confidence: float) -> None:
    time, event, risk = _site(n, seed)
    interval = cindex_interval(concordance_arrays(time, event, risk, 40, seed), confidence)
    if interval is not None:
        assert 0.0 <= interval[0] <= interval[1] <= 1.0


def test_a_site_with_few_test_rows_sends_no_moments() -> None:
    """Seven power sums of a handful of patients' pair components could pin each one's:
    below MOMENT_MIN_ROWS rows they are zeros, and the pair and bootstrap counts are kept."""
    rng = np.random.default_rng(3)
    time, event, risk = rng.exponential(100.0, 7), rng.random(7) < 0.7, rng.normal(size=7)
    few = concordance_arrays(time, event, risk, 20, seed=1)
    assert not few["concordance_moments"].any()
    assert few["bootstrap_counts"].shape == (4, 20) and few["comparable"][0] > 0
    more = concordance_arrays(time, event, risk, 20, seed=1, min_moment_rows=7)
    assert more["concordance_moments"].any()
    np.testing.assert_array_equal(few["bootstrap_counts"], more["bootstrap_counts"])

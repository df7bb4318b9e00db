"""Tests of accord.survival._bootstrap."""

from __future__ import annotations

import numpy as np
import pytest

from accord.core import DataError
from accord.survival import Interval, bootstrap_interval, harrell_c

from .conftest import Cohort


def test_deterministic_and_covers_estimate(cohort: Cohort) -> None:
    def c_index(idx: np.ndarray) -> float:
        return harrell_c(cohort.time[idx], cohort.event[idx], cohort.risk[idx])

    a = bootstrap_interval(c_index, cohort.time.shape[0], 200, 0.95, seed=1)
    b = bootstrap_interval(c_index, cohort.time.shape[0], 200, 0.95, seed=1)
    assert a == b
    assert a.estimate == harrell_c(cohort.time, cohort.event, cohort.risk)
    assert a.lower < a.estimate < a.upper and a.confidence == 0.95


def test_mean_matches_percentiles() -> None:
    values = np.random.default_rng(0).normal(size=50)
    got = bootstrap_interval(lambda idx: float(values[idx].mean()), 50, 500, 0.9, seed=3)
    rng = np.random.default_rng(3)
    means = [values[rng.integers(0, 50, size=50)].mean() for _ in range(500)]
    assert got.lower == pytest.approx(np.quantile(means, 0.05))
    assert got.upper == pytest.approx(np.quantile(means, 0.95))


def test_nan_resamples_are_skipped() -> None:
    calls = iter(range(10_000))

    def flaky(idx: np.ndarray) -> float:
        return float("nan") if next(calls) % 2 else float(idx.mean())

    got = bootstrap_interval(flaky, 20, 100, 0.95, seed=0)
    assert np.isfinite(got.lower) and np.isfinite(got.upper)


def test_all_nan() -> None:
    got = bootstrap_interval(lambda idx: float("nan"), 5, 10, 0.95, seed=0)
    assert isinstance(got, Interval) and np.isnan(got.lower) and np.isnan(got.upper)


@pytest.mark.parametrize(
    ("n", "resamples", "confidence", "message"),
    [
        (0, 10, 0.95, "n is below 1"),
        (5, 0, 0.95, "n_resamples is below 1"),
        (5, 10, 1.0, "confidence is outside"),
    ],
)
def test_errors(n: int, resamples: int, confidence: float, message: str) -> None:
    with pytest.raises(DataError, match=message):
        bootstrap_interval(lambda idx: 0.0, n, resamples, confidence, seed=0)

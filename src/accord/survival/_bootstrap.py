"""Percentile bootstrap confidence intervals for any statistic of a cohort."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from accord.core import DataError
from accord.survival._checks import IntArray

__all__ = ["Interval", "bootstrap_interval"]


@dataclass(frozen=True)
class Interval:
    """A point estimate with a two-sided confidence interval at level ``confidence``."""

    estimate: float
    lower: float
    upper: float
    confidence: float


def _check_bootstrap(n: int, n_resamples: int, confidence: float) -> None:
    if n < 1:
        raise DataError("n is below 1; expected the number of rows (>= 1)")
    if n_resamples < 1:
        raise DataError("n_resamples is below 1; expected a positive number of resamples")
    if not 0.0 < confidence < 1.0:
        raise DataError("confidence is outside (0, 1); expected e.g. 0.95")


def bootstrap_interval(
    statistic: Callable[[IntArray], float],
    n: int,
    n_resamples: int,
    confidence: float,
    seed: int,
) -> Interval:
    """Percentile bootstrap interval of ``statistic`` over rows resampled with replacement.

    Args:
        statistic: maps (n,) row indices of a resample to the statistic (e.g. a C-index).
        n: number of rows in the cohort.
        n_resamples: number of bootstrap resamples.
        confidence: interval level, e.g. 0.95.
        seed: seed of the generator; the same seed gives the same interval.

    Returns:
        ``estimate`` is ``statistic(arange(n))``. Resamples whose statistic is nan (e.g.
        no comparable pair) are skipped; if all are, the bounds are nan.
    """
    _check_bootstrap(n, n_resamples, confidence)
    rng = np.random.default_rng(seed)
    estimate = float(statistic(np.arange(n, dtype=np.int64)))
    values = np.array(
        [float(statistic(rng.integers(0, n, size=n, dtype=np.int64))) for _ in range(n_resamples)]
    )
    values = values[~np.isnan(values)]
    if values.size == 0:
        return Interval(estimate, float("nan"), float("nan"), confidence)
    alpha = 1.0 - confidence
    lower, upper = np.quantile(values, [alpha / 2.0, 1.0 - alpha / 2.0])
    return Interval(estimate, float(lower), float(upper), confidence)

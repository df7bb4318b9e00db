"""The log-rank test of equal survival across k >= 2 groups (as lifelines)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy.stats import chi2

from accord.core import DataError
from accord.survival._checks import FloatArray, _check_not_empty, _check_survival

__all__ = ["LogRankResult", "logrank_from_counts", "logrank_test"]


@dataclass(frozen=True)
class LogRankResult:
    """Chi-squared statistic, its p-value and degrees of freedom (groups - 1)."""

    statistic: float
    p_value: float
    degrees_of_freedom: int


def _check_groups(group: npt.ArrayLike, n: int) -> npt.NDArray[np.int64]:
    labels = np.asarray(group)
    if labels.ndim != 1 or labels.shape[0] != n:
        raise DataError(f"group has shape {labels.shape}; expected ({n},) (one per time)")
    codes = np.unique(labels, return_inverse=True)[1].astype(np.int64)
    n_groups = int(codes.max(initial=-1)) + 1
    if n_groups < 2:
        raise DataError(f"group has {n_groups} distinct label(s); expected at least 2")
    return codes


def _observed_minus_expected(
    at_risk: FloatArray, deaths: FloatArray
) -> tuple[FloatArray, FloatArray]:
    """Sum over times of O - E per group (k,) and the hypergeometric covariance (k, k).

    ``at_risk`` and ``deaths`` are (m, k): per unique time and group.
    """
    n = at_risk.sum(axis=1)
    d = deaths.sum(axis=1)
    expected = at_risk * (d / n)[:, None]
    spread = np.divide(n - d, n - 1, out=np.ones_like(n), where=n > 1)
    factor = spread * d / n**2  # (m,)
    cov = np.diag((factor[:, None] * at_risk).T @ n) - (at_risk.T * factor) @ at_risk
    return (deaths - expected).sum(axis=0), cov


def logrank_test(time: npt.ArrayLike, event: npt.ArrayLike, group: npt.ArrayLike) -> LogRankResult:
    """Log-rank test; matches ``lifelines.statistics.multivariate_logrank_test``.

    Args:
        time: (n,) event or censoring times in days.
        event: (n,) bool or 0/1, 1 = event observed.
        group: (n,) group labels (any sortable values), at least two distinct.
    """
    t, e = _check_survival(time, event)
    _check_not_empty(t.shape[0])
    codes = _check_groups(group, t.shape[0])
    k = int(codes.max()) + 1
    unique, row = np.unique(t, return_inverse=True)
    leaving = np.zeros((unique.shape[0], k))
    deaths = np.zeros((unique.shape[0], k))
    np.add.at(leaving, (row, codes), 1.0)
    np.add.at(deaths, (row, codes), e.astype(np.float64))
    at_risk = leaving[::-1].cumsum(axis=0)[::-1]
    diff, cov = _observed_minus_expected(at_risk, deaths)
    statistic = float(diff[:-1] @ np.linalg.pinv(cov[:-1, :-1]) @ diff[:-1])
    return LogRankResult(statistic, float(chi2.sf(statistic, k - 1)), k - 1)


def logrank_from_counts(at_risk: npt.ArrayLike, deaths: npt.ArrayLike) -> LogRankResult:
    """Log-rank test from (m, k) numbers at risk and deaths per time and group.

    The federated form: sites count on a common time grid and the hub sums. With the
    exact event times as the grid it equals :func:`logrank_test` on the pooled rows; with
    coarser intervals it is the grouped-data log-rank test.
    """
    n = np.asarray(at_risk, dtype=np.float64)
    d = np.asarray(deaths, dtype=np.float64)
    if n.ndim != 2 or n.shape != d.shape or n.shape[1] < 2:
        raise DataError(
            f"at_risk and deaths must both be (times, groups >= 2); got {n.shape}, {d.shape}"
        )
    if np.any(d < 0) or np.any(d > n):
        raise DataError("counts must satisfy 0 <= deaths <= at_risk")
    keep = n.sum(axis=1) > 0
    diff, cov = _observed_minus_expected(n[keep], d[keep])
    k = n.shape[1]
    statistic = float(diff[:-1] @ np.linalg.pinv(cov[:-1, :-1]) @ diff[:-1])
    return LogRankResult(statistic, float(chi2.sf(statistic, k - 1)), k - 1)

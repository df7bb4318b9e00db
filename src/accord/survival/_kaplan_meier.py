"""Kaplan-Meier estimator of a survival function, and of the censoring distribution.

Confidence intervals use Greenwood's variance on the log(-log S) scale ("exponential
Greenwood"), as lifelines' ``KaplanMeierFitter`` does by default.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy.stats import norm

from accord.core import DataError
from accord.survival._checks import FloatArray, _check_not_empty, _check_survival

__all__ = ["KaplanMeierCurve", "censoring_survival", "kaplan_meier", "kaplan_meier_from_counts"]


@dataclass(frozen=True)
class KaplanMeierCurve:
    """A Kaplan-Meier curve: a right-continuous step function, 1 before the first time.

    Attributes (all shape (m,), one entry per unique observed time):
        time: unique event and censoring times in days, ascending.
        survival: estimated probability of surviving beyond each time.
        at_risk: number of subjects at risk just before each time.
        events: number of events at each time (censorings, for a censoring curve).
        lower, upper: pointwise confidence bounds of ``survival``.
    """

    time: FloatArray
    survival: FloatArray
    at_risk: FloatArray
    events: FloatArray
    lower: FloatArray
    upper: FloatArray

    def survival_at(self, t: npt.ArrayLike) -> FloatArray:
        """Survival at arbitrary times ``t`` (days), shape like ``t``.

        1 before the first time; after the last time the last value is carried forward.
        """
        query = np.asarray(t, dtype=np.float64)
        idx = np.searchsorted(self.time, query, side="right")
        result: FloatArray = np.concatenate([[1.0], self.survival])[idx]
        return result


def _check_confidence(confidence: float) -> None:
    if not 0.0 < confidence < 1.0:
        raise DataError("confidence is outside (0, 1); expected e.g. 0.95")


def _log_log_bounds(
    survival: FloatArray, variance: FloatArray, confidence: float
) -> tuple[FloatArray, FloatArray]:
    """Exponential-Greenwood bounds: S ** exp(-/+ z * sqrt(V) / log S); 1 where S = 1."""
    z = norm.ppf(0.5 + confidence / 2.0)
    positive = survival > 0
    log_s = np.log(survival, out=np.full_like(survival, -np.inf), where=positive)
    theta = np.divide(
        z * np.sqrt(variance), log_s, out=np.zeros_like(survival), where=positive & (log_s < 0)
    )
    lower = np.where(positive, survival ** np.exp(-theta), 0.0)
    upper = np.where(positive, survival ** np.exp(theta), 0.0)
    return lower, upper


def _product_limit(
    time: FloatArray, at_risk: FloatArray, events: FloatArray, confidence: float
) -> KaplanMeierCurve:
    """Build the curve from per-time counts (``at_risk`` > 0 wherever ``events`` > 0)."""
    hazard = np.divide(events, at_risk, out=np.zeros_like(events), where=events > 0)
    survival = np.asarray(np.cumprod(1.0 - hazard), dtype=np.float64)
    remaining = at_risk - events
    terms = np.divide(
        events, at_risk * remaining, out=np.zeros_like(events), where=(events > 0) & (remaining > 0)
    )
    lower, upper = _log_log_bounds(survival, np.cumsum(terms), confidence)
    return KaplanMeierCurve(time, survival, at_risk, events, lower, upper)


def _counts(time: FloatArray, event: npt.NDArray[np.bool_]) -> tuple[FloatArray, ...]:
    """Unique times, number at risk before each, events and censorings at each."""
    unique, group = np.unique(time, return_inverse=True)
    total = np.bincount(group, minlength=unique.shape[0]).astype(np.float64)
    events = np.bincount(group, weights=event, minlength=unique.shape[0]).astype(np.float64)
    at_risk = time.shape[0] - np.concatenate([[0.0], np.cumsum(total)[:-1]])
    return unique, at_risk, events, total - events


def kaplan_meier(
    time: npt.ArrayLike, event: npt.ArrayLike, confidence: float = 0.95
) -> KaplanMeierCurve:
    """Kaplan-Meier estimate of the survival function.

    Args:
        time: (n,) event or censoring times in days.
        event: (n,) bool or 0/1, 1 = event observed.
        confidence: level of the pointwise log-log confidence interval.
    """
    _check_confidence(confidence)
    t, e = _check_survival(time, event)
    _check_not_empty(t.shape[0])
    unique, at_risk, events, _ = _counts(t, e)
    return _product_limit(unique, at_risk, events, confidence)


def kaplan_meier_from_counts(
    time: npt.ArrayLike,
    at_risk: npt.ArrayLike,
    events: npt.ArrayLike,
    confidence: float = 0.95,
) -> KaplanMeierCurve:
    """Kaplan-Meier estimate from counts already summed (e.g. across sites).

    Args:
        time: (m,) ascending times in days (e.g. the ends of a common grid of intervals).
        at_risk: (m,) number at risk at the start of each time (interval).
        events: (m,) events at that time (in that interval).

    Federated curves: every site counts its patients on the same grid, the hub sums the
    counts (securely when secure aggregation is on) and calls this; with a grid of the
    exact event times it equals :func:`kaplan_meier` on the pooled rows.
    """
    _check_confidence(confidence)
    t = np.asarray(time, dtype=np.float64)
    n = np.asarray(at_risk, dtype=np.float64)
    d = np.asarray(events, dtype=np.float64)
    if not t.ndim == n.ndim == d.ndim == 1 or not t.shape == n.shape == d.shape:
        raise DataError(
            f"time, at_risk and events must be 1-D of one length; got {t.shape}, "
            f"{n.shape}, {d.shape}"
        )
    if np.any(np.diff(t) <= 0):
        raise DataError("time must be strictly ascending")
    if np.any(n < 0) or np.any(d < 0) or np.any(d > n):
        raise DataError("counts must satisfy 0 <= events <= at_risk")
    return _product_limit(t, n, d, confidence)


def censoring_survival(
    time_train: npt.ArrayLike, event_train: npt.ArrayLike, confidence: float = 0.95
) -> KaplanMeierCurve:
    """Kaplan-Meier estimate G(t) of the censoring distribution (for IPCW metrics).

    Censorings are the "events"; at a tied time, events are taken to happen first, so
    they leave the risk set before the censorings (as scikit-survival does). ``events``
    of the result counts censorings.
    """
    _check_confidence(confidence)
    t, e = _check_survival(time_train, event_train, prefix="train")
    _check_not_empty(t.shape[0], "time_train")
    unique, at_risk, events, censored = _counts(t, e)
    return _product_limit(unique, at_risk - events, censored, confidence)

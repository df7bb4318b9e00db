"""Brier score of predicted survival probabilities, with IPCW (Graf et al. 1999)."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from accord.core import DataError
from accord.survival._checks import (
    FloatArray,
    _check_matrix,
    _check_survival,
    _check_times_in_follow_up,
)
from accord.survival._ipcw import _censoring_at
from accord.survival._kaplan_meier import censoring_survival

__all__ = ["brier_score", "integrated_brier_score"]


def _inverse(g: FloatArray) -> FloatArray:
    """1 / G, with 0 where G = 0 (those terms are dropped, as scikit-survival does)."""
    return np.divide(1.0, g, out=np.zeros_like(g), where=g > 0)


def brier_score(
    time_train: npt.ArrayLike,
    event_train: npt.ArrayLike,
    time: npt.ArrayLike,
    event: npt.ArrayLike,
    survival_prob: npt.ArrayLike,
    times: npt.ArrayLike,
) -> FloatArray:
    """IPCW Brier score at each time; matches ``sksurv.metrics.brier_score``.

    Args:
        time_train, event_train: (n_train,) data that estimate the censoring distribution.
        time, event: (n,) test times (days) and event indicators.
        survival_prob: (n, m) predicted probability of surviving beyond each of ``times``.
        times: (m,) strictly increasing times (days) within [min(time), max(time)).

    Returns:
        (m,) Brier scores, lower is better.
    """
    t, e = _check_survival(time, event)
    grid = _check_times_in_follow_up(times, t)
    prob = _check_matrix(survival_prob, (t.shape[0], grid.shape[0]), "survival_prob")
    curve = censoring_survival(time_train, event_train)
    weight_case = _inverse(_censoring_at(curve, t, "time"))  # (n,) 1 / G(t_i)
    weight_control = _inverse(_censoring_at(curve, grid, "times"))  # (m,) 1 / G(u)
    is_case = (t[:, None] <= grid[None, :]) & e[:, None]
    is_control = t[:, None] > grid[None, :]
    terms = prob**2 * is_case * weight_case[:, None]
    terms = terms + (1.0 - prob) ** 2 * is_control * weight_control[None, :]
    scores: FloatArray = terms.mean(axis=0)
    return scores


def integrated_brier_score(
    time_train: npt.ArrayLike,
    event_train: npt.ArrayLike,
    time: npt.ArrayLike,
    event: npt.ArrayLike,
    survival_prob: npt.ArrayLike,
    times: npt.ArrayLike,
) -> float:
    """Brier score integrated over ``times`` (trapezoid rule) and divided by their span.

    Arguments as :func:`brier_score`; needs at least two times.
    """
    grid = np.asarray(times, dtype=np.float64)
    if grid.ndim != 1 or grid.shape[0] < 2:
        raise DataError("times has fewer than 2 entries; expected at least 2 times")
    scores = brier_score(time_train, event_train, time, event, survival_prob, grid)
    return float(np.trapezoid(scores, grid) / (grid[-1] - grid[0]))

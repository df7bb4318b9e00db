"""Cumulative/dynamic time-dependent AUC with IPCW (Uno et al. 2007; Hung & Chiang 2010)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from accord.survival._checks import (
    BoolArray,
    FloatArray,
    _check_matrix,
    _check_survival,
    _check_times_in_follow_up,
)
from accord.survival._ipcw import _inverse_censoring_weights
from accord.survival._kaplan_meier import kaplan_meier

__all__ = ["TimeDependentAUC", "time_dependent_auc"]


@dataclass(frozen=True)
class TimeDependentAUC:
    """AUC at each of ``times`` (days), shape (m,), and its survival-weighted mean."""

    times: FloatArray
    auc: FloatArray
    mean_auc: float


def _auc_at(
    t: float, time: FloatArray, event: BoolArray, risk: FloatArray, ipcw: FloatArray
) -> float:
    """Cases: events by ``t`` (weighted 1/G); controls: still at risk after ``t``."""
    order = np.argsort(-risk, kind="stable")
    r = risk[order]
    is_case = (time[order] <= t) & event[order]
    is_control = time[order] > t
    true_pos = np.cumsum(is_case * ipcw[order])
    false_pos = np.cumsum(is_control).astype(np.float64)
    if true_pos[-1] == 0 or false_pos[-1] == 0:
        return float("nan")  # no case or no control at t: AUC undefined
    true_pos, false_pos = true_pos / true_pos[-1], false_pos / false_pos[-1]
    last_of_tie = np.r_[r[1:] != r[:-1], True]  # one ROC point per distinct threshold
    tp = np.r_[0.0, true_pos[last_of_tie]]
    fp = np.r_[0.0, false_pos[last_of_tie]]
    return float(np.trapezoid(tp, fp))


def time_dependent_auc(
    time_train: npt.ArrayLike,
    event_train: npt.ArrayLike,
    time: npt.ArrayLike,
    event: npt.ArrayLike,
    risk: npt.ArrayLike,
    times: npt.ArrayLike,
) -> TimeDependentAUC:
    """Cumulative/dynamic AUC; matches ``sksurv.metrics.cumulative_dynamic_auc``.

    Args:
        time_train, event_train: (n_train,) data that estimate the censoring distribution.
        time, event: (n,) test times (days) and event indicators.
        risk: (n,) risk scores, or (n, m) with one column per evaluation time.
        times: (m,) strictly increasing times (days) within [min(time), max(time)).

    ``mean_auc`` weights each AUC by the drop of the test Kaplan-Meier curve at its time.
    """
    t, e = _check_survival(time, event)
    grid = _check_times_in_follow_up(times, t)
    scores = _check_matrix(risk, (t.shape[0], grid.shape[0]), "risk")
    ipcw = _inverse_censoring_weights(time_train, event_train, t, e)
    auc = np.array([_auc_at(float(u), t, e, scores[:, j], ipcw) for j, u in enumerate(grid)])
    if grid.shape[0] == 1:
        return TimeDependentAUC(grid, auc, float(auc[0]))
    survival = kaplan_meier(t, e).survival_at(grid)
    drop = -np.diff(np.r_[1.0, survival])
    return TimeDependentAUC(grid, auc, float((auc * drop).sum() / (1.0 - survival[-1])))

"""Inverse probability of censoring weights, shared by Uno's C, td-AUC and the Brier score."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from accord.core import DataError
from accord.survival._checks import BoolArray, FloatArray
from accord.survival._kaplan_meier import KaplanMeierCurve, censoring_survival


def _censoring_at(curve: KaplanMeierCurve, t: FloatArray, name: str) -> FloatArray:
    """G(t) from the training censoring curve; refuses times the curve cannot reach.

    Beyond the last training time G is unknown unless it already dropped to zero.
    """
    beyond = int(np.count_nonzero(t > curve.time[-1]))
    if beyond and curve.survival[-1] > 0:
        raise DataError(
            f"{name} has {beyond} values beyond the largest training time; "
            "expected times within the training follow-up"
        )
    return curve.survival_at(t)


def _inverse_censoring_weights(
    time_train: npt.ArrayLike, event_train: npt.ArrayLike, time: FloatArray, event: BoolArray
) -> FloatArray:
    """1 / G(t_i) for events, 0 for censored subjects: shape (n,)."""
    curve = censoring_survival(time_train, event_train)
    observed = event
    g = _censoring_at(curve, time[observed], "time")
    zero = int(np.count_nonzero(g <= 0))
    if zero:
        raise DataError(
            f"time has {zero} event times where the censoring survival is zero; "
            "expected events before the last training censoring (or set tau)"
        )
    weights = np.zeros(time.shape[0])
    weights[observed] = 1.0 / g
    return weights

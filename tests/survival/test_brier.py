"""Tests of accord.survival._brier against scikit-survival."""

from __future__ import annotations

import numpy as np
import pytest

from accord.core import DataError
from accord.survival import brier_score, integrated_brier_score

from .conftest import make_cohort


def _data() -> tuple[np.ndarray, ...]:
    train, test = make_cohort(n=400, seed=31), make_cohort(n=200, seed=32)
    keep = test.time < train.time.max()
    times = np.array([30.0, 90.0, 180.0, 365.0, 500.0])
    prob = np.exp(-np.outer(np.exp(test.risk[keep]), times / 365.0))
    return train.time, train.event, test.time[keep], test.event[keep], prob, times


def test_matches_sksurv() -> None:
    from sksurv.metrics import brier_score as sk_brier
    from sksurv.metrics import integrated_brier_score as sk_ibs
    from sksurv.util import Surv

    tt, et, t, e, prob, times = _data()
    y_train, y_test = Surv.from_arrays(et, tt), Surv.from_arrays(e, t)
    np.testing.assert_allclose(
        brier_score(tt, et, t, e, prob, times),
        sk_brier(y_train, y_test, prob, times)[1],
        rtol=1e-12,
    )
    assert integrated_brier_score(tt, et, t, e, prob, times) == pytest.approx(
        sk_ibs(y_train, y_test, prob, times), rel=1e-12
    )


def test_perfect_prediction_without_censoring() -> None:
    time = np.array([1.0, 2.0, 3.0, 4.0])
    event = np.ones(4)
    times = np.array([1.5, 2.5])
    prob = (time[:, None] > times[None, :]).astype(float)
    np.testing.assert_allclose(brier_score(time, event, time, event, prob, times), [0.0, 0.0])


def test_uninformative_half() -> None:
    time = np.array([1.0, 2.0, 3.0, 4.0])
    event = np.ones(4)
    prob = np.full((4, 1), 0.5)
    np.testing.assert_allclose(brier_score(time, event, time, event, prob, [2.5]), [0.25])


def test_ibs_needs_two_times() -> None:
    with pytest.raises(DataError, match="times has fewer than 2 entries"):
        integrated_brier_score([1.0, 4.0], [1, 1], [1.0, 4.0], [1, 1], np.ones((2, 1)), [2.0])


def test_prob_shape() -> None:
    with pytest.raises(DataError, match=r"survival_prob has shape \(2, 2\); expected \(2, 1\)"):
        brier_score([1.0, 4.0], [1, 1], [1.0, 4.0], [1, 1], np.ones((2, 2)), [2.0])

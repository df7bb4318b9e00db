"""Tests of accord.survival._auc against scikit-survival."""

from __future__ import annotations

import numpy as np
import pytest

from accord.core import DataError
from accord.survival import time_dependent_auc

from .conftest import make_cohort


def _data() -> tuple[np.ndarray, ...]:
    train, test = make_cohort(n=400, seed=21), make_cohort(n=200, seed=22)
    keep = test.time < train.time.max()
    return train.time, train.event, test.time[keep], test.event[keep], test.risk[keep]


@pytest.mark.parametrize("tied_risk", [False, True])
def test_matches_sksurv(tied_risk: bool) -> None:
    from sksurv.metrics import cumulative_dynamic_auc
    from sksurv.util import Surv

    tt, et, t, e, r = _data()
    r = np.round(r) if tied_risk else r
    times = np.array([60.0, 180.0, 365.0, 540.0])
    expected_auc, expected_mean = cumulative_dynamic_auc(
        Surv.from_arrays(et, tt), Surv.from_arrays(e, t), r, times
    )
    got = time_dependent_auc(tt, et, t, e, r, times)
    np.testing.assert_allclose(got.auc, expected_auc, rtol=1e-12)
    assert got.mean_auc == pytest.approx(expected_mean, rel=1e-12)


def test_per_time_scores_and_single_time() -> None:
    from sksurv.metrics import cumulative_dynamic_auc
    from sksurv.util import Surv

    tt, et, t, e, r = _data()
    scores = np.column_stack([r, -r])
    times = np.array([100.0, 300.0])
    got = time_dependent_auc(tt, et, t, e, scores, times)
    expected = cumulative_dynamic_auc(
        Surv.from_arrays(et, tt), Surv.from_arrays(e, t), scores, times
    )
    np.testing.assert_allclose(got.auc, expected[0], rtol=1e-12)
    one = time_dependent_auc(tt, et, t, e, r, [300.0])
    assert one.mean_auc == one.auc[0]


def test_perfect_ranking() -> None:
    time = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    event = np.ones(5)
    got = time_dependent_auc(time, event, time, event, -time, [2.5])
    assert got.auc[0] == pytest.approx(1.0)


def test_times_outside_follow_up() -> None:
    with pytest.raises(DataError, match="times has 1 values outside the follow-up"):
        time_dependent_auc([1.0, 5.0], [1, 1], [1.0, 4.0], [1, 1], [0.1, 0.2], [4.0])


def test_times_unsorted() -> None:
    with pytest.raises(DataError, match="times is not strictly increasing"):
        time_dependent_auc([1.0, 5.0], [1, 1], [1.0, 4.0], [1, 1], [0.1, 0.2], [3.0, 2.0])


def test_risk_shape() -> None:
    with pytest.raises(DataError, match=r"risk has shape \(2, 3\); expected \(2, 1\)"):
        time_dependent_auc([1.0, 5.0], [1, 1], [1.0, 4.0], [1, 1], np.ones((2, 3)), [2.0])

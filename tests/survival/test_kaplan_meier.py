"""Tests of accord.survival._kaplan_meier against lifelines and scikit-survival."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from accord.core import DataError
from accord.survival import censoring_survival, kaplan_meier

from .conftest import Cohort


class DataWithTiedTimes:
    """times (1, 1, 2, 3), events (1, 0, 1, 1): S = 3/4, then 3/4 * 1/2, then 0."""

    time = np.array([1.0, 1.0, 2.0, 3.0])
    event = np.array([1, 0, 1, 1])
    survival = np.array([0.75, 0.375, 0.0])
    at_risk = np.array([4.0, 2.0, 1.0])


def test_hand_computed() -> None:
    c = DataWithTiedTimes
    curve = kaplan_meier(c.time, c.event)
    np.testing.assert_allclose(curve.time, [1.0, 2.0, 3.0])
    np.testing.assert_allclose(curve.survival, c.survival)
    np.testing.assert_allclose(curve.at_risk, c.at_risk)
    np.testing.assert_allclose(
        curve.survival_at([0.5, 1.0, 1.5, 2.0, 10.0]), [1, 0.75, 0.75, 0.375, 0]
    )
    assert curve.lower[-1] == 0.0 and curve.upper[-1] == 0.0


def test_all_censored() -> None:
    curve = kaplan_meier([1.0, 2.0], [0, 0])
    np.testing.assert_allclose(curve.survival, [1.0, 1.0])
    np.testing.assert_allclose(curve.lower, [1.0, 1.0])


@pytest.mark.parametrize("confidence", [0.95, 0.8])
def test_matches_lifelines(cohort: Cohort, confidence: float) -> None:
    from lifelines import KaplanMeierFitter

    kmf = KaplanMeierFitter(alpha=1 - confidence).fit(cohort.time, cohort.event)
    curve = kaplan_meier(cohort.time, cohort.event, confidence=confidence)
    sf = kmf.survival_function_.iloc[:, 0]
    np.testing.assert_allclose(curve.survival, sf.loc[curve.time].to_numpy(), rtol=1e-12)
    ci = kmf.confidence_interval_.loc[curve.time].to_numpy()
    np.testing.assert_allclose(curve.lower, ci[:, 0], rtol=1e-10)
    np.testing.assert_allclose(curve.upper, ci[:, 1], rtol=1e-10)


def test_censoring_matches_sksurv(cohort: Cohort) -> None:
    from sksurv.nonparametric import CensoringDistributionEstimator
    from sksurv.util import Surv

    est = CensoringDistributionEstimator().fit(Surv.from_arrays(cohort.event, cohort.time))
    curve = censoring_survival(cohort.time, cohort.event)
    query = np.unique(cohort.time)
    np.testing.assert_allclose(curve.survival_at(query), est.predict_proba(query), rtol=1e-12)


@settings(max_examples=60, deadline=None)
@given(
    data=st.integers(min_value=1, max_value=40).flatmap(
        lambda n: st.tuples(
            arrays(np.float64, n, elements=st.integers(0, 15).map(float)), arrays(np.bool_, n)
        )
    )
)
def test_survival_monotone_in_unit_interval(data: tuple[np.ndarray, np.ndarray]) -> None:
    time, event = data
    curve = kaplan_meier(time, event)
    assert np.all((curve.survival >= 0) & (curve.survival <= 1))
    assert np.all(np.diff(curve.survival) <= 0)
    assert np.all(curve.lower <= curve.survival + 1e-12)
    assert np.all(curve.upper >= curve.survival - 1e-12)


class TestErrors:
    def test_empty(self) -> None:
        with pytest.raises(DataError, match="time is empty"):
            kaplan_meier([], [])

    def test_confidence(self) -> None:
        with pytest.raises(DataError, match=r"confidence is outside \(0, 1\)"):
            kaplan_meier([1.0], [1], confidence=1.5)

    def test_two_dimensional_time(self) -> None:
        with pytest.raises(DataError, match="time has 2 dimensions; expected 1"):
            kaplan_meier([[1.0]], [1])

    def test_train_prefix(self) -> None:
        with pytest.raises(DataError, match="event_train has 1 value other than 0 and 1"):
            censoring_survival([1.0, 2.0], [0, 5])

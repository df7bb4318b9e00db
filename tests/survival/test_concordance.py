"""Tests of accord.survival._concordance against lifelines and scikit-survival."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from accord.core import DataError
from accord.survival import (
    ConcordanceCounts,
    concordance_components,
    concordance_counts,
    harrell_c,
    uno_c,
)

from .conftest import Cohort, make_cohort


class DataWithTiedTimes:
    """Hand-computed: times (1, 1, 2, 3), events (1, 1, 0, 1), risk (3, 2, 2, 1).

    Comparable pairs: each event at t=1 with t=2 and t=3 (4 pairs); the two events at t=1
    with each other are not comparable. Event 0 beats both (2 concordant); event 1 ties
    row 2 and beats row 3. The censored row 2 is compared with nobody after it.
    """

    time = np.array([1.0, 1.0, 2.0, 3.0])
    event = np.array([1, 1, 0, 1])
    risk = np.array([3.0, 2.0, 2.0, 1.0])
    expected = ConcordanceCounts(concordant=3, discordant=0, tied_risk=1, comparable=4)


class DataWithCensoredTie:
    """An event and a censoring at the same time are comparable (event first)."""

    time = np.array([5.0, 5.0])
    event = np.array([1, 0])
    risk = np.array([0.2, 0.9])
    expected = ConcordanceCounts(concordant=0, discordant=1, tied_risk=0, comparable=1)


class DataAllCensored:
    time = np.array([1.0, 2.0, 3.0])
    event = np.array([0, 0, 0])
    risk = np.array([0.1, 0.2, 0.3])
    expected = ConcordanceCounts(concordant=0, discordant=0, tied_risk=0, comparable=0)


@pytest.mark.parametrize("case", [DataWithTiedTimes, DataWithCensoredTie, DataAllCensored])
def test_hand_computed(case: type[DataWithTiedTimes]) -> None:
    got = concordance_counts(case.time, case.event, case.risk)
    assert got == case.expected


def test_all_censored_is_nan() -> None:
    assert np.isnan(harrell_c(DataAllCensored.time, DataAllCensored.event, DataAllCensored.risk))


@pytest.mark.parametrize("seed", range(5))
def test_matches_lifelines(seed: int) -> None:
    from lifelines.utils import concordance_index

    c = make_cohort(n=150, seed=seed)
    rng = np.random.default_rng(seed)
    risk = np.round(c.risk + rng.normal(size=150), 1)  # with tied risks
    expected = concordance_index(c.time, -risk, c.event)
    assert harrell_c(c.time, c.event, risk) == pytest.approx(expected, rel=1e-12)


def test_counts_add_across_sites(cohort: Cohort) -> None:
    parts = [
        concordance_counts(cohort.time[m], cohort.event[m], cohort.risk[m])
        for m in (cohort.site == s for s in range(3))
    ]
    total = parts[0] + parts[1] + parts[2]
    assert total.comparable == sum(p.comparable for p in parts)
    assert total.concordant + total.discordant + total.tied_risk == total.comparable


def test_large_cohort_matches_lifelines() -> None:
    """5000 rows with tied times and risks: the O(n log n) counting is exact (its speed is
    measured in bench/kernels.py)."""
    from lifelines.utils import concordance_index

    c = make_cohort(n=5000, seed=1)
    risk = np.round(c.risk, 1)
    assert harrell_c(c.time, c.event, risk) == pytest.approx(
        concordance_index(c.time, -risk, c.event), rel=1e-12
    )


survival_data = st.integers(min_value=2, max_value=40).flatmap(
    lambda n: st.tuples(
        arrays(np.float64, n, elements=st.integers(0, 10).map(float)),
        arrays(np.bool_, n),
        arrays(np.float64, n, elements=st.floats(-5, 5, allow_nan=False)),
    )
)


@settings(max_examples=60, deadline=None)
@given(data=survival_data)
def test_cindex_in_unit_interval_and_counts_consistent(
    data: tuple[np.ndarray, np.ndarray, np.ndarray],
) -> None:
    time, event, risk = data
    counts = concordance_counts(time, event, risk)
    assert counts.concordant + counts.discordant + counts.tied_risk == counts.comparable
    if counts.comparable:
        assert 0.0 <= counts.cindex <= 1.0


@settings(max_examples=60, deadline=None)
@given(data=survival_data)
def test_flipping_risk_flips_c(data: tuple[np.ndarray, np.ndarray, np.ndarray]) -> None:
    time, event, _ = data
    risk = np.arange(time.shape[0], dtype=np.float64)  # no ties in risk
    c = harrell_c(time, event, risk)
    if not np.isnan(c):
        assert harrell_c(time, event, -risk) == pytest.approx(1.0 - c)


@settings(max_examples=40, deadline=None)
@given(data=survival_data, cut=st.integers(min_value=1, max_value=39))
def test_counts_add_across_any_split(
    data: tuple[np.ndarray, np.ndarray, np.ndarray], cut: int
) -> None:
    time, event, risk = data
    cut = min(cut, time.shape[0] - 1)
    a = concordance_counts(time[:cut], event[:cut], risk[:cut])
    b = concordance_counts(time[cut:], event[cut:], risk[cut:])
    total = a + b
    assert total.comparable == a.comparable + b.comparable
    assert total.concordant == a.concordant + b.concordant


def test_components_hand_computed() -> None:
    # DataWithTiedTimes' pairs (0,2) 1, (0,3) 1, (1,2) tie 0.5, (1,3) 1: every row is in 2
    d = DataWithTiedTimes
    parts = concordance_components(d.time, d.event, d.risk)
    np.testing.assert_array_equal(parts.score, [2.0, 1.5, 1.5, 2.0])
    np.testing.assert_array_equal(parts.comparable, [2.0, 2.0, 2.0, 2.0])
    tie = concordance_components(DataWithCensoredTie.time, DataWithCensoredTie.event, [0.2, 0.9])
    np.testing.assert_array_equal(tie.score, [0.0, 0.0])
    np.testing.assert_array_equal(tie.comparable, [1.0, 1.0])


@settings(max_examples=60, deadline=None)
@given(data=survival_data)
def test_components_are_the_pairs_each_subject_is_in(
    data: tuple[np.ndarray, np.ndarray, np.ndarray],
) -> None:
    time, event, risk = data[0], data[1], np.round(data[2])  # tied risks
    comparable = event[:, None] & (
        (time[None, :] > time[:, None]) | ((time[None, :] == time[:, None]) & ~event[None, :])
    )
    score = comparable * ((risk[:, None] > risk[None, :]) + 0.5 * (risk[:, None] == risk[None, :]))
    parts = concordance_components(time, event, risk)
    np.testing.assert_array_equal(parts.score, score.sum(axis=0) + score.sum(axis=1))
    np.testing.assert_array_equal(parts.comparable, comparable.sum(axis=0) + comparable.sum(axis=1))
    counts = concordance_counts(time, event, risk)
    assert parts.comparable.sum() == 2 * counts.comparable
    assert parts.score.sum() == 2 * (counts.concordant + 0.5 * counts.tied_risk)


class TestUno:
    @pytest.mark.parametrize("tau", [None, 300.0])
    def test_matches_sksurv(self, tau: float | None) -> None:
        from sksurv.metrics import concordance_index_ipcw
        from sksurv.util import Surv

        train, test = make_cohort(n=400, seed=2), make_cohort(n=200, seed=3)
        keep = test.time < train.time.max()  # IPCW needs test times within training follow-up
        t, e, r = test.time[keep], test.event[keep], np.round(test.risk[keep], 1)
        expected = concordance_index_ipcw(
            Surv.from_arrays(train.event, train.time), Surv.from_arrays(e, t), r, tau=tau
        )[0]
        got = uno_c(train.time, train.event, t, e, r, tau=tau)
        assert got == pytest.approx(expected, rel=1e-10)

    def test_without_censoring_equals_harrell(self) -> None:
        time = np.array([1.0, 2.0, 3.0, 4.0])
        event = np.ones(4)
        risk = np.array([4.0, 2.0, 3.0, 1.0])
        assert uno_c(time, event, time, event, risk) == pytest.approx(harrell_c(time, event, risk))

    def test_beyond_training_follow_up(self) -> None:
        with pytest.raises(DataError, match="time has 1 values beyond the largest training"):
            uno_c([1.0, 2.0], [0, 1], [1.0, 3.0], [1, 1], [0.1, 0.2])

    def test_bad_tau(self) -> None:
        with pytest.raises(DataError, match="tau is not positive"):
            uno_c([1.0, 2.0], [0, 1], [1.0, 2.0], [1, 1], [0.1, 0.2], tau=0.0)


class TestErrors:
    def test_risk_length(self) -> None:
        with pytest.raises(DataError, match="risk has 2 entries; expected 3"):
            harrell_c([1.0, 2.0, 3.0], [1, 1, 1], [0.1, 0.2])

    def test_nan_risk(self) -> None:
        with pytest.raises(DataError, match="risk has 1 non-finite value; expected finite"):
            harrell_c([1.0, 2.0], [1, 1], [0.1, np.nan])

    def test_negative_time(self) -> None:
        with pytest.raises(DataError, match="time has 2 negative values; expected >= 0"):
            harrell_c([-1.0, -2.0], [1, 1], [0.1, 0.2])

    def test_event_length(self) -> None:
        with pytest.raises(DataError, match="event has 1 entries; expected 2"):
            harrell_c([1.0, 2.0], [1], [0.1, 0.2])

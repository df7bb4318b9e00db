"""Tests of accord.survival._logrank against lifelines."""

from __future__ import annotations

import numpy as np
import pytest

from accord.core import DataError
from accord.survival import logrank_test

from .conftest import make_cohort


@pytest.mark.parametrize("k", [2, 3, 5])
def test_matches_lifelines_multivariate(k: int) -> None:
    from lifelines.statistics import multivariate_logrank_test

    c = make_cohort(n=200, seed=k)
    group = np.random.default_rng(k).integers(0, k, size=200)
    time = c.time * np.where(group == 0, 1.5, 1.0)
    expected = multivariate_logrank_test(time, group, c.event)
    got = logrank_test(time, c.event, group)
    assert got.statistic == pytest.approx(expected.test_statistic, rel=1e-10)
    assert got.p_value == pytest.approx(expected.p_value, rel=1e-8)
    assert got.degrees_of_freedom == k - 1


def test_matches_lifelines_two_sample() -> None:
    from lifelines.statistics import logrank_test as lifelines_logrank

    c = make_cohort(n=120, seed=5)
    a = c.site == 0
    expected = lifelines_logrank(c.time[a], c.time[~a], c.event[a], c.event[~a])
    got = logrank_test(c.time, c.event, np.where(a, "A", "B"))
    assert got.statistic == pytest.approx(expected.test_statistic, rel=1e-10)
    assert got.p_value == pytest.approx(expected.p_value, rel=1e-8)


def test_identical_groups_give_zero() -> None:
    time = np.array([1.0, 2.0, 3.0, 1.0, 2.0, 3.0])
    got = logrank_test(time, np.ones(6), [0, 0, 0, 1, 1, 1])
    assert got.statistic == pytest.approx(0.0, abs=1e-12)
    assert got.p_value == pytest.approx(1.0)


def test_one_group_refused() -> None:
    with pytest.raises(DataError, match="group has 1 distinct label"):
        logrank_test([1.0, 2.0], [1, 1], [0, 0])


def test_group_length() -> None:
    with pytest.raises(DataError, match=r"group has shape \(3,\); expected \(2,\)"):
        logrank_test([1.0, 2.0], [1, 1], [0, 1, 1])

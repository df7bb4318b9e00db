"""Kaplan–Meier and log-rank from summed counts (the federated form) equal the row forms."""

from __future__ import annotations

import numpy as np
import pytest

from accord.core import DataError
from accord.survival import (
    kaplan_meier,
    kaplan_meier_from_counts,
    logrank_from_counts,
    logrank_test,
)


def _data(seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    n = 120
    group = rng.integers(0, 2, n)
    time = np.round(rng.exponential(400.0 * (1 + group), n)) + 1
    event = rng.random(n) < 0.7
    return time, event, group


def _counts_on_exact_times(
    time: np.ndarray, event: np.ndarray, group: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    grid = np.unique(time)
    at_risk = np.array([[(time[group == g] >= t).sum() for t in grid] for g in (0, 1)])
    deaths = np.array([[((time == t) & event & (group == g)).sum() for t in grid] for g in (0, 1)])
    return grid, at_risk.astype(float), deaths.astype(float)


def test_km_from_counts_equals_km_on_rows() -> None:
    time, event, group = _data()
    grid, at_risk, deaths = _counts_on_exact_times(time, event, group)
    rows = kaplan_meier(time[group == 0], event[group == 0])
    counts = kaplan_meier_from_counts(grid, at_risk[0], deaths[0])
    # evaluate both step functions at every grid time
    idx = np.searchsorted(rows.time, grid, side="right") - 1
    expected = np.where(idx >= 0, rows.survival[np.maximum(idx, 0)], 1.0)
    np.testing.assert_allclose(counts.survival, expected, atol=1e-12)


def test_logrank_from_counts_equals_logrank_on_rows() -> None:
    time, event, group = _data(1)
    _, at_risk, deaths = _counts_on_exact_times(time, event, group)
    rows = logrank_test(time, event, group)
    counts = logrank_from_counts(at_risk.T, deaths.T)
    assert counts.statistic == pytest.approx(rows.statistic, rel=1e-9)
    assert counts.p_value == pytest.approx(rows.p_value, rel=1e-9)
    assert counts.degrees_of_freedom == 1


@pytest.mark.parametrize(
    ("time", "at_risk", "events", "match"),
    [
        ([1.0, 1.0], [5.0, 4.0], [1.0, 0.0], "ascending"),
        ([1.0, 2.0], [5.0, 4.0], [6.0, 0.0], "events <= at_risk"),
        ([1.0, 2.0], [5.0], [1.0, 0.0], "one length"),
    ],
)
def test_km_from_counts_rejects_bad_counts(
    time: list[float], at_risk: list[float], events: list[float], match: str
) -> None:
    with pytest.raises(DataError, match=match):
        kaplan_meier_from_counts(time, at_risk, events)


def test_logrank_from_counts_needs_two_groups() -> None:
    with pytest.raises(DataError, match="groups >= 2"):
        logrank_from_counts(np.ones((3, 1)), np.zeros((3, 1)))

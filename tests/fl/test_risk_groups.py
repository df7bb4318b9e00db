"""Site-side risk-group counts: brute-force checks of the grid counting and the median."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from accord.core import DataError
from accord.fl._risk_groups import (
    coarsen_counts,
    group_counts,
    histogram_grid,
    histogram_median,
    risk_histogram,
    risk_moments,
    time_grid,
)


def test_group_counts_match_brute_force() -> None:
    rng = np.random.default_rng(0)
    n = 200
    time = np.round(rng.exponential(500.0, n))  # includes zeros and ties with grid ends
    time[:3] = [0.0, 30.0, 60.0]
    event = rng.random(n) < 0.6
    risk = rng.normal(size=n)
    grid = time_grid(30.0, 900.0)
    counts = group_counts(time, event, risk, 0.1, grid)
    starts = np.concatenate([[-np.inf], grid[:-1]])
    for g, members in enumerate((risk <= 0.1, risk > 0.1)):
        for j, (lo, hi) in enumerate(zip(starts, grid, strict=True)):
            at_risk = np.sum(members & (time > lo))
            events = np.sum(members & event & (time > max(lo, -1.0)) & (time <= hi))
            if j == 0:
                events = np.sum(members & event & (time <= hi))
            assert counts["at_risk"][g, j] == at_risk
            assert counts["events"][g, j] == events
    assert counts["at_risk"][:, 0].sum() == n
    assert np.all(counts["events"] <= counts["at_risk"])
    assert counts["at_risk"].shape == (2, grid.size)  # no axis of one entry per patient


def test_median_from_summed_histograms_is_within_a_bin() -> None:
    rng = np.random.default_rng(1)
    sites = [rng.normal(loc, 1.0, size) for loc, size in ((0.0, 80), (0.5, 120), (-0.3, 60))]
    moments = sum(risk_moments(r)["moments"] for r in sites)
    lo, hi, bins = histogram_grid(moments, 400)
    hist = sum(risk_histogram(r, lo, hi, bins)["histogram"] for r in sites)
    assert hist.shape == (1, bins)
    median = histogram_median(hist, lo, hi)
    assert abs(median - np.median(np.concatenate(sites))) <= (hi - lo) / bins


def test_errors() -> None:
    with pytest.raises(DataError, match="no training risks"):
        histogram_grid(np.zeros((1, 3)))
    with pytest.raises(DataError, match="empty"):
        histogram_median(np.zeros(10), 0.0, 1.0)
    with pytest.raises(DataError, match="time grid"):
        time_grid(0.0, 10.0)


def test_sites_answer_risk_group_tasks_only_under_secure_aggregation(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from accord.core import AggregationError, load_study
    from accord.studies import run_study
    from tests.conftest import synthetic_cohort, write_study

    synthetic_cohort().to_csv(tmp_path / "cohort.csv", index=False)
    study = load_study(write_study(tmp_path, strategy="fedavg", rounds=2, baselines="[]"))
    privacy = study.privacy.model_copy(update={"secure_aggregation": "off"})
    plain = study.model_copy(update={"privacy": privacy})
    sim, results = run_study(plain, tmp_path, 0)
    assert sim.run.risk_groups is None  # no secure sum: the report shows no risk groups
    with pytest.raises(AggregationError, match="only under secure aggregation"):
        sim.run.compute_risk_groups(results[0], "linear_cox")  # and every site refuses if asked
    secure, _ = run_study(study, tmp_path, 0)  # three sites: secure aggregation on
    assert secure.run.risk_groups is not None


def _table(times: list[int], events: list[bool], groups: list[int], step: float = 30.0):  # type: ignore[no-untyped-def]
    t, e, g = np.asarray(times, float), np.asarray(events, bool), np.asarray(groups, int)
    grid = time_grid(step, 30.0 * 24)
    counts = group_counts(t, e, g.astype(float), 0.5, grid)  # group = risk > 0.5
    return grid, counts["at_risk"], counts["events"]


@given(
    st.lists(
        st.tuples(st.integers(0, 800), st.booleans(), st.integers(0, 1)), min_size=0, max_size=80
    ),
    st.integers(1, 8),
)
def test_a_released_km_table_has_no_small_cell(rows, min_cell) -> None:  # type: ignore[no-untyped-def]
    times, events, groups = (list(c) for c in zip(*rows, strict=True)) if rows else ([], [], [])
    grid, at_risk, d = _table(times, events, groups)
    for g in range(2):
        out_grid, out_n, out_d = coarsen_counts(grid, at_risk[g], d[g], min_cell)
        assert out_n.shape == out_d.shape == out_grid.shape
        assert np.all((out_d == 0) | (out_d >= min_cell))
        assert np.all(out_n >= min_cell)
        assert np.all(np.diff(out_grid) > 0) and set(out_grid) <= set(grid)
        assert np.all(out_d <= out_n)
        if out_grid.size:  # what is released adds up to the fine table to its last interval
            stop = int(np.searchsorted(grid, out_grid[-1])) + 1
            assert out_d.sum() == d[g, :stop].sum()
            assert out_n[0] == at_risk[g, 0]


def test_coarsening_merges_intervals_with_few_events_and_stops_where_few_are_at_risk() -> None:
    grid = np.array([30.0, 60.0, 90.0, 120.0, 150.0])
    out_grid, out_n, out_d = coarsen_counts(
        grid, np.array([20.0, 18.0, 15.0, 10.0, 4.0]), np.array([2.0, 3.0, 5.0, 1.0, 1.0]), 5
    )
    np.testing.assert_array_equal(out_grid, [60.0, 90.0])  # 2 + 3 merged; 120's 1 stays home
    np.testing.assert_array_equal(out_n, [20.0, 15.0])
    np.testing.assert_array_equal(out_d, [5.0, 5.0])

"""The federated KM figure (from summed counts) quotes the same test as the row figure."""

from __future__ import annotations

import numpy as np
import pytest

from accord.core import DataError
from accord.report import km_figure, km_figure_from_counts


def test_counts_figure_matches_the_row_figure_on_exact_times() -> None:
    rng = np.random.default_rng(3)
    n = 150
    group = np.where(rng.random(n) < 0.5, "high risk", "low risk")
    time = np.round(rng.exponential(np.where(group == "high risk", 300.0, 700.0))) + 1
    event = rng.random(n) < 0.7
    labels = ("high risk", "low risk")
    grid = np.unique(time)
    at_risk = np.array([[np.sum((group == g) & (time >= t)) for t in grid] for g in labels])
    events = np.array([[np.sum((group == g) & (time == t) & event) for t in grid] for g in labels])
    rows = km_figure(time, event, group, "rows")
    counts = km_figure_from_counts(grid, at_risk, events, labels, "counts")
    assert counts.stats["logrank_p"] == pytest.approx(rows.stats["logrank_p"], rel=1e-9)
    for g in labels:
        assert counts.stats[f"n[{g}]"] == rows.stats[f"n[{g}]"]
        assert counts.stats[f"events[{g}]"] == rows.stats[f"events[{g}]"]
        assert counts.stats[f"median_days[{g}]"] == rows.stats[f"median_days[{g}]"]
    assert "<svg" in counts.svg


def test_counts_figure_rejects_mismatched_shapes() -> None:
    with pytest.raises(DataError, match="groups=2"):
        km_figure_from_counts([30.0, 60.0], np.ones((2, 3)), np.zeros((2, 3)), ("a", "b"), "t")

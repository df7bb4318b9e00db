"""Tests of accord.report._km against hand-computed Kaplan-Meier and accord.survival."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import numpy as np
import pytest

from accord.core import DataError
from accord.report import format_p_value, group_curves, km_figure
from accord.survival import kaplan_meier, logrank_test


def two_groups() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Group "A" dies early (1..6), group "B" late (5..10, one censored at 8)."""
    time = np.array([1, 2, 3, 4, 5, 6, 5, 6, 7, 8, 9, 10], dtype=float)
    event = np.array([1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 1], dtype=bool)
    groups = np.array(["A"] * 6 + ["B"] * 6)
    return time, event, groups


def test_curves_match_hand_computed_kaplan_meier() -> None:
    time, event, groups = two_groups()
    series, stats = group_curves(time, event, groups, min_at_risk=1)
    a, b = series
    np.testing.assert_allclose(a.x, [0, 1, 2, 3, 4, 5, 6])
    np.testing.assert_allclose(a.y, [1, 5 / 6, 4 / 6, 3 / 6, 2 / 6, 1 / 6, 0])
    # B: 6 at risk; deaths at 5, 6, 7; censored at 8; deaths at 9 (2 at risk), 10 (1).
    np.testing.assert_allclose(b.y, [1, 5 / 6, 4 / 6, 3 / 6, 3 / 6, 3 / 12, 0])
    assert stats["median_days[A]"] == 3.0 and stats["median_days[B]"] == 7.0
    curve = kaplan_meier(time[groups == "B"], event[groups == "B"])
    np.testing.assert_allclose(b.lower[1:], curve.lower)  # type: ignore[index]
    np.testing.assert_allclose(b.upper[1:], curve.upper)  # type: ignore[index]


def test_figure_reports_logrank_from_accord_survival() -> None:
    time, event, groups = two_groups()
    figure = km_figure(time, event, groups, "Overall survival", min_at_risk=1)
    expected = logrank_test(time, event, groups)
    assert figure.stats["logrank_p"] == pytest.approx(expected.p_value, rel=1e-12)
    assert figure.stats["logrank_statistic"] == pytest.approx(expected.statistic, rel=1e-12)
    assert figure.stats["logrank_df"] == 1.0
    assert format_p_value(expected.p_value) in figure.caption
    assert f"χ² = {expected.statistic:.2f} on 1 df" in figure.caption
    assert figure.caption.startswith("Overall survival. Kaplan–Meier")
    root = ET.fromstring(figure.svg)
    labels = [t.text for t in root.iter("{http://www.w3.org/2000/svg}text")]
    assert "Survival probability" in labels and "Time (days)" in labels
    assert "A (n=6, events=6)" in labels and "B (n=6, events=5)" in labels
    assert len(root.findall(".//{http://www.w3.org/2000/svg}path[@class='band']")) == 2


def test_curves_end_where_few_remain_at_risk_and_small_counts_are_suppressed() -> None:
    time, event, groups = two_groups()
    series, stats = group_curves(time, event, groups, min_at_risk=5)
    np.testing.assert_allclose(series[0].x, [0, 1, 2])  # 6 then 5 at risk
    assert np.isnan(stats["median_days[A]"])
    assert stats["n[A]"] == 6 and stats["events[B]"] == 5
    small = group_curves(time[:9], event[:9], groups[:9], min_at_risk=5)
    assert small[0][1].name == "B (n=<5, events=<5)"
    assert np.isnan(small[1]["n[B]"])
    figure = km_figure(time, event, groups, "OS")
    assert "fewer than 5 patients remain at risk" in figure.caption


def test_single_group_has_no_test() -> None:
    time, event, _ = two_groups()
    figure = km_figure(time, event, np.array(["all"] * 12), "One group", min_at_risk=1)
    assert "logrank_p" not in figure.stats
    assert "no log-rank test" in figure.caption


@pytest.mark.parametrize(("p", "text"), [(0.0004, "p < 0.001"), (0.0234, "p = 0.023"),
                                         (float("nan"), "p = n/a")])  # fmt: skip
def test_format_p_value(p: float, text: str) -> None:
    assert format_p_value(p) == text


def test_input_errors() -> None:
    with pytest.raises(DataError, match=r"groups has shape \(2,\); expected \(3,\)"):
        km_figure([1, 2, 3], [1, 1, 1], ["a", "b"], "x")
    with pytest.raises(DataError, match="min_at_risk"):
        km_figure([1, 2, 3], [1, 1, 1], ["a", "b", "b"], "x", min_at_risk=0)
    with pytest.raises(DataError, match="negative"):
        km_figure([1, -2, 3], [1, 1, 1], ["a", "b", "b"], "x")

"""Tests of accord.report._svg and its axes: well-formed, labelled, NaN-safe charts."""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET

import numpy as np
import pytest

from accord.core import DataError
from accord.report import Series, bar_chart_with_ci, line_chart, step_chart
from accord.report._axes import format_tick, nice_domain, ticks

NS = {"s": "http://www.w3.org/2000/svg"}


def parse(svg: str) -> ET.Element:
    root = ET.fromstring(svg)
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    return root


def texts(root: ET.Element) -> list[str]:
    return [t.text or "" for t in root.iter("{http://www.w3.org/2000/svg}text")]


def two_series() -> list[Series]:
    x = np.array([0.0, 10.0, 20.0, 30.0])
    return [
        Series("low risk", x, [1.0, 0.9, 0.8, 0.7], [1.0, 0.8, 0.7, 0.6], [1.0, 1.0, 0.9, 0.8]),
        Series("high risk", x, [1.0, 0.6, 0.4, 0.3]),
    ]


@pytest.mark.parametrize(
    ("extent", "expected"),
    [((0.0, 0.93), (0.0, 1.0)), ((3.0, 1234.0), (0.0, 1500.0)), ((0.62, 0.81), (0.6, 0.85))],
)
def test_nice_domain_covers_extent_with_round_ends(
    extent: tuple[float, float], expected: tuple[float, float]
) -> None:
    assert nice_domain(extent) == pytest.approx(expected)


def test_nice_domain_handles_no_data_and_constant() -> None:
    assert nice_domain(None) == (0.0, 1.0)
    lo, hi = nice_domain((2.0, 2.0))
    assert lo < 2.0 < hi


def test_ticks_and_labels() -> None:
    values, step = ticks((0.0, 1.0))
    assert values == pytest.approx([0.0, 0.2, 0.4, 0.6, 0.8, 1.0])
    assert [format_tick(v, step) for v in values[:2]] == ["0.0", "0.2"]
    assert format_tick(1500.0, 500.0) == "1,500"


@pytest.mark.parametrize("chart", [line_chart, step_chart])
def test_xy_chart_has_axes_legend_and_bands(chart: object) -> None:
    root = parse(chart(two_series(), "Time (days)", "Survival", 600, 380))  # type: ignore[operator]
    assert root.get("viewBox") == "0 0 600 380"
    labels = texts(root)
    assert "Time (days)" in labels and "Survival" in labels
    assert "low risk" in labels and "high risk" in labels  # legend
    assert {"0", "10", "20", "30"} <= set(labels)  # x ticks
    assert len(root.findall(".//s:g[@class='axis x-axis']", NS)) == 1
    assert len(root.findall(".//s:g[@class='axis y-axis']", NS)) == 1
    assert len(root.findall(".//s:path[@class='band']", NS)) == 1  # only low risk has a CI
    assert len(root.findall(".//s:path[@class='line']", NS)) == 2


def test_step_chart_draws_steps() -> None:
    root = parse(step_chart([Series("a", [0, 1, 2], [1.0, 0.5, 0.25])], "x", "y"))
    d = root.find(".//s:path[@class='line']", NS).get("d")  # type: ignore[union-attr]
    assert d is not None and d.count("L") == 4  # 3 points -> 5 vertices


def test_nan_splits_lines_and_bands() -> None:
    nan = math.nan
    s = Series("gappy", [0, 1, 2, 3, 4], [1, 0.9, nan, 0.7, 0.6], [1, nan, 0.7, 0.6, 0.5],
               [1, 1, 0.9, 0.8, 0.7])  # fmt: skip
    root = parse(line_chart([s], "x", "y"))
    assert len(root.findall(".//s:path[@class='line']", NS)) == 2
    assert len(root.findall(".//s:path[@class='band']", NS)) == 2
    assert "nan" not in ET.tostring(root, encoding="unicode").lower()


def test_all_nan_and_empty_charts_still_render() -> None:
    root = parse(step_chart([Series("none", [math.nan], [math.nan])], "x", "y"))
    assert "no data" in texts(root)
    root = parse(line_chart([], "x", "y"))
    assert "no data" in texts(root)


def test_text_is_escaped() -> None:
    root = parse(line_chart([Series("<script>&", [0, 1], [0, 1])], "a<b", "c&d", title='"t"'))
    assert "<script>&" in texts(root) and "a<b" in texts(root)
    assert root.find("s:title", NS).text == '"t"'  # type: ignore[union-attr]


def test_series_validation() -> None:
    with pytest.raises(DataError, match="series 0 has arrays of unequal length"):
        line_chart([Series("a", [0, 1], [0])], "x", "y")
    with pytest.raises(DataError, match="only one of lower/upper"):
        line_chart([Series("a", [0, 1], [0, 1], lower=[0, 0])], "x", "y")


def test_bar_chart_with_ci_and_reference_lines() -> None:
    svg = bar_chart_with_ci(
        ["site A", "site B", "site C"],
        [0.71, 0.66, math.nan],
        [0.65, 0.58, math.nan],
        [0.77, 0.74, math.nan],
        {"clinical only": 0.62, "oracle": 0.80},
        baseline=0.5,
    )
    root = parse(svg)
    labels = texts(root)
    assert {"site A", "site B", "site C"} <= set(labels)
    assert "0.710 [0.650, 0.770]" in labels and "n/a" in labels
    assert "clinical only = 0.620" in labels and "oracle = 0.800" in labels
    assert "C-index" in labels
    assert len(root.findall(".//s:rect[@class='bar']", NS)) == 2
    assert len(root.findall(".//s:path[@class='ci']", NS)) == 2
    assert len(root.findall(".//s:line[@class='reference']", NS)) == 2


def test_bar_chart_rejects_mismatched_lengths() -> None:
    with pytest.raises(DataError, match="lower has 1 entries; expected 2"):
        bar_chart_with_ci(["a", "b"], [0.5, 0.6], [0.4], [0.6, 0.7])

"""Tests of the matplotlib figures: deterministic bytes, 300-dpi PNG, numbers at risk from
released counts with small cells suppressed, hazard ratios, ROC and calibration."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from accord.core import DataError
from accord.report import (
    Figure,
    at_risk_row,
    calibration_figure,
    colour_scale_figure,
    forest_figure,
    interval_figure,
    km_figure_from_curves,
    roc_figure,
)
from accord.report._km import ReleasedTable
from accord.survival import LogRankResult, kaplan_meier_from_counts

CURVES = [
    ("low risk", [30.0, 60.0, 120.0, 150.0], [40, 35, 30, 12], [0, 5, 6, 0]),
    ("high risk", [30.0, 90.0], [38, 20], [6, 8]),
]
COEFFICIENTS = [
    {"feature": "age", "coef": 0.0198, "se": 0.0098, "hr": 1.02, "hr_low": 1.0,
     "hr_high": 1.04, "p": 0.043},
    {"feature": "grade=3", "coef": 0.698, "se": 0.2, "hr": 2.01, "hr_low": 1.36,
     "hr_high": 2.97, "p": 0.0004},
    {"feature": "stage=IV", "coef": None, "se": None, "hr": None, "hr_low": None,
     "hr_high": None, "p": None},
]  # fmt: skip


def _km() -> Figure:
    return km_figure_from_curves(CURVES, LogRankResult(5.2, 0.0226, 1), "Survival by risk")


def _all_figures() -> list[Figure]:
    return [
        _km(),
        forest_figure(COEFFICIENTS, "Cox fit"),
        interval_figure(
            [("fedavg", 0.7, 0.65, 0.75), ("local:a", 0.6, 0.5, 0.7)],
            "C",
            "c",
            name="c",
            groups=["federated", "local-only"],
        ),
        roc_figure([("model", [0.1, 0.3, 0.6], [0.4, 0.7, 0.9])], "ROC"),
        calibration_figure([0.1, 0.3, 0.5], [0.12, 0.25, 0.6], [40, 3, 30], "Calibration"),
        colour_scale_figure("tile score", "lowest", "highest"),
    ]


def test_two_renders_are_byte_identical() -> None:
    first, second = _all_figures(), _all_figures()
    for a, b in zip(first, second, strict=True):
        assert (a.svg, a.pdf, a.png) == (b.svg, b.pdf, b.png), a.name
        assert a.svg.startswith("<svg") and "<metadata>" not in a.svg
        assert a.pdf.startswith(b"%PDF") and b"CreationDate" not in a.pdf
    # distinct salts: no two figures of one page share an SVG id
    ids = [set(__import__("re").findall(r'id="([^"]+)"', f.svg)) for f in first]
    assert all(not (ids[i] & ids[j]) for i in range(len(ids)) for j in range(i))


def test_png_is_300_dpi_and_files_are_written_then_renamed(tmp_path: Path) -> None:
    figure = _km()
    with Image.open(io.BytesIO(figure.png)) as image:
        assert image.info["dpi"] == pytest.approx((300, 300), abs=0.01)
        assert image.size[0] > 1500  # 6.4 in at 300 dpi, trimmed to the drawing
    pdf, png = figure.write(tmp_path / "figures")
    assert pdf.read_bytes() == figure.pdf and png.read_bytes() == figure.png
    assert sorted(p.name for p in (tmp_path / "figures").iterdir()) == [
        "kaplan_meier.pdf",
        "kaplan_meier.png",
    ]


def test_numbers_at_risk_are_read_at_released_interval_starts() -> None:
    table = ReleasedTable.of(*CURVES[0])
    # intervals start at 0, 30, 60, 120; the table ends at 150
    assert at_risk_row(table, [0, 30, 50, 60, 100, 120, 149, 150, 200], 5) == [
        "40", "35", "35", "30", "30", "12", "12", "—", "—",
    ]  # fmt: skip
    small = ReleasedTable.of("g", [30.0, 60.0], [12, 3], [5, 0])
    assert at_risk_row(small, [0, 30], 5) == ["12", "<5"]  # never the small count itself


def test_km_figure_draws_the_table_and_quotes_the_test() -> None:
    figure = _km()
    assert figure.stats["n[low risk]"] == 40 and figure.stats["events[high risk]"] == 14
    assert figure.stats["logrank_p"] == pytest.approx(0.0226)
    assert "p = 0.023" in figure.caption and "Numbers at risk" in figure.caption
    assert "At risk" in figure.svg and ">35<" in figure.svg.replace(" ", "")
    # the curve is the product-limit estimate of the released counts
    curve = kaplan_meier_from_counts([30.0, 60.0], [40, 35], [0, 5])
    assert curve.survival[-1] == pytest.approx(30 / 35)


def test_km_figure_refuses_ragged_tables() -> None:
    with pytest.raises(DataError, match="group g: at_risk, events and grid_days differ"):
        km_figure_from_curves([("g", [30.0, 60.0], [5], [0, 0])], None, "t")
    with pytest.raises(DataError, match="min_at_risk"):
        km_figure_from_curves(CURVES, None, "t", min_at_risk=0)


def test_forest_figure_lists_every_feature_and_marks_the_non_estimable() -> None:
    figure = forest_figure(COEFFICIENTS, "Cox fit", name="forest_cox")
    assert figure.name == "forest_cox"
    assert figure.stats["hr[grade=3]"] == pytest.approx(2.01)
    for text in ("age", "grade=3", "stage=IV", "not estimable", "2.01 (1.36–2.97), p &lt; 0.001"):
        assert text in figure.svg, text
    assert "log scale" in figure.caption
    with pytest.raises(DataError, match="coefficients row 1 has no 'hr_low'"):
        forest_figure([{"feature": "x", "hr": 1.0, "hr_high": 2.0, "p": 0.5}], "t")


def test_roc_area_and_input_checks() -> None:
    # (0,0) (0.5,0.5) (1,1) is the diagonal; (0,1) is perfect
    assert roc_figure([("m", [0.5], [0.5])], "t").stats["auc[m]"] == pytest.approx(0.5)
    assert roc_figure([("m", [0.0], [1.0])], "t").stats["auc[m]"] == pytest.approx(1.0)
    x, y = [0.1, 0.3, 0.6], [0.4, 0.7, 0.9]
    expected = np.trapezoid([0, 0.4, 0.7, 0.9, 1], [0, 0.1, 0.3, 0.6, 1])
    assert roc_figure([("m", x, y)], "t").stats["auc[m]"] == pytest.approx(expected)
    with pytest.raises(DataError, match="outside \\[0, 1\\]"):
        roc_figure([("m", [1.5], [0.5])], "t")
    with pytest.raises(DataError, match="m: true-positive rate has shape"):
        roc_figure([("m", [0.1, 0.2], [0.5])], "t")


def test_calibration_leaves_small_bins_out() -> None:
    figure = calibration_figure([0.1, 0.3, 0.5], [0.12, 0.25, 0.6], [40, 3, 30], "Cal")
    assert figure.stats == {"bins_shown": 2.0, "bins_suppressed": 1.0}
    assert "1 bin(s) below 5 patients are not shown" in figure.caption
    with pytest.raises(DataError, match="counts has shape"):
        calibration_figure([0.1], [0.1], [1, 2], "Cal")


def test_a_bad_figure_name_is_refused() -> None:
    with pytest.raises(DataError, match="is not a file stem"):
        interval_figure([("a", 0.5, 0.4, 0.6)], "t", "c", name="../x")


def test_importing_the_report_leaves_matplotlib_and_jinja_out() -> None:
    code = (
        "import sys, accord.report; "
        "print(sorted(m for m in ('matplotlib', 'jinja2') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True, timeout=120)  # fmt: skip
    assert done.stdout.strip() == "[]"

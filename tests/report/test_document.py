"""Tests of accord.report._document: a parseable, escaped, self-contained HTML report."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest

from accord.core import DataError
from accord.report import Report, heatmap_overlay, interval_figure, km_figure_from_curves
from accord.survival import LogRankResult

VOID = {"meta", "img", "br", "hr", "link", "input"}


class Checker(HTMLParser):
    """Records tags, text and attributes, and checks that elements are balanced."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.tags: list[str] = []
        self.text: list[str] = []
        self.attrs: list[tuple[str, str | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attrs += attrs
        if tag not in VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attrs += attrs

    def handle_endtag(self, tag: str) -> None:
        assert self.stack and self.stack[-1] == tag, f"unbalanced </{tag}>"
        self.stack.pop()

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def check(html: str) -> Checker:
    checker = Checker()
    checker.feed(html)
    checker.close()
    assert checker.stack == []
    return checker


def full_report() -> Report:
    report = Report("HCC survival", subtitle="Consortium run 7",
                    generated_at=datetime(2024, 7, 1, 12, 30, tzinfo=UTC))  # fmt: skip
    report.summary({"Sites": 3, "Patients": 412, "C-index": "0.71 [0.66, 0.76]"})
    report.status(True, "Ledger verified: 214 entries")
    report.section("Discrimination", intro="Harrell's C per site.")
    report.table(["Site", "C-index", "Patients"], [["A", 0.712, 140], ["B", float("nan"), 1200]],
                 provenance=["ledger entry 104", None], caption="Per-site C-index")  # fmt: skip
    chart = interval_figure([("A", 0.71, 0.65, 0.77), ("B", 0.66, 0.6, 0.72)], "C", "C-index",
                            name="c_per_site", reference_lines={"oracle": 0.8})  # fmt: skip
    report.figure(chart, "C-index per site", provenance="ledger entry 131")
    report.section("Survival")
    curves = [("low", [30.0, 60.0], [10, 6], [0, 5]), ("high", [30.0], [10], [5])]
    km = km_figure_from_curves(curves, LogRankResult(4.0, 0.04, 1), "OS", min_at_risk=5)
    report.figure(km, provenance="ledger entry 140")
    thumb = np.full((40, 60, 3), 230, dtype=np.uint8)
    report.figure(heatmap_overlay(thumb, [[0, 0]], 64, [1.0], 4.0), "Attention", None)
    report.status(False, "Site C refused the task")
    report.paragraph("Closing remarks.")
    return report


def test_report_contains_everything_and_parses() -> None:
    html = full_report().render()
    checker = check(html)
    text = " ".join(checker.text)
    for expected in ["HCC survival", "Consortium run 7", "Summary", "412", "0.71 [0.66, 0.76]",
                     "Ledger verified: 214 entries", "Discrimination", "Harrell's C per site.",
                     "Survival", "ledger entry 104", "ledger entry 131", "ledger entry 140",
                     "Figure 1.", "Figure 2.", "Figure 3.", "Table 1.", "0.712", "1,200", "—",
                     "Site C refused the task", "Closing remarks.", "2024-07-01 12:30 UTC",
                     "site-level"]:  # fmt: skip
        assert expected in text, expected
    assert checker.tags.count("svg") == 2 and checker.tags.count("img") == 1
    assert ("title", "Source: ledger entry 104") in checker.attrs
    assert any(k == "src" and (v or "").startswith("data:image/png;base64,")
               for k, v in checker.attrs)  # fmt: skip
    # self-contained: no scripts, no external resources
    assert "script" not in checker.tags and "link" not in checker.tags
    namespaces = (
        'xmlns="http://www.w3.org/2000/svg"',
        'xmlns:xlink="http://www.w3.org/1999/xlink"',
    )
    assert "http://" not in html.replace(namespaces[0], "").replace(namespaces[1], "")
    assert "https://" not in html


def test_user_text_is_escaped() -> None:
    evil = '<script>alert("x")</script>'
    report = Report(evil, subtitle=evil)
    report.summary({evil: evil}).section(evil, intro=evil).paragraph(evil).status(False, evil)
    report.table([evil], [[evil]], provenance=[evil], caption=evil)
    report.figure(interval_figure([(evil, 0.5, 0.4, 0.6)], evil, evil, name="e"), evil, evil)
    html = report.render()
    assert "<script" not in html
    checker = check(html)
    assert "script" not in checker.tags
    assert sum(evil in t for t in checker.text) >= 8


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('<svg xmlns="http://www.w3.org/2000/svg"><script>x</script></svg>', "<script>"),
        ('<svg xmlns="http://www.w3.org/2000/svg" onload="x()"/>', "event handler"),
        ('<svg xmlns="http://www.w3.org/2000/svg"><image href="http://e.org/a.png"/></svg>',
         "external resource"),
        ("<div>not svg</div>", "root element"),
        ("<svg", "not well-formed"),
        (b"GIF89a", "PNG signature"),
        (b"\x89PNG\r\n\x1a\nbroken", "does not decode"),
    ],
)  # fmt: skip
def test_unsafe_or_broken_figures_are_refused(content: str | bytes, message: str) -> None:
    with pytest.raises(DataError, match=message):
        Report("t").figure(content, "c")


def test_table_shape_errors() -> None:
    with pytest.raises(DataError, match="table row 2 has 1 cells; expected 2"):
        Report("t").table(["a", "b"], [[1, 2], [3]])
    with pytest.raises(DataError, match="provenance has 1 entries; expected 2"):
        Report("t").table(["a"], [[1], [2]], provenance=["x"])


def test_write_is_atomic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "report.html"
    written = full_report().write(target)
    assert written == target
    first = target.read_text(encoding="utf-8")
    check(first)

    def fail(src: str, dst: str) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(OSError, match="disk full"):
        Report("second").write(target)
    assert target.read_text(encoding="utf-8") == first
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.html"]

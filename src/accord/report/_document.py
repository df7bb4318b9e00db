"""The study report: one self-contained HTML file (inline CSS and figures, no scripts).

Build it top to bottom and render::

    report = Report("HCC survival after resection", subtitle="Consortium run 2024-07")
    report.summary({"Sites": 4, "Patients": 812, "Consortium C-index": "0.71 [0.67, 0.75]"})
    report.status(True, "Ledger verified: 214 entries, root 3f9c…")
    report.section("Discrimination", intro="Harrell's C per site on held-out patients.")
    report.table(["Site", "C-index"], rows, provenance=["ledger entry 104", ...])
    report.figure(figure.svg, figure.caption, provenance="ledger entry 131")
    report.write("report.html")

All text is escaped; figures are embedded only after a safety check (SVG without scripts
or external references, PNG that decodes). Tables and figures are numbered in order.
"""

from __future__ import annotations

import contextlib
import math
import os
import tempfile
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from html import escape
from numbers import Integral, Real
from pathlib import Path

from accord.core import DataError
from accord.report._embed import embed_png, embed_svg
from accord.report._style import STYLESHEET

__all__ = ["Report"]

AGGREGATE_NOTE = (
    "All figures and tables are site-level or consortium-level aggregates; the report "
    "contains no patient-level values or identifiers."
)


def format_cell(value: object) -> str:
    """Table text for ``value``: floats to three decimals, NaN/None as an em dash."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, Integral):
        return f"{int(value):,}"
    if isinstance(value, Real):
        number = float(value)
        if math.isnan(number):
            return "—"
        return f"{number:,.0f}" if abs(number) >= 1000 else f"{number:.3f}"
    return str(value)


def _is_number(value: object) -> bool:
    return isinstance(value, Real) and not isinstance(value, bool)


class Report:
    """An HTML report built from sections, paragraphs, tables, figures and status lines.

    Content added before the first :meth:`section` appears at the top, under the
    summary box.
    """

    def __init__(
        self, title: str, *, subtitle: str = "", generated_at: datetime | None = None
    ) -> None:
        self.title = title
        self.subtitle = subtitle
        self.generated_at = generated_at or datetime.now(UTC)
        self._facts: list[tuple[str, str]] = []
        self._preamble: list[str] = []
        self._sections: list[tuple[str, str, list[str]]] = []
        self._tables = 0
        self._figures = 0

    def _add(self, block: str) -> Report:
        (self._sections[-1][2] if self._sections else self._preamble).append(block)
        return self

    def summary(self, facts: Mapping[str, object] | Sequence[tuple[str, object]]) -> Report:
        """Key facts shown in the summary box at the top (replaces earlier ones)."""
        pairs = facts.items() if isinstance(facts, Mapping) else facts
        self._facts = [(str(k), format_cell(v)) for k, v in pairs]
        return self

    def section(self, title: str, intro: str = "") -> Report:
        """Start a new section; later content goes into it."""
        head = f'<p class="intro">{escape(intro)}</p>' if intro else ""
        self._sections.append((title, head, []))
        return self

    def paragraph(self, text: str) -> Report:
        """A paragraph of plain text."""
        return self._add(f"<p>{escape(text)}</p>")

    def status(self, ok: bool, text: str) -> Report:
        """A pass/fail line, e.g. the ledger verification result."""
        kind, mark = ("ok", "✓ Passed") if ok else ("fail", "✗ Failed")
        return self._add(
            f'<div class="status {kind}" role="status"><span class="mark">{mark}</span>'
            f"<span>{escape(text)}</span></div>"
        )

    def table(
        self,
        headers: Sequence[str],
        rows: Sequence[Sequence[object]],
        provenance: Sequence[str | None] | None = None,
        *,
        caption: str = "",
    ) -> Report:
        """A table; ``provenance`` (one per row, e.g. "ledger entry 104") fills a small
        trailing "Source" column and each row's tooltip."""
        if provenance is not None and len(provenance) != len(rows):
            raise DataError(f"provenance has {len(provenance)} entries; expected {len(rows)}")
        for i, row in enumerate(rows):
            if len(row) != len(headers):
                raise DataError(f"table row {i + 1} has {len(row)} cells; expected {len(headers)}")
        self._tables += 1
        numeric = [
            bool(rows) and all(_is_number(r[j]) or r[j] is None for r in rows)
            for j in range(len(headers))
        ]
        head = "".join(
            f'<th scope="col"{_num(n)}>{escape(h)}</th>'
            for h, n in zip(headers, numeric, strict=True)
        )
        if provenance is not None:
            head += '<th class="prov" scope="col">Source</th>'
        body = [
            self._row(
                row, numeric, None if provenance is None else provenance[i], provenance is not None
            )
            for i, row in enumerate(rows)
        ]
        label = f"<b>Table {self._tables}.</b> {escape(caption)}" if caption else ""
        return self._add(
            f'<div class="table-wrap"><table><caption>{label}</caption>'
            f"<thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table></div>"
        )

    @staticmethod
    def _row(
        row: Sequence[object], numeric: Sequence[bool], source: str | None, with_source: bool
    ) -> str:
        cells = "".join(
            f"<td{_num(n)}>{escape(format_cell(v))}</td>" for v, n in zip(row, numeric, strict=True)
        )
        tip = f' title="Source: {escape(source)}"' if source else ""
        if with_source:
            cells += f'<td class="prov">{escape(source or "")}</td>'
        return f"<tr{tip}>{cells}</tr>"

    def figure(self, content: str | bytes, caption: str, provenance: str | None = None) -> Report:
        """A figure: SVG text (inlined) or PNG bytes (as a data URI), numbered, with its
        caption and, when given, the ledger entry that produced it."""
        if isinstance(content, str):
            art = embed_svg(content)
        elif isinstance(content, bytes):
            uri, width, height = embed_png(content)
            art = f'<img src="{uri}" width="{width}" height="{height}" alt="{escape(caption)}">'
        else:
            raise DataError(f"figure content is {type(content).__name__}; expected str or bytes")
        self._figures += 1
        note = f'<span class="prov-note">Source: {escape(provenance)}</span>' if provenance else ""
        return self._add(
            f'<figure><div class="art">{art}</div><figcaption><b>Figure {self._figures}.</b> '
            f"{escape(caption)}{note}</figcaption></figure>"
        )

    def render(self) -> str:
        """The whole report as one HTML document."""
        return "".join([
            '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            f"<title>{escape(self.title)}</title><style>{STYLESHEET}</style></head>",
            '<body><div class="page">', self._masthead(), "<main>", self._summary(),
            *self._preamble, *self._render_sections(), "</main>", self._footer(),
            "</div></body></html>\n",
        ])  # fmt: skip

    def _masthead(self) -> str:
        sub = f'<p class="subtitle">{escape(self.subtitle)}</p>' if self.subtitle else ""
        return (
            f'<header class="masthead"><p class="kicker">accord study report</p>'
            f"<h1>{escape(self.title)}</h1>{sub}</header>"
        )

    def _summary(self) -> str:
        if not self._facts:
            return ""
        items = "".join(
            f"<div><dt>{escape(k)}</dt><dd>{escape(v)}</dd></div>" for k, v in self._facts
        )
        return (
            '<section class="summary" aria-label="Summary"><h2>Summary</h2>'
            f"<dl>{items}</dl></section>"
        )

    def _render_sections(self) -> list[str]:
        return [
            f'<section id="section-{i}"><h2>{escape(title)}</h2>{intro}{"".join(blocks)}</section>'
            for i, (title, intro, blocks) in enumerate(self._sections, 1)
        ]

    def _footer(self) -> str:
        stamp = self.generated_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
        return (
            f"<footer><p>Generated {escape(stamp)} by accord.</p>"
            f"<p>{escape(AGGREGATE_NOTE)}</p></footer>"
        )

    def write(self, path: str | os.PathLike[str]) -> Path:
        """Render and write to ``path`` atomically (a temporary file in the same folder,
        then a rename), so readers never see a partial report. Returns the path."""
        target = Path(path)
        data = self.render().encode("utf-8")
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.chmod(tmp, 0o644)
            os.replace(tmp, target)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise
        return target


def _num(numeric: bool) -> str:
    return ' class="num"' if numeric else ""

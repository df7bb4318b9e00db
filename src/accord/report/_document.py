"""The study report: one self-contained HTML file (inline CSS and figures, no scripts).

Build it top to bottom and render::

    report = Report("HCC survival after resection", subtitle="Consortium run 2024-07")
    report.summary({"Sites": 4, "Patients": 812, "Consortium C-index": "0.71 [0.67, 0.75]"})
    report.status(True, "Ledger verified: 214 entries, root 3f9c…")
    report.section("Discrimination", intro="Harrell's C per site on held-out patients.")
    report.table(["Site", "C-index"], rows, provenance=["ledger entry 104", ...])
    report.figure(figure, provenance="ledger entry 131")   # a rendered Figure
    report.write("report.html")
    report.write_figures("figures")                        # each Figure as PDF and PNG

The page is rendered from the Jinja2 templates in ``accord/report/templates/``
(``report.html.j2``, one macro per block kind in ``blocks.html.j2``, ``style.css``) with
autoescaping on, so every piece of text is escaped; figures are embedded only after a
safety check (SVG without scripts or external references, PNG that decodes). Tables and
figures are numbered in order.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from numbers import Integral, Real
from pathlib import Path
from typing import Any

from accord.core import DataError, write_bytes_atomic
from accord.report._embed import embed_png, embed_svg
from accord.report._render import Figure

__all__ = ["AGGREGATE_NOTE", "Report", "format_cell"]

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


def _environment() -> Any:
    """The templates' Jinja2 environment (imported here: the CLI starts without jinja2)."""
    import jinja2

    return jinja2.Environment(
        loader=jinja2.PackageLoader("accord.report", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
    )


class Report:
    """An HTML report built from sections, paragraphs, tables, figures and status lines.

    Content added before the first :meth:`section` appears at the top, under the
    summary box. ``footer``: the sentences in the footer (by default, that the report holds
    aggregates only; say otherwise when it shows released patient data).
    """

    def __init__(
        self,
        title: str,
        *,
        subtitle: str = "",
        generated_at: datetime | None = None,
        footer: Sequence[str] | None = None,
    ) -> None:
        self.title = title
        self.subtitle = subtitle
        self.generated_at = generated_at or datetime.now(UTC)
        self.footer = [AGGREGATE_NOTE] if footer is None else list(footer)
        self.figures: list[Figure] = []
        self._facts: list[tuple[str, str]] = []
        self._preamble: list[dict[str, Any]] = []
        self._sections: list[dict[str, Any]] = []
        self._tables = 0
        self._figures = 0

    def _add(self, block: dict[str, Any]) -> Report:
        (self._sections[-1]["blocks"] if self._sections else self._preamble).append(block)
        return self

    def summary(self, facts: Mapping[str, object] | Sequence[tuple[str, object]]) -> Report:
        """Key facts shown in the summary box at the top (replaces earlier ones)."""
        pairs = facts.items() if isinstance(facts, Mapping) else facts
        self._facts = [(str(k), format_cell(v)) for k, v in pairs]
        return self

    def section(self, title: str, intro: str = "") -> Report:
        """Start a new section; later content goes into it."""
        self._sections.append({"title": title, "intro": intro, "blocks": []})
        return self

    def paragraph(self, text: str) -> Report:
        """A paragraph of plain text."""
        return self._add({"kind": "paragraph", "text": text})

    def note(self, text: str) -> Report:
        """A highlighted paragraph: how to read what follows."""
        return self._add({"kind": "note", "text": text})

    def glossary(self, items: Sequence[tuple[str, str]]) -> Report:
        """Terms and one plain sentence each (what a metric or an interval means)."""
        return self._add({"kind": "glossary", "terms": list(items)})

    def status(self, ok: bool, text: str) -> Report:
        """A pass/fail line, e.g. the ledger verification result."""
        return self._add({"kind": "status", "ok": ok, "text": text})

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
        return self._add({
            "kind": "table",
            "number": self._tables,
            "caption": caption,
            "headers": list(headers),
            "numeric": numeric,
            "with_source": provenance is not None,
            "rows": [
                {
                    "cells": [format_cell(v) for v in row],
                    "source": None if provenance is None else provenance[i],
                }
                for i, row in enumerate(rows)
            ],
        })  # fmt: skip

    def figure(
        self,
        content: Figure | str | bytes,
        caption: str | None = None,
        provenance: str | None = None,
    ) -> Report:
        """A figure: a rendered :class:`Figure` (its SVG inlined; its PDF and PNG written by
        :meth:`write_figures`), SVG text (inlined) or PNG bytes (as a data URI), numbered,
        with its caption (a Figure's own by default) and, when given, the ledger entry that
        produced it."""
        from markupsafe import Markup

        block: dict[str, Any] = {"kind": "figure", "provenance": provenance, "files": []}
        if isinstance(content, Figure):
            self.figures.append(content)
            block["files"] = [f"figures/{content.name}.pdf", f"figures/{content.name}.png"]
            caption = content.caption if caption is None else caption
            content = content.svg
        if isinstance(content, str):
            block["svg"] = Markup(embed_svg(content))  # checked: no script, no external link
        elif isinstance(content, bytes):
            uri, width, height = embed_png(content)
            block |= {"svg": None, "png_uri": uri, "width": width, "height": height}
        else:
            raise DataError(f"figure content is {type(content).__name__}; expected str or bytes")
        self._figures += 1
        return self._add(block | {"number": self._figures, "caption": caption or ""})

    def render(self) -> str:
        """The whole report as one HTML document."""
        template = _environment().get_template("report.html.j2")
        stamp = self.generated_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
        return str(
            template.render(
                title=self.title,
                subtitle=self.subtitle,
                facts=self._facts,
                preamble=self._preamble,
                sections=self._sections,
                stamp=stamp,
                footer=self.footer,
            )
        )

    def write(self, path: str | os.PathLike[str]) -> Path:
        """Render and write to ``path`` atomically (a temporary file in the same folder,
        then a rename), so readers never see a partial report. Returns the path."""
        target = Path(path)
        write_bytes_atomic(target, self.render().encode("utf-8"))
        return target

    def write_figures(self, folder: str | os.PathLike[str]) -> list[Path]:
        """Every :class:`Figure` of the report as ``folder/NAME.pdf`` and ``NAME.png``
        (300 dpi), each written then renamed. Returns the paths."""
        paths: list[Path] = []
        for figure in self.figures:
            paths.extend(figure.write(Path(folder)))
        return paths

"""Colours and fonts shared by the SVG charts and the HTML report.

Series colours are the Okabe-Ito palette (safe for the common colour-vision deficiencies),
minus its yellow, which is too light on white.
"""

from __future__ import annotations

__all__ = ["FONT_FAMILY", "GRID", "INK", "MUTED", "REFERENCE_COLOURS", "SERIES_COLOURS", "colour"]

FONT_FAMILY = "system-ui, -apple-system, Segoe UI, Roboto, Helvetica Neue, Arial, sans-serif"
INK = "#1f2430"
MUTED = "#5b6473"
GRID = "#e3e6eb"

SERIES_COLOURS = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000")
REFERENCE_COLOURS = ("#D55E00", "#009E73", "#CC79A7", "#E69F00", "#444444")


def colour(index: int, palette: tuple[str, ...] = SERIES_COLOURS) -> str:
    """The ``index``-th colour of ``palette``, cycling."""
    return palette[index % len(palette)]

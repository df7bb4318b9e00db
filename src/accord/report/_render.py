"""Rendering matplotlib figures the same way every time: SVG for the HTML, PDF and PNG for
papers.

matplotlib is imported here, lazily (the CLI starts without it), with the Agg backend
(no display). Output is byte-identical for the same figure: SVG ids are salted with the
figure's name (``svg.hashsalt``: fixed, and distinct per figure so that several SVGs
inlined in one HTML page never share an id), and no creation date or software version is
written into any file's metadata.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from io import BytesIO
from pathlib import Path
from typing import TYPE_CHECKING, Any

from accord.core import DataError, write_bytes_atomic

if TYPE_CHECKING:
    from matplotlib.figure import Figure as MplFigure

__all__ = ["PNG_DPI", "Figure", "render", "style"]

PNG_DPI = 300

#: Okabe-Ito colours (safe for the common colour-vision deficiencies), minus its yellow.
SERIES_COLOURS = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000")
INK, MUTED, GRID = "#1f2430", "#5b6473", "#e3e6eb"

_RC: dict[str, Any] = {
    "font.family": "sans-serif",
    "font.sans-serif": ["DejaVu Sans"],  # ships with matplotlib: the same glyphs everywhere
    "font.size": 9.0,
    "axes.edgecolor": MUTED,
    "axes.labelcolor": INK,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.color": GRID,
    "grid.linewidth": 0.8,
    "xtick.color": MUTED,
    "ytick.color": MUTED,
    "text.color": INK,
    "svg.fonttype": "none",  # text stays text in the HTML (searchable, accessible)
    "pdf.fonttype": 42,  # TrueType in the PDF: editable text for journals
    "path.simplify": False,
}
_METADATA_BLOCK = re.compile(r"\s*<metadata>.*?</metadata>", re.DOTALL)
_ID = re.compile(r'(\sid)="([^"]+)"')
_HREF = re.compile(r'((?:xlink:)?href)="#([^"]+)"')
_URL = re.compile(r"url\(#([^)]+)\)")
_METADATA: dict[str, dict[str, Any]] = {
    "svg": {"Date": None, "Creator": None},
    "pdf": {"CreationDate": None, "ModDate": None, "Creator": None, "Producer": None},
    "png": {"Software": None},
}


@dataclass(frozen=True)
class Figure:
    """A rendered figure: its file stem, SVG text (for inlining), PDF and PNG bytes, the
    caption (plain text) and the statistics it quotes, keyed by name (for tests and the
    ledger)."""

    name: str
    svg: str
    pdf: bytes
    png: bytes
    caption: str
    stats: Mapping[str, float] = field(default_factory=dict)

    def write(self, folder: Path) -> tuple[Path, Path]:
        """``folder/NAME.pdf`` and ``folder/NAME.png`` (300 dpi), each written to a
        temporary file and renamed, so a reader never sees half a figure."""
        folder.mkdir(parents=True, exist_ok=True)
        pdf, png = folder / f"{self.name}.pdf", folder / f"{self.name}.png"
        write_bytes_atomic(pdf, self.pdf)
        write_bytes_atomic(png, self.png)
        return pdf, png


@contextmanager
def style(name: str) -> Iterator[Any]:
    """matplotlib's ``pyplot`` module under the report's style, ids salted with ``name``."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    settings: Any = {**_RC, "svg.hashsalt": f"accord-{name}"}
    with plt.rc_context(settings):
        yield plt


def _svg_element(svg: bytes, name: str) -> str:
    """The ``<svg>`` element alone, as HTML inlines it: no XML declaration or DOCTYPE, no
    RDF ``<metadata>`` block (the PDF and PNG files keep theirs), and every id (and every
    reference to one) prefixed with ``name``: matplotlib numbers its groups ``axes_1``,
    ``line2d_1``… in every figure, and ids must be unique in one HTML page."""
    text = svg.decode("utf-8")
    start = text.find("<svg")
    if start < 0:
        raise DataError("matplotlib wrote no <svg> element; expected one")
    text = _METADATA_BLOCK.sub("", text[start:], count=1)
    text = _ID.sub(lambda m: f'{m[1]}="{name}-{m[2]}"', text)
    text = _HREF.sub(lambda m: f'{m[1]}="#{name}-{m[2]}"', text)
    return _URL.sub(lambda m: f"url(#{name}-{m[1]})", text)


def render(
    name: str,
    draw: Callable[[Any], MplFigure],
    caption: str,
    stats: Mapping[str, float] | None = None,
) -> Figure:
    """Call ``draw(pyplot)`` under the report's style and render its figure as SVG, PDF
    and PNG; the figure is closed afterwards.

    ``name``: the file stem under ``OUT/figures/`` (letters, digits, ``-`` and ``_``).
    """
    if not name or not all(c.isalnum() or c in "-_" for c in name):
        raise DataError(f"figure name {name!r} is not a file stem; expected letters, digits, -_")
    with style(name) as plt:
        figure = draw(plt)
        try:
            out: dict[str, bytes] = {}
            for fmt in ("svg", "pdf", "png"):
                buffer = BytesIO()
                figure.savefig(
                    buffer,
                    format=fmt,
                    dpi=PNG_DPI,
                    metadata=_METADATA[fmt],
                    bbox_inches="tight",
                    pad_inches=0.05,
                )
                out[fmt] = buffer.getvalue()
        finally:
            plt.close(figure)
    return Figure(
        name, _svg_element(out["svg"], name), out["pdf"], out["png"], caption, dict(stats or {})
    )

"""Small SVG element writers: every piece of text is escaped here, once."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

from accord.report._axes import LinearScale, format_tick, ticks
from accord.report._palette import FONT_FAMILY, GRID, INK, MUTED

__all__ = [
    "LegendItem",
    "axis_x",
    "axis_y",
    "legend",
    "legend_height",
    "num",
    "svg_document",
    "text",
]

_CHAR_PX = 6.6  # rough advance of one 12 px sans-serif character
_LEGEND_ROW_PX = 18


def num(value: float) -> str:
    """A coordinate with at most two decimals and no trailing zeros."""
    out = f"{value:.2f}".rstrip("0").rstrip(".")
    return "0" if out in ("", "-0") else out


def text(x: float, y: float, content: str, *, anchor: str = "start", extra: str = "") -> str:
    """A ``<text>`` element with escaped content."""
    attrs = f' text-anchor="{anchor}"' if anchor != "start" else ""
    return f'<text x="{num(x)}" y="{num(y)}"{attrs}{extra}>{escape(content)}</text>'


def svg_document(width: int, height: int, title: str, body: Sequence[str]) -> str:
    """The root ``<svg>`` element: a fixed viewBox that scales down with its container."""
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" role="img" aria-label="{escape(title)}" '
        f'font-family="{FONT_FAMILY}" font-size="12" fill="{INK}">'
        f"<title>{escape(title)}</title>" + "".join(body) + "</svg>"
    )


def axis_x(scale: LinearScale, y_px: float, top_px: float, label: str) -> list[str]:
    """Vertical grid lines, the x axis line, its tick labels and its label."""
    values, step = ticks(scale.domain)
    out = [f'<g class="axis x-axis" stroke="{GRID}" stroke-width="1">']
    out += [
        f'<line x1="{num(scale(v))}" y1="{num(top_px)}" x2="{num(scale(v))}" y2="{num(y_px)}"/>'
        for v in values
    ]
    left, right = scale.pixels
    out.append(
        f'<line x1="{num(left)}" y1="{num(y_px)}" x2="{num(right)}" y2="{num(y_px)}" '
        f'stroke="{MUTED}"/></g><g fill="{MUTED}">'
    )
    out += [text(scale(v), y_px + 16, format_tick(v, step), anchor="middle") for v in values]
    out.append(
        text(
            (left + right) / 2,
            y_px + 36,
            label,
            anchor="middle",
            extra=f' fill="{INK}" font-size="13"',
        )
    )
    out.append("</g>")
    return out


def axis_y(scale: LinearScale, x_px: float, right_px: float, label: str) -> list[str]:
    """Horizontal grid lines, the y axis line, its tick labels and its (rotated) label."""
    values, step = ticks(scale.domain)
    out = [f'<g class="axis y-axis" stroke="{GRID}" stroke-width="1">']
    out += [
        f'<line x1="{num(x_px)}" y1="{num(scale(v))}" x2="{num(right_px)}" y2="{num(scale(v))}"/>'
        for v in values
    ]
    bottom, top = scale.pixels
    out.append(
        f'<line x1="{num(x_px)}" y1="{num(top)}" x2="{num(x_px)}" y2="{num(bottom)}" '
        f'stroke="{MUTED}"/></g><g fill="{MUTED}">'
    )
    out += [text(x_px - 6, scale(v) + 4, format_tick(v, step), anchor="end") for v in values]
    mid = (top + bottom) / 2
    out.append(
        text(
            0,
            0,
            label,
            anchor="middle",
            extra=(
                f' fill="{INK}" font-size="13" transform="translate(16 {num(mid)}) rotate(-90)"'
            ),
        )
    )
    out.append("</g>")
    return out


@dataclass(frozen=True)
class LegendItem:
    """One legend entry; ``dashed`` draws the swatch as a dashed line (reference lines)."""

    name: str
    colour: str
    dashed: bool = False


def _item_width(item: LegendItem) -> float:
    return 28 + _CHAR_PX * len(item.name) + 14


def _rows(items: Sequence[LegendItem], width: float) -> list[list[LegendItem]]:
    rows: list[list[LegendItem]] = [[]]
    used = 0.0
    for item in items:
        w = _item_width(item)
        if rows[-1] and used + w > width:
            rows.append([])
            used = 0.0
        rows[-1].append(item)
        used += w
    return rows if rows[0] else []


def legend_height(items: Sequence[LegendItem], width: float) -> float:
    """Pixels a legend of ``items`` wrapped at ``width`` needs (0 without items)."""
    return len(_rows(items, width)) * _LEGEND_ROW_PX


def legend(items: Sequence[LegendItem], left: float, top: float, width: float) -> list[str]:
    """A legend laid out in rows above the plot area."""
    out = ['<g class="legend">']
    for r, row in enumerate(_rows(items, width)):
        y = top + r * _LEGEND_ROW_PX + 9
        x = left
        for item in row:
            dash = ' stroke-dasharray="5 3"' if item.dashed else ""
            out.append(
                f'<line x1="{num(x)}" y1="{num(y)}" x2="{num(x + 22)}" y2="{num(y)}" '
                f'stroke="{item.colour}" stroke-width="{2 if item.dashed else 3}"{dash}/>'
            )
            out.append(text(x + 28, y + 4, item.name))
            x += _item_width(item)
    out.append("</g>")
    return out

"""Self-contained SVG charts as strings: line and step charts with confidence bands, and
horizontal bars with confidence intervals against reference lines.

Every chart is one ``<svg>`` element with a fixed ``viewBox`` (it scales down with its
container), a ``<title>``, axes with "nice" ticks and a legend above the plot. Non-finite
values are skipped: a NaN splits a line or band into separate pieces, and a bar with a NaN
value is drawn as "n/a". Values outside an explicit range are clamped to its edge.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from html import escape

import numpy as np
import numpy.typing as npt

from accord.core import DataError
from accord.report._axes import LinearScale, finite_extent, nice_domain
from accord.report._elements import (
    LegendItem,
    axis_x,
    axis_y,
    legend,
    legend_height,
    num,
    svg_document,
    text,
)
from accord.report._palette import MUTED, REFERENCE_COLOURS, colour

__all__ = ["Series", "bar_chart_with_ci", "line_chart", "step_chart"]

FloatArray = npt.NDArray[np.float64]
Point = tuple[float, float]

_NO_DATA = "no data"


@dataclass(frozen=True)
class Series:
    """One named curve: ``x``, ``y`` and optional pointwise band ``lower``..``upper``,
    all of shape (m,)."""

    name: str
    x: npt.ArrayLike
    y: npt.ArrayLike
    lower: npt.ArrayLike | None = None
    upper: npt.ArrayLike | None = None


@dataclass(frozen=True)
class _Curve:
    name: str
    x: FloatArray
    y: FloatArray
    lower: FloatArray | None
    upper: FloatArray | None


def _vector(values: npt.ArrayLike, name: str) -> FloatArray:
    try:
        array = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise DataError(f"{name} is not numeric; expected a 1-D array of numbers") from exc
    if array.ndim != 1:
        raise DataError(f"{name} has {array.ndim} dimensions; expected 1")
    return array


def _check_series(series: Sequence[Series]) -> list[_Curve]:
    curves = []
    for i, s in enumerate(series):
        x, y = _vector(s.x, f"series {i} x"), _vector(s.y, f"series {i} y")
        if (s.lower is None) != (s.upper is None):
            raise DataError(f"series {i} has only one of lower/upper; expected both or neither")
        lower = None if s.lower is None else _vector(s.lower, f"series {i} lower")
        upper = None if s.upper is None else _vector(s.upper, f"series {i} upper")
        for part in (y, lower, upper):
            if part is not None and part.shape != x.shape:
                raise DataError(f"series {i} has arrays of unequal length; expected {x.shape}")
        curves.append(_Curve(s.name, x, y, lower, upper))
    return curves


def _runs(mask: npt.NDArray[np.bool_]) -> list[slice]:
    """Maximal runs of True in ``mask`` as slices."""
    edges = np.flatnonzero(np.diff(np.concatenate([[0], mask.astype(np.int8), [0]])))
    return [slice(int(a), int(b)) for a, b in zip(edges[::2], edges[1::2], strict=True)]


def _vertices(x: FloatArray, y: FloatArray, step: bool) -> list[Point]:
    """Points of a polyline; a step function holds each y until the next x."""
    if not step:
        return list(zip(x.tolist(), y.tolist(), strict=True))
    points: list[Point] = []
    for i in range(x.shape[0]):
        if i:
            points.append((float(x[i]), float(y[i - 1])))
        points.append((float(x[i]), float(y[i])))
    return points


def _path(points: Sequence[Point], sx: LinearScale, sy: LinearScale, close: bool) -> str:
    coords = " L".join(f"{num(sx(px))} {num(sy(py))}" for px, py in points)
    return f"M{coords}{' Z' if close else ''}"


def _draw_curve(c: _Curve, index: int, sx: LinearScale, sy: LinearScale, step: bool) -> list[str]:
    tint = colour(index)
    out = [f'<g class="series" data-name="{_attr(c.name)}">']
    if c.lower is not None and c.upper is not None:
        ok = np.isfinite(c.x) & np.isfinite(c.lower) & np.isfinite(c.upper)
        for run in _runs(ok):
            top = _vertices(c.x[run], c.upper[run], step)
            bottom = _vertices(c.x[run], c.lower[run], step)[::-1]
            out.append(
                f'<path class="band" d="{_path(top + bottom, sx, sy, True)}" '
                f'fill="{tint}" fill-opacity="0.16" stroke="none"/>'
            )
    for run in _runs(np.isfinite(c.x) & np.isfinite(c.y)):
        d = _path(_vertices(c.x[run], c.y[run], step), sx, sy, False)
        out.append(
            f'<path class="line" d="{d}" fill="none" stroke="{tint}" stroke-width="2" '
            'stroke-linejoin="round"/>'
        )
    out.append("</g>")
    return out


def _attr(value: str) -> str:
    return escape(value, quote=True)


def _xy_chart(
    series: Sequence[Series],
    x_label: str,
    y_label: str,
    *,
    width: int,
    height: int,
    step: bool,
    x_range: tuple[float, float] | None,
    y_range: tuple[float, float] | None,
    title: str,
) -> str:
    curves = _check_series(series)
    items = [LegendItem(c.name, colour(i)) for i, c in enumerate(curves)]
    left, right, bottom = 64.0, width - 20.0, height - 48.0
    top = 12.0 + legend_height(items, right - left) + 8.0
    xs = [c.x for c in curves]
    ys = [a for c in curves for a in (c.y, c.lower, c.upper) if a is not None]
    sx = LinearScale(x_range or nice_domain(finite_extent(xs)), (left, right))
    sy = LinearScale(y_range or nice_domain(finite_extent(ys)), (bottom, top))
    body = [*axis_y(sy, left, right, y_label), *axis_x(sx, bottom, top, x_label)]
    for i, c in enumerate(curves):
        body += _draw_curve(c, i, sx, sy, step)
    if finite_extent(ys) is None:
        body.append(
            text(
                (left + right) / 2,
                (top + bottom) / 2,
                _NO_DATA,
                anchor="middle",
                extra=f' fill="{MUTED}"',
            )
        )
    body += legend(items, left, 12.0, right - left)
    return svg_document(width, height, title or f"{y_label} by {x_label}", body)


def line_chart(
    series: Sequence[Series],
    x_label: str,
    y_label: str,
    width: int = 640,
    height: int = 400,
    *,
    x_range: tuple[float, float] | None = None,
    y_range: tuple[float, float] | None = None,
    title: str = "",
) -> str:
    """Straight-line curves with optional shaded confidence bands; ranges default to the
    data widened to whole ticks."""
    return _xy_chart(
        series,
        x_label,
        y_label,
        width=width,
        height=height,
        step=False,
        x_range=x_range,
        y_range=y_range,
        title=title,
    )


def step_chart(
    series: Sequence[Series],
    x_label: str,
    y_label: str,
    width: int = 640,
    height: int = 400,
    *,
    x_range: tuple[float, float] | None = None,
    y_range: tuple[float, float] | None = None,
    title: str = "",
) -> str:
    """Right-continuous step curves (each y holds until the next x), e.g. Kaplan-Meier,
    with step-shaped confidence bands."""
    return _xy_chart(
        series,
        x_label,
        y_label,
        width=width,
        height=height,
        step=True,
        x_range=x_range,
        y_range=y_range,
        title=title,
    )


_ROW_PX = 28.0


def _interval_text(value: float, lo: float, hi: float, decimals: int) -> str:
    if not np.isfinite(value):
        return "n/a"
    core = f"{value:.{decimals}f}"
    if np.isfinite(lo) and np.isfinite(hi):
        return f"{core} [{lo:.{decimals}f}, {hi:.{decimals}f}]"
    return core


def _short(label: str, limit: int) -> str:
    return label if len(label) <= limit else label[: limit - 1] + "…"


def bar_chart_with_ci(
    labels: Sequence[str],
    values: npt.ArrayLike,
    lower: npt.ArrayLike,
    upper: npt.ArrayLike,
    reference_lines: Mapping[str, float] | None = None,
    *,
    value_label: str = "C-index",
    baseline: float = 0.0,
    value_range: tuple[float, float] | None = None,
    decimals: int = 3,
    width: int = 640,
    height: int | None = None,
    title: str = "",
) -> str:
    """Horizontal bars from ``baseline`` to each value with CI whiskers, the value and its
    interval printed at the right, and dashed vertical reference lines (e.g. "clinical
    only", "oracle") named in the legend. ``values``, ``lower``, ``upper``: (k,) per label.
    """
    v, lo, hi = (_vector(a, n) for a, n in ((values, "values"), (lower, "lower"), (upper, "upper")))
    for name, array in (("values", v), ("lower", lo), ("upper", hi)):
        if array.shape[0] != len(labels):
            raise DataError(f"{name} has {array.shape[0]} entries; expected {len(labels)}")
    refs = dict(reference_lines or {})
    items = [
        LegendItem(f"{name} = {value:.{decimals}f}", colour(i, REFERENCE_COLOURS), True)
        for i, (name, value) in enumerate(refs.items())
    ]
    label_chars = min(28, max([len(label) for label in labels] + [4]))
    left, right = 16.0 + label_chars * 6.6, width - 24.0 - (8 + 3 * decimals) * 6.6
    top = 12.0 + legend_height(items, width - 24.0) + 8.0
    total = height or int(top + _ROW_PX * max(len(labels), 1) + 56)
    bottom = total - 48.0
    extent = finite_extent([v, lo, hi, np.array([baseline, *refs.values()], dtype=np.float64)])
    sx = LinearScale(value_range or nice_domain(extent), (left, right))
    row = (bottom - top) / max(len(labels), 1)
    body = axis_x(sx, bottom, top, value_label)
    for i, label in enumerate(labels):
        body += _bar_row(
            sx,
            top + row * (i + 0.5),
            min(14.0, row * 0.55),
            label,
            label_chars,
            (float(v[i]), float(lo[i]), float(hi[i])),
            baseline,
            decimals,
            width,
        )
    for i, value in enumerate(refs.values()):
        if np.isfinite(value):
            x = num(sx(value))
            body.append(
                f'<line class="reference" x1="{x}" y1="{num(top)}" x2="{x}" '
                f'y2="{num(bottom)}" stroke="{colour(i, REFERENCE_COLOURS)}" '
                'stroke-width="1.5" stroke-dasharray="5 3"/>'
            )
    body += legend(items, 12.0, 12.0, width - 24.0)
    return svg_document(width, total, title or f"{value_label} per group", body)


def _bar_row(
    sx: LinearScale,
    y: float,
    bar_px: float,
    label: str,
    label_chars: int,
    interval: tuple[float, float, float],
    baseline: float,
    decimals: int,
    width: int,
) -> list[str]:
    value, lo, hi = interval
    out = [
        f'<g class="bar-row"><title>{_attr(label)}: '
        f"{_attr(_interval_text(value, lo, hi, decimals))}</title>",
        text(sx.pixels[0] - 8, y + 4, _short(label, label_chars), anchor="end"),
    ]
    if np.isfinite(value):
        a, b = sorted((sx(baseline), sx(value)))
        out.append(
            f'<rect class="bar" x="{num(a)}" y="{num(y - bar_px / 2)}" '
            f'width="{num(max(b - a, 0.5))}" height="{num(bar_px)}" fill="{colour(0)}" '
            'fill-opacity="0.8" rx="2"/>'
        )
    if np.isfinite(lo) and np.isfinite(hi):
        x0, x1, cap = num(sx(lo)), num(sx(hi)), bar_px / 2 + 2
        out.append(
            f'<path class="ci" d="M{x0} {num(y)} H{x1} M{x0} {num(y - cap)} '
            f'V{num(y + cap)} M{x1} {num(y - cap)} V{num(y + cap)}" '
            'stroke="#1f2430" stroke-width="1.5" fill="none"/>'
        )
    out.append(
        text(
            width - 16,
            y + 4,
            _interval_text(value, lo, hi, decimals),
            anchor="end",
            extra=' font-variant-numeric="tabular-nums"',
        )
    )
    out.append("</g>")
    return out

"""Forest plots: hazard ratios of a Cox model on a log scale, and estimates with intervals
(e.g. the consortium C-index of each method) on a linear one."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from accord.core import DataError
from accord.report._km import format_p_value
from accord.report._render import INK, MUTED, SERIES_COLOURS, Figure, render

__all__ = ["Estimate", "forest_figure", "interval_figure"]

_COEFFICIENT_FIELDS = ("feature", "hr", "hr_low", "hr_high", "p")
_LOG_TICKS = tuple(m * 10.0**e for e in range(-3, 4) for m in (1.0, 2.0, 5.0))


def _number(value: object) -> float:
    """``value`` as a float; NaN for None or anything not a finite number."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return math.nan
    return float(value) if math.isfinite(value) else math.nan


def _hr_text(row: Mapping[str, Any]) -> str:
    hr, lo, hi = (_number(row.get(k)) for k in ("hr", "hr_low", "hr_high"))
    if not math.isfinite(hr):
        return "not estimable"
    interval = f" ({lo:.2f}–{hi:.2f})" if math.isfinite(lo) and math.isfinite(hi) else ""
    p = _number(row.get("p"))
    return f"{hr:.2f}{interval}" + (f", {format_p_value(p)}" if math.isfinite(p) else "")


def _rows(ax: Any, labels: Sequence[tuple[str, str]], x_label: str, title: str) -> None:
    """One row per (left label, right label), the first at the top."""
    ax.set_ylim(-0.7, len(labels) - 0.3)
    ax.set_yticks(range(len(labels)))
    ax.set_yticklabels([left for left, _ in reversed(labels)])
    ax.grid(axis="y", visible=False)
    ax.set_xlabel(x_label)
    ax.set_title(title, loc="left", fontsize=10)
    right = ax.secondary_yaxis("right")
    right.set_yticks(range(len(labels)))
    right.set_yticklabels([text for _, text in reversed(labels)])
    right.tick_params(length=0)
    right.spines["right"].set_visible(False)


def forest_figure(
    coefficients: Sequence[Mapping[str, Any]], title: str, *, name: str = "forest"
) -> Figure:
    """Hazard ratio with its 95 % interval per feature, on a log axis with a line at 1.

    Args:
        coefficients: rows ``{"feature", "coef", "se", "hr", "hr_low", "hr_high", "p"}``
            (as in results.json ``methods.NAME.coefficients``), drawn top to bottom.
        title: the figure's title; the caption starts with it.
        name: the file stem of the figure under ``OUT/figures/``.

    A row whose HR is missing or not finite is listed as "not estimable" with no marker.
    """
    for i, row in enumerate(coefficients):
        missing = [k for k in _COEFFICIENT_FIELDS if k not in row]
        if missing:
            raise DataError(f"coefficients row {i + 1} has no {missing[0]!r}; expected fields "
                            f"{', '.join(_COEFFICIENT_FIELDS)}")  # fmt: skip
    rows = list(coefficients)
    caption = (
        f"{title.rstrip('.')}. Hazard ratio per unit of each feature (per level against the "
        "reference level for a categorical feature) with its 95 % Wald interval, on a log "
        "scale; right of 1 the hazard rises, left of it it falls."
    )
    stats = {f"hr[{r['feature']}]": _number(r.get("hr")) for r in rows}

    def draw(plt: Any) -> Any:
        fig, ax = plt.subplots(figsize=(6.4, 0.9 + 0.28 * max(len(rows), 1)))
        values = [v for r in rows for v in (_number(r.get(k)) for k in ("hr", "hr_low", "hr_high"))]
        finite = [v for v in values if math.isfinite(v) and v > 0]
        lo, hi = min([*finite, 1.0]), max([*finite, 1.0])
        for i, row in enumerate(rows):
            y = len(rows) - 1 - i
            hr, low, high = (_number(row.get(k)) for k in ("hr", "hr_low", "hr_high"))
            if math.isfinite(low) and math.isfinite(high) and low > 0:
                ax.plot([low, high], [y, y], color=INK, linewidth=1.2)
            if math.isfinite(hr) and hr > 0:
                ax.plot([hr], [y], marker="s", color=SERIES_COLOURS[0], markersize=5)
        ax.axvline(1.0, color=MUTED, linewidth=0.9, linestyle="--")
        ax.set_xscale("log")
        ax.set_xlim(lo / 1.25, hi * 1.25)
        ticks = [t for t in _LOG_TICKS if lo / 1.25 <= t <= hi * 1.25]
        ax.set_xticks(ticks, [f"{t:g}" for t in ticks])
        ax.xaxis.set_minor_locator(plt.NullLocator())
        labels = [(str(r["feature"]), _hr_text(r)) for r in rows]
        _rows(ax, labels, "Hazard ratio (95 % interval), log scale", title)
        return fig

    return render(name, draw, caption, stats)


Estimate = tuple[str, float | None, float | None, float | None]
"""(label, estimate, lower, upper); None where there is none."""


def interval_figure(
    estimates: Sequence[Estimate],
    title: str,
    caption: str,
    *,
    name: str,
    value_label: str = "Consortium C-index",
    groups: Sequence[str] | None = None,
    reference_lines: Mapping[str, float] | None = None,
    value_range: tuple[float, float] | None = (0.3, 1.0),
) -> Figure:
    """A point and its interval per row (top to bottom), the value printed at the right.

    Args:
        estimates: per row (label, value, lower, upper); a row with no value is listed as
            "n/a" with no marker.
        groups: per row a group name (e.g. "federated", "local-only"); each group gets its
            own colour and a legend entry.
        reference_lines: dashed vertical lines, e.g. ``{"chance": 0.5}``, named in the legend.
    """
    if groups is not None and len(groups) != len(estimates):
        raise DataError(f"groups has {len(groups)} entries; expected {len(estimates)}")
    names = list(dict.fromkeys(groups or []))
    stats = {f"value[{e[0]}]": _number(e[1]) for e in estimates}

    def draw(plt: Any) -> Any:
        size = (6.4, 1.3 + 0.3 * max(len(estimates), 1))
        fig, ax = plt.subplots(figsize=size, layout="constrained")
        seen: set[str] = set()
        for i, (_, value, low, high) in enumerate(estimates):
            y = len(estimates) - 1 - i
            group = groups[i] if groups else ""
            colour = SERIES_COLOURS[names.index(group) % len(SERIES_COLOURS)] if group else INK
            v, lo, hi = _number(value), _number(low), _number(high)
            if math.isfinite(lo) and math.isfinite(hi):
                ax.plot([lo, hi], [y, y], color=colour, linewidth=1.4)
            if math.isfinite(v):
                label = group if group and group not in seen else None
                if group:
                    seen.add(group)
                ax.plot([v], [y], marker="o", color=colour, markersize=5, label=label)
        for j, (label, x) in enumerate((reference_lines or {}).items()):
            ax.axvline(x, color=MUTED, linewidth=0.9, linestyle=("--", ":", "-.")[j % 3],
                       label=f"{label} = {x:g}")  # fmt: skip
        if value_range is not None:
            ax.set_xlim(*value_range)
        labels = [(e[0], _value_text(e)) for e in estimates]
        _rows(ax, labels, f"{value_label} (95 % interval)", title)
        if seen or reference_lines:
            fig.legend(frameon=False, fontsize=8, loc="outside lower center", ncol=4)
        return fig

    return render(name, draw, caption, stats)


def _value_text(estimate: Estimate) -> str:
    v, lo, hi = (_number(x) for x in estimate[1:])
    if not math.isfinite(v):
        return "n/a"
    return f"{v:.3f} ({lo:.3f}–{hi:.3f})" if math.isfinite(lo) and math.isfinite(hi) else f"{v:.3f}"

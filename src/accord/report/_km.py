"""Kaplan–Meier figure from released interval tables, with a numbers-at-risk table under it.

The consortium releases, per group, an interval table with no small cell (interval ends,
the number at risk at each interval's start, the events within it; intervals merged until
each holds no event or at least ``min-cell-count``, the table stopped where fewer remain at
risk). The curves are the product-limit estimate of those counts
(:func:`accord.survival.kaplan_meier_from_counts`), drawn with matplotlib; the table under
them follows lifelines' ``add_at_risk_counts``: one row per group, one column per x tick.
Counts can only be read at interval starts, so each column shows the number at risk at the
start of the released interval that contains the tick; past the released table it shows
a dash. Any count below ``min_at_risk`` would be shown as ``<5``, never as its value.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from accord.core import DataError
from accord.report._render import MUTED, SERIES_COLOURS, Figure, render
from accord.survival import KaplanMeierCurve, LogRankResult, kaplan_meier_from_counts

__all__ = ["ReleasedTable", "at_risk_row", "format_p_value", "km_figure_from_curves"]

FloatArray = npt.NDArray[np.float64]


def format_p_value(p: float) -> str:
    """``"p < 0.001"`` for small p-values, else ``"p = 0.023"`` (three decimals)."""
    if not np.isfinite(p):
        return "p = n/a"
    return "p < 0.001" if p < 0.001 else f"p = {p:.3f}"


@dataclass(frozen=True)
class ReleasedTable:
    """One group's released interval table: interval ends (days, ascending), the number at
    risk at each interval's start and the events within it; all (m,)."""

    label: str
    grid_days: FloatArray
    at_risk: FloatArray
    events: FloatArray

    @classmethod
    def of(
        cls, label: str, grid_days: npt.ArrayLike, at_risk: npt.ArrayLike, events: npt.ArrayLike
    ) -> ReleasedTable:
        grid = np.asarray(grid_days, dtype=np.float64)
        n = np.asarray(at_risk, dtype=np.float64)
        d = np.asarray(events, dtype=np.float64)
        if not grid.ndim == n.ndim == d.ndim == 1 or not grid.shape == n.shape == d.shape:
            raise DataError(f"group {label}: at_risk, events and grid_days differ in length")
        return cls(label, grid, n, d)


def _count_text(count: float, min_at_risk: int) -> str:
    return f"<{min_at_risk}" if 0 < count < min_at_risk else f"{int(count):,}"


def at_risk_row(table: ReleasedTable, ticks: Sequence[float], min_at_risk: int) -> list[str]:
    """The numbers at risk shown under ``ticks``: at the start of the released interval
    containing each tick (interval k runs from end[k-1], the first from 0, to end[k]);
    ``"—"`` past the released table, ``"<min"`` for a count below ``min_at_risk``."""
    ends = table.grid_days
    starts = np.concatenate([[0.0], ends[:-1]])
    out = []
    for t in ticks:
        k = int(np.searchsorted(starts, t, side="right")) - 1
        inside = ends.size > 0 and k >= 0 and (t < ends[k] or t == starts[k])
        out.append(_count_text(table.at_risk[k], min_at_risk) if inside else "—")
    return out


def _steps(curve: KaplanMeierCurve, min_at_risk: int) -> tuple[FloatArray, ...]:
    """The curve from (0, 1) up to its last time with ``min_at_risk`` at risk."""
    keep = curve.at_risk >= min_at_risk
    one = np.ones(1)
    return (
        np.concatenate([[0.0], curve.time[keep]]),
        np.concatenate([one, curve.survival[keep]]),
        np.concatenate([one, curve.lower[keep]]),
        np.concatenate([one, curve.upper[keep]]),
    )


def _caption(title: str, test: LogRankResult | None, k: int, min_at_risk: int) -> str:
    parts = [
        f"{title.rstrip('.')}. Kaplan–Meier estimates of survival by group from the released "
        "interval counts, with 95 % pointwise confidence bands (log-log Greenwood)."
    ]
    if test is not None and k >= 2:
        parts.append(
            f"Log-rank test across {k} groups: χ² = {test.statistic:.2f} on "
            f"{test.degrees_of_freedom} df, {format_p_value(test.p_value)}."
        )
    else:
        parts.append("A single group: no log-rank test.")
    parts.append(
        "Numbers at risk under the plot: at the start of the released interval containing "
        f"each time (— past the released table). Each curve ends where fewer than "
        f"{min_at_risk} patients remain at risk."
    )
    return " ".join(parts)


def km_figure_from_curves(
    curves: Sequence[tuple[str, npt.ArrayLike, npt.ArrayLike, npt.ArrayLike]],
    test: LogRankResult | None,
    title: str,
    *,
    name: str = "kaplan_meier",
    time_unit: str = "days",
    min_at_risk: int = 5,
) -> Figure:
    """Kaplan–Meier curves and a numbers-at-risk table from each group's released table.

    Args:
        curves: per group (label, interval ends, numbers at risk at each interval's start,
            events within it), each group on its own (coarsened) grid, as released.
        test: the log-rank test the consortium computed on its full counts, or None.
        title: the figure's title; the caption starts with it.
        name: the file stem of the figure under ``OUT/figures/``.
        min_at_risk: curves end at the last time with at least this many at risk.

    Returns:
        A :class:`Figure` whose stats hold ``n[g]``, ``events[g]`` per drawn group and,
        with a test, ``logrank_statistic``, ``logrank_p``, ``logrank_df``. Groups with
        nothing released are left out.
    """
    if isinstance(min_at_risk, bool) or not isinstance(min_at_risk, int) or min_at_risk < 1:
        raise DataError("min_at_risk is not a whole number >= 1; expected e.g. 5")
    tables = [ReleasedTable.of(*c) for c in curves]
    tables = [t for t in tables if t.grid_days.size]
    stats: dict[str, float] = {}
    for t in tables:
        stats[f"n[{t.label}]"] = float(t.at_risk[0])
        stats[f"events[{t.label}]"] = float(t.events.sum())
    if test is not None:
        stats |= {
            "logrank_statistic": test.statistic,
            "logrank_p": test.p_value,
            "logrank_df": float(test.degrees_of_freedom),
        }

    def draw(plt: Any) -> Any:
        return _draw(plt, tables, title, time_unit, min_at_risk)

    return render(name, draw, _caption(title, test, len(tables), min_at_risk), stats)


def _draw(
    plt: Any, tables: list[ReleasedTable], title: str, time_unit: str, min_at_risk: int
) -> Any:
    rows = max(len(tables), 1)
    fig = plt.figure(figsize=(6.4, 4.2 + 0.22 * rows))
    grid = fig.add_gridspec(2, 1, height_ratios=[4.0, 0.3 + 0.22 * rows], hspace=0.28)
    ax, table_ax = fig.add_subplot(grid[0]), fig.add_subplot(grid[1])
    x_max = 1.0
    for i, table in enumerate(tables):
        colour = SERIES_COLOURS[i % len(SERIES_COLOURS)]
        curve = kaplan_meier_from_counts(table.grid_days, table.at_risk, table.events)
        x, y, lo, hi = _steps(curve, min_at_risk)
        x_max = max(x_max, float(table.grid_days[-1]))
        ax.step(x, y, where="post", color=colour, linewidth=1.6, label=table.label)
        ax.fill_between(x, lo, hi, step="post", color=colour, alpha=0.15, linewidth=0)
    ax.set_xlim(0.0, x_max)
    ax.set_ylim(0.0, 1.02)
    ax.set_ylabel("Survival probability")
    ax.set_title(title, loc="left", fontsize=10)
    if tables:
        ax.legend(frameon=False, loc="lower left")
    ticks = [float(t) for t in ax.get_xticks() if 0.0 <= t <= x_max]
    ax.set_xticks(ticks)
    ax.set_xticklabels([f"{t:g}" for t in ticks])
    ax.set_xlabel(f"Time ({time_unit})")
    _at_risk_table(table_ax, tables, ticks, (0.0, x_max), min_at_risk)
    return fig


def _at_risk_table(
    ax: Any,
    tables: list[ReleasedTable],
    ticks: list[float],
    x_range: tuple[float, float],
    min_at_risk: int,
) -> None:
    """lifelines' add_at_risk_counts layout: the group rows under the x axis, aligned with
    the ticks, in each group's colour."""
    ax.set_xlim(*x_range)
    ax.set_ylim(-0.5, len(tables) - 0.5 + 0.8)
    ax.axis("off")
    pad = {"xytext": (-16, 0), "textcoords": "offset points", "ha": "right"}
    ax.annotate("At risk", (x_range[0], len(tables) - 0.3), va="bottom", color=MUTED, **pad)
    for i, table in enumerate(tables):
        y = len(tables) - 1 - i
        colour = SERIES_COLOURS[i % len(SERIES_COLOURS)]
        ax.annotate(table.label, (x_range[0], y), va="center", color=colour, **pad)
        for t, count in zip(ticks, at_risk_row(table, ticks, min_at_risk), strict=True):
            ax.text(t, y, count, ha="center", va="center", color=colour)

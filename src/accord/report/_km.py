"""Kaplan-Meier figure: step curves per risk group with confidence bands and a log-rank test.

A Kaplan-Meier curve steps at patients' event times, so a curve's tail, where few
patients remain, comes close to showing individual outcomes. Each curve therefore ends at
the last time with at least ``min_at_risk`` patients at risk (default 5, the consortium's
``min-cell-count``), and group counts below that threshold are shown as "<5".
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from accord.core import DataError
from accord.report._axes import nice_domain
from accord.report._figure import Figure
from accord.report._svg import Series, step_chart
from accord.survival import (
    KaplanMeierCurve,
    LogRankResult,
    kaplan_meier,
    kaplan_meier_from_counts,
    logrank_from_counts,
    logrank_test,
)

__all__ = [
    "format_p_value",
    "group_curves",
    "km_figure",
    "km_figure_from_counts",
    "km_figure_from_curves",
]


def format_p_value(p: float) -> str:
    """``"p < 0.001"`` for small p-values, else ``"p = 0.023"`` (three decimals)."""
    if not np.isfinite(p):
        return "p = n/a"
    return "p < 0.001" if p < 0.001 else f"p = {p:.3f}"


def _count_text(count: int, min_cell_count: int) -> str:
    return f"<{min_cell_count}" if 0 < count < min_cell_count else str(count)


def _released(count: int, min_cell_count: int) -> float:
    return float("nan") if 0 < count < min_cell_count else float(count)


def _check_inputs(
    time: npt.ArrayLike, event: npt.ArrayLike, groups: npt.ArrayLike, min_at_risk: int
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.generic], npt.NDArray[np.generic]]:
    if isinstance(min_at_risk, bool) or not isinstance(min_at_risk, int) or min_at_risk < 1:
        raise DataError("min_at_risk is not a whole number >= 1; expected e.g. 5")
    t, e, g = np.asarray(time, dtype=np.float64), np.asarray(event), np.asarray(groups)
    if t.ndim != 1:
        raise DataError(f"time has {t.ndim} dimensions; expected 1")
    for name, array in (("event", e), ("groups", g)):
        if array.shape != t.shape:
            raise DataError(f"{name} has shape {array.shape}; expected {t.shape} (one per time)")
    return t, e, g


def _displayed(curve: KaplanMeierCurve, min_at_risk: int) -> Series:
    """The curve from (0, 1) up to its last time with ``min_at_risk`` patients at risk."""
    keep = curve.at_risk >= min_at_risk
    one = np.ones(1)
    return Series(
        "",
        np.concatenate([[0.0], curve.time[keep]]),
        np.concatenate([one, curve.survival[keep]]),
        np.concatenate([one, curve.lower[keep]]),
        np.concatenate([one, curve.upper[keep]]),
    )


def _median(series: Series) -> float:
    """First displayed time where survival falls to 0.5 or below; NaN if it never does."""
    survival = np.asarray(series.y)
    below = np.flatnonzero(survival <= 0.5)
    return float(np.asarray(series.x)[below[0]]) if below.size else float("nan")


def group_curves(
    time: npt.ArrayLike, event: npt.ArrayLike, groups: npt.ArrayLike, min_at_risk: int = 5
) -> tuple[list[Series], dict[str, float]]:
    """Displayed Kaplan-Meier curves per group (labels in sorted order) and their
    per-group statistics: ``n[g]``, ``events[g]`` (NaN when suppressed) and
    ``median_days[g]`` (NaN when not reached within the displayed curve)."""
    t, e, g = _check_inputs(time, event, groups, min_at_risk)
    series: list[Series] = []
    stats: dict[str, float] = {}
    for label in np.unique(g):
        mask = g == label
        curve = kaplan_meier(t[mask], e[mask])
        n, events = int(mask.sum()), int(np.count_nonzero(e[mask]))
        _add_group(series, stats, label, curve, n, events, min_at_risk)
    return series, stats


def _add_group(
    series: list[Series],
    stats: dict[str, float],
    label: object,
    curve: KaplanMeierCurve,
    n: int,
    events: int,
    min_at_risk: int,
) -> None:
    """One group's displayed curve (named with its suppressed counts) and statistics."""
    shown = _displayed(curve, min_at_risk)
    name = f"{label} (n={_count_text(n, min_at_risk)}, events={_count_text(events, min_at_risk)})"
    series.append(Series(name, shown.x, shown.y, shown.lower, shown.upper))
    stats |= {
        f"n[{label}]": _released(n, min_at_risk),
        f"events[{label}]": _released(events, min_at_risk),
        f"median_days[{label}]": _median(shown),
    }


def _caption(title: str, stats: dict[str, float], k: int, min_at_risk: int) -> str:
    parts = [
        f"{title.rstrip('.')}. Kaplan–Meier estimates of survival by group, with 95% "
        "pointwise confidence bands (log-log Greenwood)."
    ]
    if "logrank_p" in stats:
        parts.append(
            f"Log-rank test across {k} groups: χ² = {stats['logrank_statistic']:.2f} on "
            f"{int(stats['logrank_df'])} df, {format_p_value(stats['logrank_p'])}."
        )
    else:
        parts.append("A single group: no log-rank test.")
    parts.append(f"Each curve ends where fewer than {min_at_risk} patients remain at risk.")
    return " ".join(parts)


def km_figure(
    time: npt.ArrayLike,
    event: npt.ArrayLike,
    groups: npt.ArrayLike,
    title: str,
    *,
    time_unit: str = "days",
    min_at_risk: int = 5,
    width: int = 640,
    height: int = 400,
) -> Figure:
    """Kaplan-Meier curves per risk group and a log-rank test of their equality.

    Args:
        time: (n,) event or censoring times in ``time_unit``.
        event: (n,) bool or 0/1, 1 = event observed.
        groups: (n,) group labels (e.g. "low risk", "high risk"), drawn in sorted order.
        title: figure title; the caption starts with it.
        min_at_risk: curves end at the last time with at least this many at risk.

    Returns:
        A :class:`Figure` whose stats hold ``logrank_statistic``, ``logrank_p``,
        ``logrank_df`` (with two or more groups) and the per-group entries of
        :func:`group_curves`.
    """
    series, stats = group_curves(time, event, groups, min_at_risk)
    test = logrank_test(time, event, groups) if len(series) >= 2 else None
    return _figure(series, stats, test, title, time_unit, min_at_risk, (width, height))


def _figure(
    series: list[Series],
    stats: dict[str, float],
    test: LogRankResult | None,
    title: str,
    time_unit: str,
    min_at_risk: int,
    size: tuple[int, int],
) -> Figure:
    if test is not None:
        stats |= {
            "logrank_statistic": test.statistic,
            "logrank_p": test.p_value,
            "logrank_df": float(test.degrees_of_freedom),
        }
    x_max = max((float(np.max(s.x)) for s in series), default=1.0)
    svg = step_chart(
        series,
        f"Time ({time_unit})",
        "Survival probability",
        size[0],
        size[1],
        x_range=nice_domain((0.0, x_max)),
        y_range=(0.0, 1.0),
        title=title,
    )
    return Figure(svg, _caption(title, stats, len(series), min_at_risk), stats)


def km_figure_from_counts(
    grid_days: npt.ArrayLike,
    at_risk: npt.ArrayLike,
    events: npt.ArrayLike,
    labels: Sequence[str],
    title: str,
    *,
    time_unit: str = "days",
    min_at_risk: int = 5,
    width: int = 640,
    height: int = 400,
) -> Figure:
    """Kaplan-Meier curves per group from summed counts on a time grid (federated form).

    ``at_risk`` and ``events`` are (groups, intervals): the number at risk at the start of
    each interval of ``grid_days`` (interval ends) and the events within it, summed over
    sites. Each curve steps at interval ends and stops where fewer than ``min_at_risk``
    remain; the log-rank test is the grouped-data test on the same counts.
    """
    grid = np.asarray(grid_days, dtype=np.float64)
    n = np.asarray(at_risk, dtype=np.float64)
    d = np.asarray(events, dtype=np.float64)
    if n.shape != d.shape or n.ndim != 2 or n.shape != (len(labels), grid.size):
        raise DataError(
            f"at_risk {n.shape} and events {d.shape} must both be (groups={len(labels)}, "
            f"intervals={grid.size})"
        )
    series: list[Series] = []
    stats: dict[str, float] = {}
    for g, label in enumerate(labels):
        curve = kaplan_meier_from_counts(grid, n[g], d[g])
        _add_group(series, stats, label, curve, int(n[g, 0]), int(d[g].sum()), min_at_risk)
    test = logrank_from_counts(n.T, d.T) if len(labels) >= 2 else None
    return _figure(series, stats, test, title, time_unit, min_at_risk, (width, height))


def km_figure_from_curves(
    curves: Sequence[tuple[str, npt.ArrayLike, npt.ArrayLike, npt.ArrayLike]],
    test: LogRankResult | None,
    title: str,
    *,
    time_unit: str = "days",
    min_at_risk: int = 5,
    width: int = 640,
    height: int = 400,
) -> Figure:
    """Kaplan-Meier curves from each group's released interval table.

    ``curves`` holds per group (label, interval ends, numbers at risk at each interval's
    start, events within it) — each group on its own (coarsened) grid, as released with no
    small cell; ``test`` is the log-rank test computed by the consortium on its full counts.
    Groups with nothing released are left out of the figure.
    """
    series: list[Series] = []
    stats: dict[str, float] = {}
    for label, grid_days, at_risk, events in curves:
        grid = np.asarray(grid_days, dtype=np.float64)
        n = np.asarray(at_risk, dtype=np.float64)
        d = np.asarray(events, dtype=np.float64)
        if n.shape != d.shape or n.shape != grid.shape:
            raise DataError(f"group {label}: at_risk, events and grid_days differ in length")
        if grid.size:
            curve = kaplan_meier_from_counts(grid, n, d)
            _add_group(series, stats, label, curve, int(n[0]), int(d.sum()), min_at_risk)
    return _figure(series, stats, test, title, time_unit, min_at_risk, (width, height))

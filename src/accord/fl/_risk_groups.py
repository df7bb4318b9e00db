"""Risk groups and their Kaplan–Meier curves, computed from sums only.

A consortium splits patients into low- and high-risk groups at the median of the
*training* risks of all sites, then draws each group's survival curve on the test rows.
No site shares a risk score or a survival time: the cut-off comes from two summed
rounds (moments of the training risks, then a histogram on a grid the hub chooses from
them), and the curves from per-site numbers at risk and events on a common time grid.
Each reply is a contribution to a weighted sum, and sites answer these tasks only under
secure aggregation (a site's fine histogram would come close to its patients' own risks):
the hub sees only consortium totals.

Arrays are shaped with a leading axis of 1 or 2 so that no reply array has one entry
per patient (``refuse_row_level_arrays``).
"""

from __future__ import annotations

import numpy as np

from accord.core import Arrays, DataError

__all__ = [
    "GROUPS",
    "coarsen_counts",
    "group_counts",
    "histogram_grid",
    "histogram_median",
    "risk_histogram",
    "risk_moments",
    "time_grid",
]

GROUPS = ("low risk", "high risk")


def risk_moments(risk: np.ndarray) -> Arrays:
    """Count, sum and sum of squares of a site's training risks (shape (1, 3))."""
    r = np.asarray(risk, dtype=np.float64)
    return {"moments": np.array([[r.size, r.sum(), (r**2).sum()]], dtype=np.float64)}


def histogram_grid(moments: np.ndarray, bins: int = 400) -> tuple[float, float, int]:
    """The hub's histogram range from summed moments: mean ± 6 sd (a unit range if flat)."""
    n, total, squares = (float(v) for v in np.asarray(moments).reshape(-1)[:3])
    if n < 1:
        raise DataError("no training risks were counted; cannot place a risk cut-off")
    mean = total / n
    sd = float(np.sqrt(max(squares / n - mean**2, 0.0)))
    half = 6.0 * sd if sd > 1e-12 else 1.0
    return mean - half, mean + half, bins


def risk_histogram(risk: np.ndarray, lo: float, hi: float, bins: int) -> Arrays:
    """Counts of a site's training risks in ``bins`` equal bins on [lo, hi] (shape (1, bins));
    risks outside the range fall into the end bins."""
    r = np.clip(np.asarray(risk, dtype=np.float64), lo, hi)
    counts, _ = np.histogram(r, bins=bins, range=(lo, hi))
    return {"histogram": counts.astype(np.float64).reshape(1, -1)}


def histogram_median(counts: np.ndarray, lo: float, hi: float) -> float:
    """The median of the summed histogram, interpolated within its bin."""
    c = np.asarray(counts, dtype=np.float64).reshape(-1)
    total = c.sum()
    if total <= 0:
        raise DataError("the risk histogram is empty; cannot place a risk cut-off")
    width = (hi - lo) / c.size
    cumulative = np.cumsum(c)
    k = int(np.searchsorted(cumulative, total / 2.0))
    before = cumulative[k - 1] if k > 0 else 0.0
    inside = (total / 2.0 - before) / c[k] if c[k] > 0 else 0.0
    return float(lo + width * (k + inside))


def time_grid(step_days: float, end_days: float) -> np.ndarray:
    """Interval ends ``step, 2·step, ...`` up to and including ``end_days``."""
    if step_days <= 0 or end_days < step_days:
        raise DataError(f"time grid: step {step_days} and end {end_days} days are not usable")
    return np.arange(1, int(np.floor(end_days / step_days)) + 1) * step_days


def group_counts(
    time_days: np.ndarray, event: np.ndarray, risk: np.ndarray, cutoff: float, grid: np.ndarray
) -> Arrays:
    """Per group (low: risk <= cutoff, high) and interval of ``grid``: the number at risk at
    the interval's start and the events within it. Shapes (2, len(grid)).

    Interval j is (grid[j-1], grid[j]] with grid[-1] = 0: a patient is at risk in it when
    their time exceeds its start; events at times past the grid's end are not counted.
    """
    t = np.asarray(time_days, dtype=np.float64)
    e = np.asarray(event, dtype=bool)
    high = np.asarray(risk, dtype=np.float64) > cutoff
    starts = np.concatenate([[-np.inf], grid[:-1]])  # everyone is at risk in the first
    at_risk = np.zeros((2, grid.size))
    events = np.zeros((2, grid.size))
    slot = np.searchsorted(grid, t, side="left")  # interval holding t (t == end: that one)
    for g, members in enumerate((~high, high)):
        at_risk[g] = (t[members][None, :] > starts[:, None]).sum(axis=1)
        hit = members & e & (slot < grid.size)
        np.add.at(events[g], slot[hit], 1.0)
    return {"at_risk": at_risk, "events": events}


def coarsen_counts(
    grid: np.ndarray, at_risk: np.ndarray, events: np.ndarray, min_cell_count: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One group's interval table as it may be released: no small cell.

    ``at_risk`` and ``events`` are (intervals,) on ``grid`` (interval ends). The table stops
    before the first interval with fewer than ``min_cell_count`` at risk, and adjacent
    intervals are merged until each one's events are 0 or at least ``min_cell_count`` (a
    merged interval's number at risk is that at its start; a last run of intervals whose
    events stay small is not released). Returns the coarser (grid, at_risk, events).
    """
    n = np.asarray(at_risk, dtype=np.float64).reshape(-1)
    d = np.asarray(events, dtype=np.float64).reshape(-1)
    ends = np.asarray(grid, dtype=np.float64).reshape(-1)
    small = n < min_cell_count
    stop = int(np.argmax(small)) if small.any() else ends.size
    kept: list[tuple[int, int]] = []  # [start, stop) of each released interval
    start = 0
    for j in range(stop):
        pooled = d[start : j + 1].sum()
        if pooled == 0 or pooled >= min_cell_count:
            kept.append((start, j + 1))
            start = j + 1
    return (
        np.array([ends[b - 1] for _, b in kept], dtype=np.float64),
        np.array([n[a] for a, _ in kept], dtype=np.float64),
        np.array([d[a:b].sum() for a, b in kept], dtype=np.float64),
    )

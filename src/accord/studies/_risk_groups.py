"""Kaplan–Meier curves by risk group for a trained model, from consortium sums only.

The hub places the cut-off at the median training risk of all sites (moments, then a
histogram on a grid it derives from them) and sums every site's numbers at risk and
events per group on a common time grid (see :mod:`accord.fl._risk_groups`). Every
exchange is a weighted sum, securely aggregated when the study runs secure aggregation.
The consortium curves and the log-rank test are computed from the sums; the run signs
them into the ledger as a ``metric`` entry citing the sites' signed counts
(:meth:`accord.studies._federated_run.StudyRun.compute_risk_groups`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from accord.core import Arrays, EvaluationSpec
from accord.fl import (
    GROUPS,
    WeightedSum,
    coarsen_counts,
    histogram_grid,
    histogram_median,
    time_grid,
)
from accord.net import ConfigValue, Reply, TaskKind
from accord.survival import logrank_from_counts

__all__ = ["ReleasedCurve", "RiskGroups", "SummedTask", "follow_up_end", "risk_groups"]

_STEP_DAYS = 30.0
_BINS = 400

SummedTask = Callable[
    [TaskKind, Arrays, dict[str, ConfigValue]], tuple[Mapping[str, Reply], WeightedSum]
]
"""Every site runs a task of this kind on these parameters; the replies and their sum."""


@dataclass(frozen=True)
class ReleasedCurve:
    """One group's consortium interval table as released (no cell below min_cell_count):
    interval ends, numbers at risk at each interval's start, events within it."""

    label: str
    grid_days: np.ndarray
    at_risk: np.ndarray
    events: np.ndarray

    def to_dict(self) -> dict[str, Any]:
        return {
            "group": self.label,
            "grid_days": [float(v) for v in self.grid_days],
            "at_risk": self.at_risk.astype(int).tolist(),
            "events": self.events.astype(int).tolist(),
        }


@dataclass(frozen=True)
class RiskGroups:
    """Per group the released Kaplan–Meier table, and the log-rank test of the groups
    (computed on the consortium's full interval counts, which are never released)."""

    method: str
    cutoff: float
    curves: tuple[ReleasedCurve, ...]
    logrank_statistic: float
    logrank_p: float
    ledger: dict[str, int] = field(default_factory=dict)

    @property
    def labels(self) -> tuple[str, ...]:
        return tuple(c.label for c in self.curves)

    def to_dict(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "groups": list(self.labels),
            "curves": [c.to_dict() for c in self.curves],
            "logrank_statistic": self.logrank_statistic,
            "logrank_p": self.logrank_p,
            "ledger": dict(self.ledger),
        }

    def ledger_metrics(self) -> dict[str, float | None]:
        """The figures the hub signs: the log-rank test and each group's released size."""
        sizes = [float(c.at_risk[0]) if c.at_risk.size else None for c in self.curves]
        return {
            "logrank_statistic": self.logrank_statistic,
            "logrank_p": self.logrank_p,
            "n_low": sizes[0],
            "n_high": sizes[1],
        }


def risk_groups(
    summed: SummedTask,
    method: str,
    params: Arrays,
    kind: str,
    end_days: float,
    min_cell_count: int = 5,
) -> tuple[RiskGroups | None, Mapping[str, Reply]]:
    """Low/high-risk groups of ``method``'s model (``params``, of model ``kind``) across
    the consortium, from three summed exchanges; also the replies of the last one (the
    sites' signed interval counts).

    Each group's released table has no small cell (:func:`accord.fl.coarsen_counts`):
    intervals merged until their events are 0 or at least ``min_cell_count``, the table
    stopped where fewer remain at risk. The log-rank test uses the full consortium counts
    (one statistic leaves, not the cells). None when no group has an interval to release.
    """
    config: dict[str, ConfigValue] = {"model": kind}
    _, moments = summed("risk_summary", params, config)
    lo, hi, bins = histogram_grid(moments.arrays["moments"], _BINS)
    _, hist = summed(
        "risk_summary", params, {**config, "stage": "histogram", "lo": lo, "hi": hi, "bins": bins}
    )
    cutoff = histogram_median(hist.arrays["histogram"], lo, hi)
    replies, counts = summed(
        "km_counts",
        params,
        {**config, "cutoff": cutoff, "step_days": _STEP_DAYS, "end_days": end_days},
    )
    # Secure sums are exact to rounding: counts are whole numbers again before release.
    at_risk, events = np.rint(counts.arrays["at_risk"]), np.rint(counts.arrays["events"])
    grid = time_grid(_STEP_DAYS, end_days)
    curves = tuple(
        ReleasedCurve(label, *coarsen_counts(grid, at_risk[g], events[g], min_cell_count))
        for g, label in enumerate(GROUPS)
    )
    if not any(c.grid_days.size for c in curves):
        return None, replies
    test = logrank_from_counts(at_risk.T, events.T)
    groups = RiskGroups(
        method=method,
        cutoff=cutoff,
        curves=curves,
        logrank_statistic=test.statistic,
        logrank_p=test.p_value,
    )
    return groups, replies


def follow_up_end(evaluation: EvaluationSpec) -> float:
    """The study's last evaluation horizon, or five years."""
    horizons = evaluation.horizons_days
    return float(max(horizons)) if horizons else 1825.0

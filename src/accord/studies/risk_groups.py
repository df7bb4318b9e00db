"""Kaplan–Meier curves by risk group for a trained model, from consortium sums only.

The hub places the cut-off at the median training risk of all sites (moments, then a
histogram on a grid it derives from them) and sums every site's numbers at risk and
events per group on a common time grid (see :mod:`accord.fl.risk_groups`). Every
exchange is a weighted sum, securely aggregated when the study runs secure aggregation.
The consortium curves and the log-rank test are computed from the sums and signed into
the ledger as a ``metric`` entry citing the sites' signed counts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from accord.fl.risk_groups import GROUPS, histogram_grid, histogram_median, time_grid
from accord.ledger.entry import decimal
from accord.survival import logrank_from_counts

if TYPE_CHECKING:
    from accord.studies.runner import MethodResult, StudyRun

__all__ = ["RiskGroups", "risk_groups"]

_STEP_DAYS = 30.0
_BINS = 400


@dataclass(frozen=True)
class RiskGroups:
    """Consortium numbers at risk and events per group (rows) and interval (columns)."""

    method: str
    cutoff: float
    grid_days: np.ndarray
    at_risk: np.ndarray
    events: np.ndarray
    logrank_statistic: float
    logrank_p: float
    labels: tuple[str, ...] = GROUPS
    ledger: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "groups": list(self.labels),
            "grid_days": [float(v) for v in self.grid_days],
            "at_risk": self.at_risk.astype(int).tolist(),
            "events": self.events.astype(int).tolist(),
            "logrank_statistic": self.logrank_statistic,
            "logrank_p": self.logrank_p,
            "ledger": dict(self.ledger),
        }


def risk_groups(
    run: StudyRun, result: MethodResult, kind: str, end_days: float | None = None
) -> RiskGroups:
    """Low/high-risk groups of ``result``'s model (of model ``kind``) across the consortium."""
    plan_seq = run.begin_plan(f"risk_groups:{result.method}", run.study, list(run.cohort.sites))
    consortium = run.consortium
    config: dict[str, Any] = {"model": kind}
    _, moments = consortium.summed("risk_summary", result.params, config)
    lo, hi, bins = histogram_grid(moments.arrays["moments"], _BINS)
    _, hist = consortium.summed(
        "risk_summary",
        result.params,
        {**config, "stage": "histogram", "lo": lo, "hi": hi, "bins": bins},
    )
    cutoff = histogram_median(hist.arrays["histogram"], lo, hi)
    end = end_days or _follow_up_end(run)
    replies, counts = consortium.summed(
        "km_counts",
        result.params,
        {**config, "cutoff": cutoff, "step_days": _STEP_DAYS, "end_days": end},
    )
    at_risk, events = counts.arrays["at_risk"], counts.arrays["events"]
    test = logrank_from_counts(at_risk.T, events.T)
    groups = RiskGroups(
        method=result.method,
        cutoff=cutoff,
        grid_days=time_grid(_STEP_DAYS, end),
        at_risk=at_risk,
        events=events,
        logrank_statistic=test.statistic,
        logrank_p=test.p_value,
    )
    return _record(run, groups, plan_seq, [r.task_id for r in replies.values()])


def _follow_up_end(run: StudyRun) -> float:
    """The study's last evaluation horizon, or five years."""
    horizons = run.study.evaluation.horizons_days
    return float(max(horizons)) if horizons else 1825.0


def _record(
    run: StudyRun, groups: RiskGroups, plan_seq: int | None, tasks: list[str]
) -> RiskGroups:
    if run.audit is None:
        return groups
    done = run.audit.recorder.completed
    payload = {
        "plan": run.consortium.hub.plan_id,
        "method": f"risk_groups:{groups.method}",
        "metrics": {
            "logrank_statistic": decimal(groups.logrank_statistic),
            "logrank_p": decimal(groups.logrank_p),
            "n_low": decimal(float(groups.at_risk[0, 0])),
            "n_high": decimal(float(groups.at_risk[1, 0])),
        },
        "derived_from": sorted(done[t] for t in tasks if t in done),
    }
    seq = run.audit.recorder.record(run.audit.hub, "metric", payload)
    run.audit.checkpoint_and_cosign()
    ledger = {"metric_seq": seq} if plan_seq is None else {"plan_seq": plan_seq, "metric_seq": seq}
    return RiskGroups(**{**groups.__dict__, "ledger": ledger})

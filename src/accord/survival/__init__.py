"""Survival analysis: Cox partial likelihood, metrics, Kaplan-Meier, log-rank (numpy).

The torch Cox loss that sites train with is :mod:`accord.survival.losses`, outside this
face, so that the hub side (which only sums and evaluates) never imports torch.

Conventions: ``time`` in days (>= 0), ``event`` bool or 0/1 (1 = event observed),
``risk`` where higher means shorter survival. Invalid inputs raise
:class:`accord.core._errors.DataError`.
"""

from accord.survival._auc import TimeDependentAUC, time_dependent_auc
from accord.survival._bootstrap import Interval, bootstrap_interval
from accord.survival._brier import brier_score, integrated_brier_score
from accord.survival._concordance import (
    ConcordanceComponents,
    ConcordanceCounts,
    concordance_components,
    concordance_counts,
    harrell_c,
    uno_c,
)
from accord.survival._cox import (
    BaselineHazard,
    CoxDerivatives,
    breslow_baseline_hazard,
    cox_derivatives,
)
from accord.survival._kaplan_meier import (
    KaplanMeierCurve,
    censoring_survival,
    kaplan_meier,
    kaplan_meier_from_counts,
)
from accord.survival._logrank import LogRankResult, logrank_from_counts, logrank_test

__all__ = [
    "BaselineHazard",
    "ConcordanceComponents",
    "ConcordanceCounts",
    "CoxDerivatives",
    "Interval",
    "KaplanMeierCurve",
    "LogRankResult",
    "TimeDependentAUC",
    "bootstrap_interval",
    "breslow_baseline_hazard",
    "brier_score",
    "censoring_survival",
    "concordance_components",
    "concordance_counts",
    "cox_derivatives",
    "harrell_c",
    "integrated_brier_score",
    "kaplan_meier",
    "kaplan_meier_from_counts",
    "logrank_from_counts",
    "logrank_test",
    "time_dependent_auc",
    "uno_c",
]

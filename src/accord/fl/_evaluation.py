"""Site-side evaluation of a risk model: site-level metrics and summable pair counts.

What leaves the site: Harrell's C with a bootstrap interval, Uno's C, time-dependent AUC,
integrated Brier score, and concordant/discordant/tied/comparable pair counts (summed by
the hub into a consortium C-index). Patient and event counts below ``min_cell_count`` are
suppressed (sent as -1).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from accord.core import AccordError, Arrays, EvaluationSpec
from accord.data import SiteCohort
from accord.survival import (
    breslow_baseline_hazard,
    concordance_counts,
    integrated_brier_score,
    time_dependent_auc,
    uno_c,
)

__all__ = [
    "COUNT_KEYS",
    "SiteEvaluation",
    "bootstrap_counts",
    "cindex_interval",
    "difference_interval",
    "evaluate_risk",
    "suppress_small",
]

COUNT_KEYS = ("concordant", "discordant", "tied_risk", "comparable")


@dataclass(frozen=True)
class SiteEvaluation:
    arrays: Arrays
    metrics: dict[str, float | None]
    counts: dict[str, int]


def suppress_small(value: int, min_cell_count: int) -> int:
    """Counts under the threshold leave a site as -1 (suppressed); zero stays zero."""
    return value if value == 0 or value >= min_cell_count else -1


def _safe(fn: Callable[[], float]) -> float | None:
    """A metric that cannot be computed on this site's data (too few events, horizon past
    follow-up) is reported as missing rather than failing the whole evaluation."""
    try:
        value = float(fn())
    except (AccordError, ValueError, ZeroDivisionError, FloatingPointError):
        return None
    return value if np.isfinite(value) else None


def _horizons(train: SiteCohort, test: SiteCohort, spec: EvaluationSpec) -> np.ndarray:
    if spec.horizons_days:
        h = np.asarray(spec.horizons_days, dtype=np.float64)
    else:
        event_times = train.time_days[train.event]
        if event_times.size == 0:
            return np.empty(0)
        h = np.quantile(event_times, [0.25, 0.5, 0.75])
    lo, hi = test.time_days.min(), test.time_days.max()
    return np.unique(h[(h >= lo) & (h < hi)])


def evaluate_risk(
    *,
    train: SiteCohort,
    test: SiteCohort,
    risk_train: np.ndarray,
    risk_test: np.ndarray,
    evaluation: EvaluationSpec,
    min_cell_count: int,
    seed: int,
) -> SiteEvaluation:
    """Metrics of ``risk_test`` (higher = shorter survival) on the site's test rows."""
    t, e = test.time_days, test.event
    counts = concordance_counts(t, e, risk_test)
    boot = bootstrap_counts(t, e, risk_test, evaluation.bootstrap, seed)
    ci = cindex_interval(boot, evaluation.confidence) if evaluation.bootstrap > 0 else None
    horizons = _horizons(train, test, evaluation)
    metrics: dict[str, float | None] = {
        "harrell_c": _safe(lambda: counts.cindex),
        "harrell_c_lower": ci[0] if ci else None,
        "harrell_c_upper": ci[1] if ci else None,
        "uno_c": _safe(lambda: uno_c(train.time_days, train.event, t, e, risk_test)),
        "td_auc": _safe(
            lambda: (
                time_dependent_auc(train.time_days, train.event, t, e, risk_test, horizons).mean_auc
            )
        )
        if horizons.size
        else None,
        "ibs": _safe(lambda: _ibs(train, test, risk_train, risk_test, horizons))
        if horizons.size >= 2
        else None,
    }
    arrays = {
        "concordant": np.array([counts.concordant]),
        "discordant": np.array([counts.discordant]),
        "tied_risk": np.array([counts.tied_risk]),
        "comparable": np.array([float(counts.comparable)]),
    }
    if evaluation.bootstrap > 0:
        arrays["bootstrap_counts"] = boot
    site_counts = {
        "n_test": suppress_small(test.n, min_cell_count),
        "n_events": suppress_small(int(e.sum()), min_cell_count),
    }
    return SiteEvaluation(arrays=arrays, metrics=metrics, counts=site_counts)


def bootstrap_counts(
    time: np.ndarray, event: np.ndarray, risk: np.ndarray, n_resamples: int, seed: int
) -> np.ndarray:
    """Pair counts of ``n_resamples`` bootstrap resamples of the rows: shape (4, n_resamples).

    Rows are ``COUNT_KEYS``. Summing these arrays over sites gives a site-stratified
    bootstrap of the consortium C-index without any risk score leaving a site.
    """
    rng = np.random.default_rng(seed)
    out = np.zeros((len(COUNT_KEYS), n_resamples))
    n = len(time)
    for b in range(n_resamples):
        idx = rng.integers(0, n, size=n)
        c = concordance_counts(time[idx], event[idx], risk[idx])
        out[:, b] = (c.concordant, c.discordant, c.tied_risk, c.comparable)
    return out


def cindex_interval(counts: np.ndarray, confidence: float) -> tuple[float, float] | None:
    """Percentile interval of C over bootstrap pair counts (4, B); None if no resample counts."""
    comparable = counts[3]
    ok = comparable > 0
    if not ok.any():
        return None
    c = (counts[0, ok] + 0.5 * counts[2, ok]) / comparable[ok]
    alpha = 1.0 - confidence
    lower, upper = np.quantile(c, [alpha / 2.0, 1.0 - alpha / 2.0])
    return float(lower), float(upper)


def difference_interval(
    model_counts: np.ndarray, other_counts: np.ndarray, confidence: float
) -> tuple[float, float] | None:
    """Percentile interval of a paired difference in C, C_model − C_other, over bootstrap
    pair counts of the same resamples (each (4, B), rows ``COUNT_KEYS``).

    Column b of both arrays must count the same resample of the same held-out rows (every
    site draws its resamples from a seed that does not depend on the model:
    :func:`~accord.fl.tasks._handlers.bootstrap_seed`), so that the difference is paired
    and site-stratified when the arrays are summed over sites. Resamples without a
    comparable pair in either are left out; None if none is left.
    """
    if model_counts.shape != other_counts.shape:
        raise ValueError(
            f"paired bootstrap counts differ in shape: {model_counts.shape} and "
            f"{other_counts.shape}; expected the same resamples"
        )
    ok = (model_counts[3] > 0) & (other_counts[3] > 0)
    if not ok.any():
        return None
    diff = _resampled_c(model_counts[:, ok]) - _resampled_c(other_counts[:, ok])
    alpha = 1.0 - confidence
    lower, upper = np.quantile(diff, [alpha / 2.0, 1.0 - alpha / 2.0])
    return float(lower), float(upper)


def _resampled_c(counts: np.ndarray) -> np.ndarray:
    """C of each column of pair counts (4, B) that has comparable pairs."""
    return np.asarray((counts[0] + 0.5 * counts[2]) / counts[3], dtype=np.float64)


def _ibs(
    train: SiteCohort,
    test: SiteCohort,
    risk_train: np.ndarray,
    risk_test: np.ndarray,
    horizons: np.ndarray,
) -> float:
    """Integrated Brier score with the site's own Breslow baseline (a site-stratified model)."""
    baseline = breslow_baseline_hazard(train.time_days, train.event, risk_train)
    surv = baseline.survival(risk_test, horizons)
    return integrated_brier_score(
        train.time_days, train.event, test.time_days, test.event, surv, horizons
    )

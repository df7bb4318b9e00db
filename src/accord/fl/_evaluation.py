"""Site-side evaluation of a risk model: site-level metrics and summable pair counts.

What leaves the site: Harrell's C with its interval, Uno's C, time-dependent AUC,
integrated Brier score, and these summable arrays (the hub adds them over sites, securely
where the plan says so):

* ``concordant``, ``discordant``, ``tied_risk``, ``comparable`` (1,): pair counts; their
  sums give the consortium C-index.
* ``bootstrap_counts`` (4, B): the same counts in each of B resamples of the site's test
  rows (``COUNT_KEYS`` order); summed over sites, a site-stratified bootstrap of the
  consortium C.
* ``concordance_moments`` (7,): power sums of the patients' centred pair components, in
  units of :data:`PAIR_UNIT` pairs (``MOMENT_KEYS`` order; see :func:`concordance_moments`).
  With the consortium C they give the variance and skewness of the C-index's influence
  values: the acceleration of the BCa interval. A site with fewer than
  ``max(MOMENT_MIN_ROWS, min_cell_count)`` test rows sends zeros.

All are aggregates of fixed size, whatever the number of patients. Patient and event
counts below ``min_cell_count`` are suppressed (sent as -1).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
from scipy.stats import norm

from accord.core import AccordError, Arrays, EvaluationSpec
from accord.data import SiteCohort
from accord.survival import (
    breslow_baseline_hazard,
    concordance_components,
    concordance_counts,
    integrated_brier_score,
    time_dependent_auc,
    uno_c,
)

__all__ = [
    "COUNT_KEYS",
    "MOMENT_KEYS",
    "MOMENT_MIN_ROWS",
    "PAIR_UNIT",
    "SiteEvaluation",
    "bootstrap_counts",
    "cindex_interval",
    "concordance_arrays",
    "concordance_moments",
    "difference_interval",
    "evaluate_risk",
    "percentile_interval",
    "suppress_small",
]

COUNT_KEYS = ("concordant", "discordant", "tied_risk", "comparable")
MOMENT_KEYS = ("ss", "sc", "cc", "sss", "ssc", "scc", "ccc")
MOMENT_MIN_ROWS = 8  # fewer test rows (or fewer than min_cell_count): moments sent as zeros
"""Power sums of centred components s (concordance score) and c (comparable pairs)."""
PAIR_UNIT = 1000.0
"""Components are divided by this before powering: the third power sums of a
10^5-patient site then stay under the secure-aggregation clip (10^12)."""


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
    arrays = concordance_arrays(
        t,
        e,
        risk_test,
        evaluation.bootstrap,
        seed,
        min_moment_rows=max(MOMENT_MIN_ROWS, min_cell_count),
    )
    ci = cindex_interval(arrays, evaluation.confidence)
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
    site_counts = {
        "n_test": suppress_small(test.n, min_cell_count),
        "n_events": suppress_small(int(e.sum()), min_cell_count),
    }
    return SiteEvaluation(arrays=arrays, metrics=metrics, counts=site_counts)


def concordance_arrays(
    time: np.ndarray,
    event: np.ndarray,
    risk: np.ndarray,
    n_resamples: int,
    seed: int,
    *,
    min_moment_rows: int = MOMENT_MIN_ROWS,
) -> Arrays:
    """The summable concordance arrays a site releases (module docstring), for its test rows.

    ``bootstrap_counts`` and ``concordance_moments`` only when ``n_resamples`` > 0. With
    fewer than ``min_moment_rows`` rows the moments are sent as zeros: seven power sums of
    so few patients' pair components (whose sums the pair counts already give) could pin
    each patient's own; the interval then has no acceleration from this site (a = 0 alone).
    """
    counts = concordance_counts(time, event, risk)
    arrays = {
        "concordant": np.array([counts.concordant]),
        "discordant": np.array([counts.discordant]),
        "tied_risk": np.array([counts.tied_risk]),
        "comparable": np.array([float(counts.comparable)]),
    }
    if n_resamples > 0:
        arrays["bootstrap_counts"] = bootstrap_counts(time, event, risk, n_resamples, seed)
        moments = concordance_moments(time, event, risk)
        arrays["concordance_moments"] = moments if len(time) >= min_moment_rows else 0 * moments
    return arrays


def bootstrap_counts(
    time: np.ndarray, event: np.ndarray, risk: np.ndarray, n_resamples: int, seed: int
) -> np.ndarray:
    """Pair counts of ``n_resamples`` bootstrap resamples of the rows: shape (4, n_resamples).

    Rows are ``COUNT_KEYS``. Summing these arrays over sites gives a site-stratified
    bootstrap of the consortium C-index without any risk score leaving a site. Up to
    :data:`_MATRIX_ROWS` rows the counts come from the pair matrices and each resample's
    row multiplicities (one matrix product, the same numbers as counting each resample).
    """
    rng = np.random.default_rng(seed)
    n = len(time)
    resamples = (rng.integers(0, n, size=n) for _ in range(n_resamples))
    if 0 < n <= _MATRIX_ROWS:
        return _bootstrap_by_matrix(time, event, risk, list(resamples))
    out = np.zeros((len(COUNT_KEYS), n_resamples))
    for b, idx in enumerate(resamples):  # one at a time: a large site's resamples are big
        c = concordance_counts(time[idx], event[idx], risk[idx])
        out[:, b] = (c.concordant, c.discordant, c.tied_risk, c.comparable)
    return out


_MATRIX_ROWS = 1000
"""Largest site for the matrix path of :func:`bootstrap_counts` (three n x n float matrices,
24 MB at 1000 rows; larger sites count each resample in O(n log n) instead)."""


def _bootstrap_by_matrix(
    time: np.ndarray, event: np.ndarray, risk: np.ndarray, resamples: list[np.ndarray]
) -> np.ndarray:
    """Resample b counts pair (i, j) ``m_i m_j`` times (m: its row multiplicities), so its
    comparable count is ``m @ P @ m`` with P[i, j] = 1 where (i, j) is comparable (i the
    earlier event, as :func:`accord.survival.concordance_counts`); likewise the concordant
    and tied ones. A row is never comparable with itself, so copies of a row add nothing."""
    e = np.asarray(event, dtype=bool)
    later = time[None, :] > time[:, None]
    tie_censored = (time[None, :] == time[:, None]) & ~e[None, :]
    comparable = (e[:, None] & (later | tie_censored)).astype(np.float64)
    concordant = comparable * (risk[:, None] > risk[None, :])
    tied = comparable * (risk[:, None] == risk[None, :])
    m = np.stack([np.bincount(idx, minlength=len(time)) for idx in resamples], axis=1)
    m = m.astype(np.float64)
    counts = [np.einsum("ib,ib->b", m, matrix @ m) for matrix in (concordant, tied, comparable)]
    conc, tie, comp = counts
    return np.stack([conc, comp - conc - tie, tie, comp]) if resamples else np.zeros((4, 0))


def concordance_moments(time: np.ndarray, event: np.ndarray, risk: np.ndarray) -> np.ndarray:
    """Power sums (7,) of the site's centred pair components, ``MOMENT_KEYS`` order.

    For each test patient i, s_i is the concordance score and c_i the number of the
    comparable pairs it belongs to (:func:`accord.survival.concordance_components`),
    centred on the site's means and divided by :data:`PAIR_UNIT`. Returned: the sums of
    s², sc, c², s³, s²c, sc², c³. A patient's influence on the consortium C is
    ``s_i - C c_i`` (up to a common factor), so its second and third power sums follow
    from these and C alone; they add up over sites.
    """
    if len(time) == 0:
        return np.zeros(len(MOMENT_KEYS))
    parts = concordance_components(time, event, risk)
    s = (parts.score - parts.score.mean()) / PAIR_UNIT
    c = (parts.comparable - parts.comparable.mean()) / PAIR_UNIT
    return np.array([s @ s, s @ c, c @ c, np.sum(s**3), s**2 @ c, s @ c**2, np.sum(c**3)])


def cindex_interval(
    arrays: Mapping[str, np.ndarray], confidence: float
) -> tuple[float, float] | None:
    """BCa interval of Harrell's C from summed evaluation arrays; None without resamples.

    Parameters
    ----------
    arrays
        One site's evaluation arrays, or their sums over sites: ``concordant``,
        ``tied_risk``, ``comparable`` (1,), ``bootstrap_counts`` (4, B) and, optionally,
        ``concordance_moments`` (7,).
    confidence
        Coverage in (0, 1), e.g. 0.95.

    Returns
    -------
    (lower, upper), or None when no resample has a comparable pair.

    Efron's bias-corrected and accelerated percentile interval over the (site-stratified)
    bootstrap: the bias correction z0 from the share of resamples below the estimate, the
    acceleration from the skewness of the patients' influence values (a = 0 without
    ``concordance_moments``). Hand-written because ``scipy.stats.bootstrap`` needs the
    rows; the hub has only sums.
    """
    boot = arrays.get("bootstrap_counts")
    if boot is None or not (boot[3] > 0).any():
        return None
    ok = boot[3] > 0
    resampled = (boot[0, ok] + 0.5 * boot[2, ok]) / boot[3, ok]
    comparable = float(arrays["comparable"][0])
    if comparable <= 0:
        return None
    estimate = (float(arrays["concordant"][0]) + 0.5 * float(arrays["tied_risk"][0])) / comparable
    moments = arrays.get("concordance_moments")
    accel = _acceleration(moments, estimate) if moments is not None else 0.0
    levels = _bca_levels(resampled, estimate, accel, confidence)
    lower, upper = np.quantile(resampled, levels)
    return float(lower), float(upper)


def percentile_interval(counts: np.ndarray, confidence: float) -> tuple[float, float] | None:
    """Plain percentile interval of C over bootstrap pair counts (4, B) (the former method,
    kept for ``bench/coverage.py``); None if no resample has a comparable pair."""
    comparable = counts[3]
    ok = comparable > 0
    if not ok.any():
        return None
    c = (counts[0, ok] + 0.5 * counts[2, ok]) / comparable[ok]
    alpha = 1.0 - confidence
    lower, upper = np.quantile(c, [alpha / 2.0, 1.0 - alpha / 2.0])
    return float(lower), float(upper)


def _acceleration(moments: np.ndarray, cindex: float) -> float:
    """BCa acceleration sum(u³) / (6 sum(u²)^1.5) of the influence values u = s - C c."""
    ss, sc, cc, sss, ssc, scc, ccc = (float(m) for m in moments)
    k = cindex
    second = ss - 2.0 * k * sc + k * k * cc
    third = sss - 3.0 * k * ssc + 3.0 * k * k * scc - k**3 * ccc
    if not second > 0:
        return 0.0
    return third / (6.0 * float(np.sqrt(second)) ** 3)


def _bca_levels(
    resampled: np.ndarray, estimate: float, accel: float, confidence: float
) -> np.ndarray:
    """The two quantile levels of the BCa interval (Efron & Tibshirani 1993, 14.3)."""
    b = resampled.shape[0]
    below = (np.sum(resampled < estimate) + 0.5 * np.sum(resampled == estimate)) / b
    z0 = float(norm.ppf(np.clip(below, 0.5 / b, 1.0 - 0.5 / b)))
    alpha = 1.0 - confidence
    z = z0 + norm.ppf([alpha / 2.0, 1.0 - alpha / 2.0])
    denominator = 1.0 - accel * z
    # past the pole of z / (1 - a z) the level is the most extreme resample on that side
    safe = np.where(denominator > 0, denominator, 1.0)
    adjusted = np.where(denominator > 0, z0 + z / safe, np.sign(z) * np.inf)
    return np.asarray(norm.cdf(adjusted), dtype=np.float64)


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

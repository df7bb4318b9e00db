"""Site-side mathematics of the Cox proportional hazards model (numpy).

:func:`cox_derivatives` returns the partial log-likelihood with its gradient and Hessian,
*summed* over the rows given. Because they are sums, the values of several strata or sites
add up (``a + b``) to those of the pooled, stratified data: this is what federated
Newton-Raphson exchanges. :func:`breslow_baseline_hazard` estimates the baseline
cumulative hazard once the coefficients are known.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

from accord.core import DataError
from accord.survival._checks import (
    BoolArray,
    FloatArray,
    IntArray,
    _check_not_empty,
    _check_same_length,
    _check_survival,
    _check_vector,
)

__all__ = ["BaselineHazard", "CoxDerivatives", "breslow_baseline_hazard", "cox_derivatives"]

Ties = Literal["breslow", "efron"]


@dataclass(frozen=True)
class CoxDerivatives:
    """Partial log-likelihood (not negated) and its derivatives, summed over rows.

    Attributes:
        loglik: scalar partial log-likelihood.
        gradient: (p,) first derivative with respect to the coefficients.
        hessian: (p, p) second derivative (negative semi-definite).
    """

    loglik: float
    gradient: FloatArray
    hessian: FloatArray

    def __add__(self, other: CoxDerivatives) -> CoxDerivatives:
        """Sum over strata or sites (each keeps its own risk sets)."""
        return CoxDerivatives(
            loglik=self.loglik + other.loglik,
            gradient=self.gradient + other.gradient,
            hessian=self.hessian + other.hessian,
        )


@dataclass(frozen=True)
class _Groups:
    """Rows sorted by exit (time ascending, events first within a time), grouped by time."""

    group_of_row: IntArray  # (n,) index of the row's time among the unique times
    start: IntArray  # (G,) first sorted row of each unique time
    n_events: FloatArray  # (G,) number of events at each unique time
    event_rows: IntArray  # (n_events,) sorted positions of the events


def _check_design(
    x: npt.ArrayLike, beta: npt.ArrayLike, weights: npt.ArrayLike | None, n: int
) -> tuple[FloatArray, FloatArray, FloatArray]:
    design = np.asarray(x, dtype=np.float64)
    if design.ndim != 2:
        raise DataError(f"X has {design.ndim} dimensions; expected 2 (subjects x covariates)")
    if design.shape[0] != n:
        raise DataError(f"X has {design.shape[0]} rows; expected {n} (one per time)")
    bad = int(np.count_nonzero(~np.isfinite(design)))
    if bad:
        raise DataError(f"X has {bad} non-finite values; expected finite numbers")
    coef = _check_vector(beta, "beta")
    if coef.shape[0] != design.shape[1]:
        raise DataError(
            f"beta has {coef.shape[0]} entries; expected {design.shape[1]} (columns of X)"
        )
    if weights is None:
        return design, coef, np.ones(n)
    w = _check_same_length(_check_vector(weights, "weights"), n, "weights")
    if np.any(w <= 0):
        raise DataError(f"weights has {int(np.count_nonzero(w <= 0))} values <= 0; expected > 0")
    return design, coef, w


def _group(time: FloatArray, event: BoolArray) -> _Groups:
    new_group = np.ones(time.shape[0], dtype=bool)
    new_group[1:] = time[1:] != time[:-1]
    group_of_row = np.cumsum(new_group) - 1
    start = np.flatnonzero(new_group)
    n_events = np.bincount(group_of_row, weights=event, minlength=start.shape[0]).astype(np.float64)
    return _Groups(group_of_row, start, n_events, np.flatnonzero(event))


def _reverse_logcumsumexp(values: FloatArray) -> FloatArray:
    """log of the sums of exp(values) from each row to the end, shape (n + 1, ...).

    The trailing row is log(0) = -inf (the empty set after the last row).
    """
    with np.errstate(invalid="ignore"):  # logaddexp(-inf, -inf) is -inf, as wanted
        tail = np.logaddexp.accumulate(values[::-1], axis=0)[::-1]
    return np.concatenate([tail, np.full((1, *values.shape[1:]), -np.inf)])


def _segment_sum(values: FloatArray, segment: IntArray, n_segments: int) -> FloatArray:
    out = np.zeros((n_segments, *values.shape[1:]))
    np.add.at(out, segment, values)
    return out


@dataclass(frozen=True)
class _RiskSets:
    """Per unique time: log of the risk-set and tie sums, and their weighted covariate means."""

    log_risk: FloatArray  # (G,) log sum_{t_i >= u} phi_i
    log_rest: FloatArray  # (G,) the same without the events at u (-inf when none remain)
    log_tie: FloatArray  # (G,) log sum over the events at u of phi_i (-inf without events)
    risk_mean: FloatArray  # (G, p) phi-weighted mean of x over the risk set
    tie_mean: FloatArray  # (G, p) phi-weighted mean of x over the events at u


def _risk_sets(x: FloatArray, log_phi: FloatArray, groups: _Groups) -> _RiskSets:
    """Risk-set sums in log space: stable whatever the spread of the linear predictor."""
    with np.errstate(divide="ignore"):  # log(0) = -inf for the zero parts of x
        log_parts = np.log(np.concatenate([np.maximum(x, 0.0), np.maximum(-x, 0.0)], axis=1))
    tails = _reverse_logcumsumexp(np.column_stack([log_phi, log_phi[:, None] + log_parts]))
    log_risk = tails[groups.start, 0]
    parts = np.exp(tails[groups.start, 1:] - log_risk[:, None])
    p = x.shape[1]
    ev, n_groups = groups.event_rows, groups.start.shape[0]
    ev_group = groups.group_of_row[ev]
    peak = np.full(n_groups, -np.inf)
    np.maximum.at(peak, ev_group, log_phi[ev])
    scaled = np.exp(log_phi[ev] - peak[ev_group])  # in (0, 1]
    tie_scaled = np.bincount(ev_group, weights=scaled, minlength=n_groups)
    tie_x = _segment_sum(scaled[:, None] * x[ev], ev_group, n_groups)
    tie_mean = np.divide(
        tie_x, tie_scaled[:, None], out=np.zeros_like(tie_x), where=tie_scaled[:, None] > 0
    )
    with np.errstate(divide="ignore"):
        log_tie = np.log(tie_scaled) + peak
    return _RiskSets(
        log_risk=log_risk,
        log_rest=tails[groups.start + groups.n_events.astype(np.int64), 0],
        log_tie=log_tie,
        risk_mean=parts[:, :p] - parts[:, p:],
        tie_mean=tie_mean,
    )


def _accumulate(
    x: FloatArray, eta: FloatArray, w: FloatArray, groups: _Groups, ties: Ties
) -> CoxDerivatives:
    log_phi = eta + np.log(w)
    sets = _risk_sets(x, log_phi, groups)
    n_groups, ev = groups.start.shape[0], groups.event_rows
    ev_group = groups.group_of_row[ev]
    d = groups.n_events[ev_group]
    frac = (ev - groups.start[ev_group]) / d if ties == "efron" else np.zeros(ev.shape[0])
    with np.errstate(divide="ignore"):  # log1p(-0) is fine; log(0) of an empty rest is -inf
        log_denom = np.logaddexp(sets.log_rest[ev_group], np.log1p(-frac) + sets.log_tie[ev_group])
    weight_avg = np.zeros(n_groups)
    np.divide(
        np.bincount(ev_group, weights=w[ev], minlength=n_groups),
        groups.n_events,
        out=weight_avg,
        where=groups.n_events > 0,
    )

    def per_group(values: FloatArray) -> FloatArray:
        return weight_avg * np.bincount(ev_group, weights=values, minlength=n_groups)

    rho = np.exp(sets.log_risk[ev_group] - log_denom)  # R / D, in [1, d]
    tau = np.exp(sets.log_tie[ev_group] - log_denom)  # T / D, in (0, d]
    loglik = float(w[ev] @ eta[ev] - per_group(log_denom).sum())
    # a_j = c_j sum_k 1/D_k and b_j = c_j sum_k f_k/D_k, carried as weights on the rows
    with np.errstate(divide="ignore", invalid="ignore"):  # groups without events: unused
        log_a = np.log(per_group(rho)) - sets.log_risk
        log_b = np.log(per_group(frac * tau)) - sets.log_tie
        omega = np.exp(log_phi + np.logaddexp.accumulate(log_a)[groups.group_of_row])
        omega_tie = np.exp(log_phi[ev] + log_b[ev_group])
    gradient = w[ev] @ x[ev] - omega @ x + omega_tie @ x[ev]
    m, t = sets.risk_mean, sets.tie_mean
    s0, s1, s2 = per_group(rho**2), per_group(frac * rho * tau), per_group(frac**2 * tau**2)
    outer = (m.T * s0) @ m - (m.T * s1) @ t - (t.T * s1) @ m + (t.T * s2) @ t
    second = (x.T * omega) @ x - (x[ev].T * omega_tie) @ x[ev]
    return CoxDerivatives(loglik=loglik, gradient=gradient, hessian=outer - second)


def cox_derivatives(
    X: npt.ArrayLike,
    time: npt.ArrayLike,
    event: npt.ArrayLike,
    beta: npt.ArrayLike,
    ties: Ties = "efron",
    weights: npt.ArrayLike | None = None,
) -> CoxDerivatives:
    """Cox partial log-likelihood, gradient and Hessian at ``beta``, summed over rows.

    Args:
        X: (n, p) covariates.
        time: (n,) event or censoring times in days.
        event: (n,) bool or 0/1, 1 = event observed.
        beta: (p,) coefficients (log hazard ratios per covariate unit).
        ties: ``"efron"`` (exactly as lifelines' ``CoxPHFitter``) or ``"breslow"``.
        weights: optional (n,) positive case weights (as lifelines' ``weights_col``).

    Runs in O(n p^2) after one sort. Risk-set sums are accumulated in log space, so the
    result stays finite however widely the linear predictors ``X @ beta`` are spread.
    """
    if ties not in ("breslow", "efron"):
        raise DataError(f"ties is {ties!r}; expected 'breslow' or 'efron'")
    t, e = _check_survival(time, event)
    design, coef, w = _check_design(X, beta, weights, t.shape[0])
    order = np.lexsort((~e, t))  # by time, events before censorings at a tied time
    t, e, design, w = t[order], e[order], design[order], w[order]
    return _accumulate(design, design @ coef, w, _group(t, e), ties)


@dataclass(frozen=True)
class BaselineHazard:
    """Breslow baseline cumulative hazard, a right-continuous step function.

    Attributes:
        times: (m,) unique observed times in days, ascending.
        cumulative_hazard: (m,) H0 at each of ``times``.
    """

    times: FloatArray
    cumulative_hazard: FloatArray

    def cumulative_hazard_at(self, times: npt.ArrayLike) -> FloatArray:
        """H0 at arbitrary ``times`` (days), shape like ``times``; 0 before the first time."""
        query = np.asarray(times, dtype=np.float64)
        idx = np.searchsorted(self.times, query, side="right")
        padded = np.concatenate([[0.0], self.cumulative_hazard])
        result: FloatArray = padded[idx]
        return result

    def survival(self, risk: npt.ArrayLike, times: npt.ArrayLike) -> FloatArray:
        """Survival probabilities exp(-H0(t) exp(risk)), shape (n, len(times)).

        ``risk`` is the (n,) log partial hazard on the scale used to fit the hazard.
        """
        r = _check_vector(risk, "risk")
        h0 = self.cumulative_hazard_at(_check_vector(times, "times"))
        result: FloatArray = np.exp(-np.outer(np.exp(r), h0))
        return result


def breslow_baseline_hazard(
    time: npt.ArrayLike, event: npt.ArrayLike, risk: npt.ArrayLike
) -> BaselineHazard:
    """Breslow estimator H0(t) = sum over event times u <= t of d(u) / sum_{t_i >= u} exp(risk_i).

    Args:
        time: (n,) event or censoring times in days.
        event: (n,) bool or 0/1, 1 = event observed.
        risk: (n,) fitted log partial hazards. To reproduce lifelines'
            ``baseline_cumulative_hazard_``, centre the covariates: ``(X - X.mean(0)) @ beta``.
    """
    t, e = _check_survival(time, event)
    _check_not_empty(t.shape[0])
    r = _check_same_length(_check_vector(risk, "risk"), t.shape[0], "risk")
    unique, group_of_row = np.unique(t, return_inverse=True)
    peak = r.max()
    at_risk = np.cumsum(np.bincount(group_of_row, weights=np.exp(r - peak))[::-1])[::-1]
    deaths = np.bincount(group_of_row, weights=e.astype(np.float64), minlength=unique.shape[0])
    hazard = deaths / at_risk * np.exp(-peak)
    return BaselineHazard(times=unique, cumulative_hazard=np.cumsum(hazard))

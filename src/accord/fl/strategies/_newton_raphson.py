"""Federated Newton–Raphson for the site-stratified Cox model.

Each round every site returns the gradient and Hessian of its stratum's partial
log-likelihood at the current coefficients (sums over its rows, no per-patient value);
the hub adds them, applies the ridge penalty and solves for the Newton step. Because the
stratified partial likelihood is a sum over strata, this reaches exactly the optimum of
``lifelines.CoxPHFitter(strata=[site], penalizer=l2)`` on pooled rows.

The penalty follows lifelines: ``l2 · n / 2 · ||β||²`` with ``n`` the total number of rows.
A step that lowers the penalised log-likelihood is halved (backtracking) on the next round.

Sums may be rounded (secure aggregation sums in fixed point: the summed loglik, gradient
and Hessian are exact to ``WeightedSum.resolution``). A fall of the loglik within twice that
resolution is noise, not a worse point, so it never triggers backtracking; and the fit is
converged when the step is below ``tol`` or when its predicted gain (half the Newton
decrement ``g·δ``) is below the resolution — no further step can be told from rounding.
The step of the last round is taken either way (a final step from the last summed
derivatives), so a secure fit lands where the plain one does, to within
``(-H)⁻¹ · resolution``.

The state keeps the *penalised* observed information ``-(H - l2·n·I)`` at the last point
where derivatives were summed (``extra["information"]``): the standard errors of the fit
come from its inverse (for a penalised fit, the penalised information, as lifelines does).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
import scipy.linalg

from accord.core import AggregationError, Arrays, ConvergenceError
from accord.fl._aggregation import WeightedSum
from accord.fl.strategies._base import GlobalState, Instruction, SiteInfo

__all__ = ["NewtonRaphson"]

PARAM = "linear.weight"


@dataclass
class NewtonRaphson:
    """Hub side of federated Newton–Raphson; sites answer ``newton`` tasks.

    ``features`` (the design matrix's column names, optional) name the feature in the
    error a singular Hessian raises.
    """

    l2: float = 0.0
    ties: str = "efron"
    tol: float = 1e-9
    name: str = "newton_raphson"
    needs_individual_updates: bool = False
    features: tuple[str, ...] = ()

    def initialize(self, params: Arrays) -> GlobalState:
        if set(params) != {PARAM}:
            raise AggregationError("Newton–Raphson needs a linear Cox model (one weight vector)")
        return GlobalState(params={PARAM: np.zeros_like(params[PARAM], dtype=np.float64)})

    def configure_round(
        self, rnd: int, state: GlobalState, sites: Sequence[SiteInfo]
    ) -> list[Instruction]:
        config: dict[str, int | float | str | bool] = {"ties": self.ties, "weighting": "uniform"}
        return [Instruction(s.site, "newton", {"beta": state.params[PARAM]}, config) for s in sites]

    def aggregate(self, rnd: int, summed: WeightedSum, state: GlobalState) -> GlobalState:
        beta = state.params[PARAM].reshape(-1)
        n = float(summed.counts.get("n", 0))
        ll = float(summed.arrays["loglik"][0]) - 0.5 * self.l2 * n * float(beta @ beta)
        prev_ll = float(state.extra["prev_ll"][0]) if "prev_ll" in state.extra else -np.inf
        noise = 2.0 * summed.resolution  # two rounded sums are compared
        if ll < prev_ll - max(noise, 1e-12 * max(1.0, abs(prev_ll))):
            entry = {"round": float(rnd), "penalised_loglik": ll, "backtracked": 1.0}
            return self._backtrack(state, beta, (*state.history, entry))
        grad = summed.arrays["gradient"] - self.l2 * n * beta
        hess = summed.arrays["hessian"] - self.l2 * n * np.eye(beta.size)
        step = _newton_step(hess, grad, self.features)
        gain = 0.5 * float(grad @ step)  # predicted rise of the loglik (Newton decrement / 2)
        largest = float(np.max(np.abs(step), initial=0.0))
        converged = largest < self.tol or gain < summed.resolution
        entry = {
            "round": float(rnd),
            "penalised_loglik": ll,
            "step": largest,
            "gradient_norm": float(np.linalg.norm(grad)),
        }
        extra = {"prev_ll": np.array([ll]), "prev_beta": beta.copy(), "information": -hess}
        return GlobalState(
            params={PARAM: (beta + step).reshape(1, -1)},
            extra=extra,
            converged=converged,
            history=(*state.history, entry),
        )

    def _backtrack(
        self, state: GlobalState, beta: np.ndarray, history: tuple[dict[str, float], ...]
    ) -> GlobalState:
        prev_beta = state.extra["prev_beta"]
        halfway = prev_beta + 0.5 * (beta - prev_beta)
        if np.max(np.abs(halfway - prev_beta)) < self.tol:
            params = {PARAM: prev_beta.reshape(1, -1)}
            return replace(state, params=params, converged=True, history=history)
        return replace(state, params={PARAM: halfway.reshape(1, -1)}, history=history)


def _newton_step(hess: np.ndarray, grad: np.ndarray, features: Sequence[str]) -> np.ndarray:
    """Solve (-H) δ = g for the ascent step; -H is positive definite for a concave objective."""
    try:
        step: np.ndarray = scipy.linalg.solve(-hess, grad, assume_a="pos", check_finite=True)
    except (np.linalg.LinAlgError, ValueError) as exc:
        raise ConvergenceError(
            f"Newton–Raphson: the summed Hessian is singular or not finite "
            f"({_suspect(hess, features)}); raise model.l2 (e.g. 0.01), merge rare "
            "categorical levels or drop the feature"
        ) from exc
    return step


def _suspect(hess: np.ndarray, features: Sequence[str]) -> str:
    """Which feature makes -H singular: the largest entry of its weakest eigenvector (a
    constant column, a level without events, a separating or collinear feature)."""
    if not np.all(np.isfinite(hess)) or hess.size == 0:
        return "collinear features or a separating feature?"
    values, vectors = np.linalg.eigh(-hess)
    column = int(np.argmax(np.abs(vectors[:, int(np.argmin(values))])))
    name = features[column] if column < len(features) else f"column {column + 1}"
    return (
        f"feature '{name}' is not estimable: a constant column, a categorical level "
        "without events, or a feature that separates events perfectly"
    )

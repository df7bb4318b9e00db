"""Federated Newton–Raphson for the site-stratified Cox model.

Each round every site returns the gradient and Hessian of its stratum's partial
log-likelihood at the current coefficients (sums over its rows, no per-patient value);
the hub adds them, applies the ridge penalty and solves for the Newton step. Because the
stratified partial likelihood is a sum over strata, this reaches exactly the optimum of
``lifelines.CoxPHFitter(strata=[site], penalizer=l2)`` on pooled rows.

The penalty follows lifelines: ``l2 · n / 2 · ||β||²`` with ``n`` the total number of rows.
A step that lowers the penalised log-likelihood is halved (backtracking) on the next round.
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
    """Hub side of federated Newton–Raphson; sites answer ``newton`` tasks."""

    l2: float = 0.0
    ties: str = "efron"
    tol: float = 1e-9
    name: str = "newton_raphson"
    needs_individual_updates: bool = False

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
        history = (*state.history, {"round": float(rnd), "penalised_loglik": ll})
        if ll < prev_ll - 1e-12 * max(1.0, abs(prev_ll)):
            return self._backtrack(state, beta, history)
        grad = summed.arrays["gradient"] - self.l2 * n * beta
        hess = summed.arrays["hessian"] - self.l2 * n * np.eye(beta.size)
        step = _newton_step(hess, grad)
        new_beta = beta + step
        extra = {"prev_ll": np.array([ll]), "prev_beta": beta.copy()}
        converged = bool(np.max(np.abs(step), initial=0.0) < self.tol)
        return GlobalState(
            params={PARAM: new_beta.reshape(1, -1)},
            extra=extra,
            converged=converged,
            history=history,
        )

    def _backtrack(
        self, state: GlobalState, beta: np.ndarray, history: tuple[dict[str, float], ...]
    ) -> GlobalState:
        prev_beta = state.extra["prev_beta"]
        halfway = prev_beta + 0.5 * (beta - prev_beta)
        if np.max(np.abs(halfway - prev_beta)) < self.tol:
            return replace(state, params={PARAM: prev_beta.reshape(1, -1)}, converged=True)
        return replace(state, params={PARAM: halfway.reshape(1, -1)}, history=history)


def _newton_step(hess: np.ndarray, grad: np.ndarray) -> np.ndarray:
    """Solve (-H) δ = g for the ascent step; -H is positive definite for a concave objective."""
    try:
        step: np.ndarray = scipy.linalg.solve(-hess, grad, assume_a="pos", check_finite=True)
    except (np.linalg.LinAlgError, ValueError) as exc:
        raise ConvergenceError(
            "Newton–Raphson: the summed Hessian is singular or not finite (collinear "
            "features or a separating feature?); set model.l2 > 0"
        ) from exc
    return step

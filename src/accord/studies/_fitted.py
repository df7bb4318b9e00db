"""What a trained model is, beyond its scores: its convergence and linear Cox coefficients.

Newton–Raphson carries the summed observed information of its last round
(:class:`~accord.fl.strategies.NewtonRaphson`). A gradient-trained linear Cox model
(FedAvg, FedOpt, …, pooled) gets one extra ``newton`` exchange at its final parameters
through the same plan — summed securely where the plan is — so its standard errors come
from the summed Hessian too; it is logged as the round after the last training round and
labelled ``information (round R)`` where a site missed it. Models without a linear Cox
part (MLP, MIL), logistic-hazard models and DP-trained ones get a note instead: under DP
an exact Hessian would be a release no mechanism covers.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from accord.core import AggregationError, StudySpec
from accord.data import Preprocessor
from accord.fl import Hub, Plan
from accord.fl.strategies import GlobalState, Instruction
from accord.studies._coefficients import CoefficientTable, coefficient_table
from accord.studies._outcome import Convergence

__all__ = ["FitDetails", "fit_details", "rounds_run"]

PARAM = "linear.weight"
INFORMATION = "information"  # the label of the extra exchange in ``excluded_sites``


@dataclass(frozen=True)
class FitDetails:
    """The convergence of one training, its coefficient table (or a note why none), and
    the round number of its extra information exchange (None: no such exchange)."""

    convergence: Convergence
    table: CoefficientTable | None
    note: str = ""
    information_round: int | None = None


def rounds_run(hub: Hub, plan: Plan, log_start: int, state: GlobalState, default: int) -> int:
    """Training rounds ``plan`` ran: the last round logged since ``log_start`` plus one
    (a resumed hub logs only the rounds after its checkpoint, which carry their numbers)."""
    rounds = [e.round for e in hub.log[log_start:] if e.plan == plan.plan_id]
    if rounds:
        return max(rounds) + 1
    return len(state.history) or default


def _no_linear_part(study: StudySpec) -> str:
    if study.model.kind != "linear_cox":
        return (
            f"model '{study.model.kind}' has no linear Cox part: its risk is a non-linear "
            "function of the features, so there are no per-feature hazard ratios"
        )
    if study.model.loss != "cox":
        return (
            "a logistic-hazard model's weights are discrete-time log-odds, not Cox "
            "coefficients: no hazard ratios are reported"
        )
    return ""


def _convergence(state: GlobalState, iterations: int, newton: bool, tol: float) -> Convergence:
    if not newton:
        return Convergence(
            iterations, None, "fixed number of gradient rounds (no convergence test)"
        )
    last = state.history[-1] if state.history else {}
    criterion = (
        f"largest Newton step < tol ({tol:g}), or a predicted gain below the sums' "
        "rounding; a rejected step is halved"
    )
    return Convergence(
        iterations,
        bool(state.converged),
        criterion,
        last.get("step"),
        last.get("gradient_norm"),
    )


def fit_details(
    hub: Hub,
    plan: Plan,
    study: StudySpec,
    state: GlobalState,
    preprocessor: Preprocessor,
    iterations: int,
) -> FitDetails:
    """Convergence and coefficients of ``state``, trained under ``plan`` on ``hub``'s sites
    (one extra summed ``newton`` exchange for a gradient-trained linear Cox model)."""
    newton = study.training.strategy == "newton_raphson"
    convergence = _convergence(state, iterations, newton, study.training.tol)
    why = _no_linear_part(study)
    if why or PARAM not in state.params:
        return FitDetails(convergence, None, why or "no linear Cox weights")
    beta = np.asarray(state.params[PARAM], dtype=np.float64).reshape(-1)
    confidence = study.evaluation.confidence
    if newton:
        information = state.extra.get("information")
        if information is None:
            return FitDetails(convergence, coefficient_table(beta, None, preprocessor), "")
        table = coefficient_table(beta, information, preprocessor, confidence)
        return FitDetails(convergence, table, table.note)
    if study.privacy.dp != "none":
        note = (
            "no standard errors: the exact summed Hessian they need is a release that the "
            "study's differential privacy does not cover"
        )
        return FitDetails(convergence, coefficient_table(beta, None, preprocessor), note)
    try:
        information, gradient = _summed_information(hub, plan, study, beta, iterations)
    except AggregationError as exc:
        note = f"no standard errors: the information exchange failed ({exc})"
        table = coefficient_table(beta, None, preprocessor)
        return FitDetails(convergence, table, note, iterations)
    convergence = Convergence(
        convergence.iterations,
        None,
        convergence.criterion,
        None,
        float(np.linalg.norm(gradient)),
    )
    table = coefficient_table(beta, information, preprocessor, confidence)
    return FitDetails(convergence, table, table.note, iterations)


def _summed_information(
    hub: Hub, plan: Plan, study: StudySpec, beta: np.ndarray, rnd: int
) -> tuple[np.ndarray, np.ndarray]:
    """The penalised observed information and gradient at ``beta``, summed over ``plan``'s
    sites in round ``rnd`` (secure where the plan is)."""
    config: dict[str, int | float | str | bool] = {
        "ties": study.model.ties,
        "weighting": "uniform",
    }
    weights = {"beta": beta.reshape(1, -1)}
    instructions = [Instruction(s.site, "newton", weights, config) for s in plan.sites]
    summed = hub.run_instructions(plan, rnd, instructions)
    n = float(summed.counts.get("n", 0))
    l2 = study.model.l2
    information = -summed.arrays["hessian"] + l2 * n * np.eye(beta.size)
    gradient = summed.arrays["gradient"] - l2 * n * beta
    return information, gradient

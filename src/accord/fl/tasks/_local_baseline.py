"""Local-only baseline, site side: the study's model trained on this site's rows alone.

A ``local_baseline`` task carries the study's initial model. The site trains it on its own
training rows with the study's local settings, exactly as a consortium of this one site
would (plain FedAvg's rounds — or Newton–Raphson's for a linear Cox study — through the
same :func:`~accord.fl.tasks._handlers.handle_train` / ``handle_newton`` and the same
per-round seeds), scores it on its own test rows
(:func:`~accord.fl.tasks._handlers.handle_evaluate`, the same bootstrap resamples as every
other model's evaluation there) and replies with the site-level metrics, the
small-cell-suppressed counts and the evaluation's pair counts with their bootstrap
resamples: summable aggregates, which the hub sums (securely where the plan says so) into
the consortium C of the local-only models and its paired difference with the federated
model's. The parameters never leave the site, so no other site scores the model.

Like every method, it works on the site's rows as the consortium's preprocessing encoded
them (the clinical preprocessor and, for MIL models, the consortium's tile
standardisation). The in-hub reference it replaces trained a MIL model on tiles
standardised with the site's own statistics and had it scored on the consortium-standardised
ones; for MIL studies the figures therefore differ from that reference's (clinical models:
the same figures).
"""

from __future__ import annotations

from collections.abc import Callable

from accord.core import DataError, encode_arrays
from accord.data import Preprocessor
from accord.fl._aggregation import sum_contributions
from accord.fl._site import Handler, SiteContext
from accord.fl._task_config import TaskConfig
from accord.fl.strategies import (
    GlobalState,
    Instruction,
    SiteInfo,
    build_strategy,
    single_site_training,
)
from accord.fl.tasks._handlers import handle_evaluate, handle_newton, handle_train
from accord.net import Reply, Task, TaskKind

__all__ = ["LOCAL_BASELINE", "handle_local_baseline"]

LOCAL_BASELINE: TaskKind = "local_baseline"

_TRAINING: dict[str, Handler] = {"train": handle_train, "newton": handle_newton}


def _inner(task: Task, kind: TaskKind, rnd: int, instruction: Instruction | None) -> Task:
    """One step of the local run as the task a one-site consortium's hub would send: in
    clear (the task's secure round, if any, sums its reply, not these steps)."""
    own = {k: v for k, v in task.config.items() if not k.startswith("secagg")}
    config = {**own, **(instruction.config if instruction else {})}
    return Task(
        task_id=f"{task.task_id}.{kind}.{rnd}",
        plan_id=task.plan_id,
        round=rnd,
        site=task.site,
        kind=kind,
        config=config,
        payload=encode_arrays(instruction.arrays) if instruction else b"",
    )


def _train_alone(task: Task, ctx: SiteContext, step: Callable[[Task], Reply]) -> GlobalState:
    """Train the task's model on this site's rows: the study's strategy for one site
    (plain FedAvg with server learning rate 1 for any averaging strategy, or
    Newton–Raphson: :func:`~accord.fl.strategies.single_site_training`), for the plan's
    rounds."""
    study = ctx.study
    training = single_site_training(study.training)
    prep = ctx.state.get("preprocessor")  # column names for a singular Hessian's error
    columns = prep.columns if isinstance(prep, Preprocessor) else ()
    strategy = build_strategy(training, study.model, columns)
    state = strategy.initialize(task.arrays)
    sites = (SiteInfo(ctx.site, ctx.cohort.n_train),)
    for rnd in range(TaskConfig.of(task).rounds or training.rounds):
        replies = [
            step(_inner(task, ins.kind, rnd, ins))
            for ins in strategy.configure_round(rnd, state, sites)
        ]
        summed = sum_contributions((r.arrays, r.weight, r.counts) for r in replies)
        state = strategy.aggregate(rnd, summed, state)
        if state.converged:
            break
    return state


def handle_local_baseline(task: Task, ctx: SiteContext) -> Reply:
    """Train on this site's training rows only, score on its test rows; reply the metrics
    (and the privacy the training spent, the rounds run and, for Newton–Raphson, whether it
    converged), the suppressed counts and the evaluation's pair counts and bootstrap pair
    counts (summable aggregates, securely summed when the plan says so), no parameters."""
    if not ctx.cohort.subset(test=False).event.any():
        raise DataError(
            f"site '{ctx.site}': no events among its train rows; a local-only Cox model "
            "cannot be trained on them alone"
        )
    spent: dict[str, float | None] = {}

    def step(inner: Task) -> Reply:
        reply = _TRAINING[inner.kind](inner, ctx)
        spent.update({k: v for k, v in reply.metrics.items() if k != "train_loss"})
        return reply

    state = _train_alone(task, ctx, step)
    evaluate = _inner(task, "evaluate", 0, None)
    scored = handle_evaluate(
        evaluate.model_copy(update={"payload": encode_arrays(state.params)}), ctx
    )
    metrics = {**scored.metrics, **spent, **_ending(task, ctx, state)}
    return Reply.build(
        arrays=scored.arrays,
        task_id=task.task_id,
        site=task.site,
        kind=task.kind,
        weight=1.0,
        metrics=metrics,
        counts=scored.counts,
    )


def _ending(task: Task, ctx: SiteContext, state: GlobalState) -> dict[str, float | None]:
    """Rounds run and, for Newton–Raphson (which has a convergence test), converged 0/1:
    per-site metrics, in clear (counts are summed under a secure plan)."""
    rounds = len(state.history) or TaskConfig.of(task).rounds or ctx.study.training.rounds
    ending: dict[str, float | None] = {"rounds": float(rounds)}
    if ctx.study.training.strategy == "newton_raphson":
        ending["converged"] = float(state.converged)
    return ending

"""A study run by a hub that holds no row: the federated methods and nothing else.

:func:`run_federated` is what a deployed hub runs for a researcher's submission (and what
``accord hub serve`` runs for its one study): the consortium's preprocessing from the
sites' statistics, the study's federated method, its clinical-only baseline and, where
secure aggregation allows, the risk groups of the federated model. References that need
every row in one place (pooled, the oracle) are never computed here: a note in the results
says so. Local-only baselines are trained and scored where each site's rows are (one site
task each; only the metrics come back).
"""

from __future__ import annotations

from accord.core import StudySpec
from accord.studies._audit import RunLedger
from accord.studies._checkpoints import PlanCheckpoints
from accord.studies._comparisons import with_comparisons
from accord.studies._consortium import Consortium
from accord.studies._federated_run import Progress, StudyRun
from accord.studies._outcome import MethodResult

__all__ = ["POOLED_NOTE", "federated_methods", "run_federated", "with_risk_groups"]

POOLED_NOTE = (
    "pooled baseline: it needs every site's rows in one place, which only a simulation has"
)


def federated_methods(run: StudyRun) -> list[MethodResult]:
    """The study's federated method, then its clinical-only baseline (if it has one)."""
    study = run.study
    results = [run.federated()]
    if "clinical_only" in study.training.baselines and study.model.kind != "linear_cox":
        results.append(run.clinical_only())
    return results


def with_risk_groups(run: StudyRun, results: list[MethodResult]) -> list[MethodResult]:
    """Compute the risk groups of the first (federated) result, when they can be released."""
    study = run.study
    if study.study.task == "survival" and results[0].params and run.secure_risk_groups():
        run.risk_groups = run.compute_risk_groups(results[0], study.model.kind)
    return results


def run_federated(
    study: StudySpec,
    seed: int,
    consortium: Consortium,
    *,
    audit: RunLedger | None,
    checkpoints: PlanCheckpoints | None = None,
    progress: Progress | None = None,
) -> tuple[StudyRun, list[MethodResult]]:
    """Every federated figure of ``study`` on ``consortium``; no reference needing rows."""
    run = StudyRun.start(
        study, consortium, seed, progress=progress, audit=audit, checkpoints=checkpoints
    )
    results = federated_methods(run)
    if "pooled" in study.training.baselines:
        run.notes.append(POOLED_NOTE)
    if "local" in study.training.baselines:
        results.extend(run.local_baselines())  # trained and scored at each site
    with_comparisons(run, results)  # the study's model against its baselines, paired
    return run, with_risk_groups(run, results)

"""A deployed site's studies: each task goes to the site of its plan's study and dataset.

A site process of a long-running consortium does not hold one study file: it holds its
registered datasets (``SITE/datasets/``, :mod:`._site_datasets`) and its policy. For each
task it reads the task's plan from its verified replica, and the plan's function: the
study configuration its data owner approved for the dataset the plan names. The first
task of a (study, dataset, seed) loads that dataset's rows with that study's cohort
settings into a :class:`~accord.fl.Site` of its own (its state — the consortium's
preprocessing, tile standardisation — kept under ``state/KEY/`` for a restart); the
following tasks of the study's plans reuse it.

Before any row is opened, a task is refused — with a signed ``task.refused`` — when its
plan is not on the ledger, names none of this site's datasets, or runs a function its
owner has not approved for that dataset. Every task taken, refused and finished is one
log line (ids and reasons only).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from accord.core import AccordError, MissingFileError, PolicyError, StudySpec
from accord.fl import Site, SiteGovernance
from accord.fl.governance import GovernanceView
from accord.net import Reply, Task

__all__ = ["Route", "StudyRouter"]

log = logging.getLogger("accord.site")

SiteFactory = Callable[["Route"], Site]


@dataclass(frozen=True)
class Route:
    """Where a task runs: its study, the dataset and its rows, the seed, the state folder."""

    study: StudySpec
    dataset: str
    data: Path
    seed: int

    @property
    def key(self) -> str:
        text = f"{self.study.config_hash()}|{self.dataset}|{self.seed}"
        return hashlib.sha256(text.encode()).hexdigest()[:16]


class StudyRouter:
    """Routes tasks to one Site per :class:`Route`, built by ``build`` on first use.

    ``governance`` is the site's view of the ledger (any of its datasets: only the
    replica's state is read here); ``datasets()`` maps this site's dataset ids to their
    rows' folders; ``refuse(task, dataset, reason)`` signs a refusal; ``special`` answers
    task kinds that need no study (the ledger sync).
    """

    def __init__(
        self,
        org: str,
        governance: SiteGovernance,
        datasets: Callable[[], dict[str, Path]],
        build: SiteFactory,
        refuse: Callable[[Task, str, str], None],
        *,
        require_approval: bool = True,
        special: dict[str, Callable[[Task], Reply]] | None = None,
    ) -> None:
        self.org = org
        self.governance = governance
        self.datasets = datasets
        self.build = build
        self.refuse = refuse
        self.require_approval = require_approval
        self.special = dict(special or {})  # kinds answered without a study (ledger sync)
        self.sites: dict[str, Site] = {}

    def __str__(self) -> str:
        return self.org

    def route(self, task: Task, view: GovernanceView) -> Route:
        """The task's route; PolicyError (nothing opened) when it may not run here."""
        plan = view.plans.get(task.plan_id)
        if plan is None:
            raise PolicyError(f"plan {task.plan_id} is not on the ledger")
        function = view.functions.get(plan.function)
        if function is None or not function.intact:
            raise PolicyError(f"plan {task.plan_id} runs no intact registered function")
        own = self.datasets()
        named = [d for d in plan.datasets if d in own]
        if not named:
            raise PolicyError(f"plan {task.plan_id} names no dataset of {self.org}")
        dataset = named[0]
        if self.require_approval and not view.is_approved(plan.function, dataset):
            decision = view.decision(plan.function, dataset)
            h12 = plan.function[:12]
            if decision is not None and not decision.approved:
                raise PolicyError(f"function {h12} was rejected for dataset {dataset}")
            raise PolicyError(f"function {h12} is not approved for dataset {dataset}")
        study = StudySpec.model_validate(dict(function.archive["config"]))
        seed = plan.seed if plan.seed is not None else 0
        return Route(study, dataset, own[dataset], seed)

    def handle(self, task: Task) -> Reply:
        """Run ``task`` at its route's site, or refuse it before touching any data."""
        if task.kind in self.special:
            return self.special[task.kind](task)
        try:
            route = self.route(task, self.governance.view())
        except PolicyError as exc:
            log.info(
                "site %s refused task %s (%s, plan %s): %s",
                self.org,
                task.task_id,
                task.kind,
                task.plan_id,
                exc,
            )
            self.refuse(task, "", str(exc))
            return _refused(task, f"PolicyError: {exc}")
        site = self.sites.get(route.key)
        if site is None:
            try:
                site = self.build(route)
            except AccordError as exc:  # the dataset's rows do not load under this study
                # a missing file's message holds the site's own paths: they stay here
                why = "a file or folder is missing" if isinstance(exc, MissingFileError) else exc
                reason = f"dataset {route.dataset} does not load as this study's cohort: {why}"
                log.info(
                    "site %s refused task %s (plan %s): dataset %s does not load (%s)",
                    self.org,
                    task.task_id,
                    task.plan_id,
                    route.dataset,
                    type(exc).__name__,
                )
                self.refuse(task, route.dataset, reason)
                return _refused(task, f"{type(exc).__name__}: {reason}")
            self.sites[route.key] = site
        log.info(
            "site %s took task %s (%s, plan %s, round %d)",
            self.org,
            task.task_id,
            task.kind,
            task.plan_id,
            task.round,
        )
        reply = site.handle(task)
        log.info("site %s %s task %s", self.org, _outcome(reply), task.task_id)
        return reply


def _outcome(reply: Reply) -> str:
    return {"ok": "finished", "refused": "refused", "failed": "failed"}.get(
        reply.status, reply.status
    )


def _refused(task: Task, error: str, status: str = "refused") -> Reply:
    return Reply.build(
        task_id=task.task_id,
        site=task.site,
        kind=task.kind,
        status=status,  # type: ignore[arg-type]
        error=error,
    )

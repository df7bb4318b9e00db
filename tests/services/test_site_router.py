"""A deployed site routes each task by its signed plan; it refuses — signed, before any row
is opened — a plan not on its ledger, one naming none of its datasets, or one whose function
its owner has not approved (#15)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from accord.core import StudySpec
from accord.fl.governance import GovernanceView
from accord.fl.governance._function import study_config
from accord.net import Reply, Task
from accord.services._site_router import Route, StudyRouter
from accord.studies import resolve_study
from tests.fl.governance.conftest import SITE_A, LedgerFactory, make_archive


class _Governance:
    def __init__(self, view: GovernanceView) -> None:
        self._view = view

    def view(self) -> GovernanceView:
        return self._view


class _Site:
    def __init__(self) -> None:
        self.tasks: list[str] = []

    def handle(self, task: Task) -> Reply:
        self.tasks.append(task.task_id)
        return Reply.build(task_id=task.task_id, site=task.site, kind=task.kind)


def _router(ledger: LedgerFactory) -> tuple[StudyRouter, dict[str, Any]]:
    seen: dict[str, Any] = {"built": [], "refused": [], "site": _Site()}
    view = ledger.view()

    def build(route: Route) -> Any:
        seen["built"].append(route)
        return seen["site"]

    router = StudyRouter(
        SITE_A,
        _Governance(view),  # type: ignore[arg-type]
        lambda: {"crc-a": Path("/data/crc")},
        build,
        lambda task, dataset, reason: seen["refused"].append(reason),
    )
    return router, seen


def _task(plan: str = "plan-1", kind: str = "train") -> Task:
    return Task.build(task_id=f"t-{plan}-{kind}", plan_id=plan, round=0, site=SITE_A, kind=kind)


@pytest.fixture
def ledger() -> tuple[LedgerFactory, str]:
    archive = make_archive()
    archive["config"] = study_config(resolve_study("lung-demo"))
    factory = LedgerFactory()
    factory.dataset(SITE_A, "crc-a", ["lab_x"])
    function = factory.function(archive)
    factory.plan(function, ["crc-a"], org="lab_x")
    factory.plan(function, ["crc-b"], org="lab_x", plan="plan-other")
    return factory, function


def test_an_unknown_plan_is_refused_before_anything_is_opened(
    ledger: tuple[LedgerFactory, str],
) -> None:
    router, seen = _router(ledger[0])
    reply = router.handle(_task("plan-missing"))
    assert reply.status == "refused" and "not on the ledger" in reply.error
    assert seen["built"] == [] and len(seen["refused"]) == 1


def test_a_plan_naming_none_of_its_datasets_is_refused(ledger: tuple[LedgerFactory, str]) -> None:
    router, seen = _router(ledger[0])
    reply = router.handle(_task("plan-other"))
    assert reply.status == "refused" and f"names no dataset of {SITE_A}" in reply.error
    assert seen["built"] == []


def test_an_unapproved_function_is_refused(ledger: tuple[LedgerFactory, str]) -> None:
    router, seen = _router(ledger[0])
    reply = router.handle(_task())
    assert reply.status == "refused" and "is not approved for dataset crc-a" in reply.error
    assert seen["built"] == [] and seen["refused"]


def test_an_approved_plan_runs_on_its_studys_site_built_once(
    ledger: tuple[LedgerFactory, str],
) -> None:
    factory, function = ledger
    factory.approve(SITE_A, function, "crc-a")
    router, seen = _router(factory)
    assert router.handle(_task(kind="train")).status == "ok"
    assert router.handle(_task(kind="evaluate")).status == "ok"
    assert len(seen["built"]) == 1 and seen["refused"] == []
    route = seen["built"][0]
    assert isinstance(route.study, StudySpec) and route.study.study.name == "lung-demo"
    assert (route.dataset, route.data, route.seed) == ("crc-a", Path("/data/crc"), 7)

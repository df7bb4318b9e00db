"""Hub and site runtime: failures and dropouts are data, not exceptions."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from accord.core.config import load_study
from accord.core.errors import AggregationError, DataError
from accord.fl.hub import Hub
from accord.fl.messages import Reply, Task
from accord.fl.site import Site, SiteContext
from accord.fl.strategies import SiteInfo
from accord.fl.transport import InMemoryTransport
from accord.studies.runner import StudyRun
from tests.conftest import write_study


def _run(cohort_dir: Path) -> StudyRun:
    study = load_study(write_study(cohort_dir, "fedavg", rounds=2))
    return StudyRun.prepare(study, cohort_dir, seed=0)


def test_an_offline_site_is_a_logged_dropout_and_the_round_goes_on(cohort_dir: Path) -> None:
    run = _run(cohort_dir)
    transport = run.consortium.hub.transport
    assert isinstance(transport, InMemoryTransport)
    transport.offline = frozenset({"hospital_1"})
    result = run.federated()
    assert set(result.per_site) == {"hospital_0", "hospital_2"}
    missing = [log.missing.get("hospital_1") for log in run.consortium.hub.log]
    assert missing.count("no answer") >= 2  # training rounds and evaluation went on


def test_too_few_sites_is_an_aggregation_error(cohort_dir: Path) -> None:
    run = _run(cohort_dir)
    hub = run.consortium.hub
    hub.min_sites = 3
    transport = hub.transport
    assert isinstance(transport, InMemoryTransport)
    transport.offline = frozenset({"hospital_0"})
    with pytest.raises(AggregationError, match=r"2 of 3 sites answered, need 3"):
        run.federated()


def _site(cohort_dir: Path, handler) -> Site:  # type: ignore[no-untyped-def]
    run = _run(cohort_dir)
    ctx = run.consortium.sites["hospital_0"].context
    return Site(SiteContext(ctx.site, ctx.cohort, ctx.study, 0), {"train": handler})


def _task() -> Task:
    return Task.build(task_id="t1", plan_id="p", round=0, site="hospital_0", kind="train")


def test_accord_errors_travel_with_their_message(cohort_dir: Path) -> None:
    def fails(task: Task, ctx: SiteContext) -> Reply:
        raise DataError("clinical.csv: column 'age' has 2 missing values (rows 3, 4)")

    reply = _site(cohort_dir, fails).handle(_task())
    assert reply.status == "failed"
    assert reply.error.startswith("DataError: clinical.csv: column 'age'")


def test_foreign_errors_travel_as_their_class_only(cohort_dir: Path) -> None:
    def leaks(task: Task, ctx: SiteContext) -> Reply:
        raise ValueError("patient PATIENT-0-0001 has value 123.456")

    reply = _site(cohort_dir, leaks).handle(_task())
    assert reply.error == "ValueError"


def test_row_level_arrays_are_refused(cohort_dir: Path) -> None:
    def per_patient(task: Task, ctx: SiteContext) -> Reply:
        return Reply.build(
            task_id=task.task_id,
            site=task.site,
            kind=task.kind,
            arrays={"risk": np.zeros(ctx.cohort.n_train)},
        )

    reply = _site(cohort_dir, per_patient).handle(_task())
    assert reply.status == "failed"
    assert "PrivacyError" in reply.error and "one entry per patient" in reply.error


def test_posting_the_same_task_twice_runs_it_once(cohort_dir: Path) -> None:
    calls: list[str] = []

    def counts(task: Task, ctx: SiteContext) -> Reply:
        calls.append(task.task_id)
        return Reply.build(task_id=task.task_id, site=task.site, kind=task.kind, weight=1.0)

    site = _site(cohort_dir, counts)
    transport = InMemoryTransport({"hospital_0": site})
    task = _task()
    transport.post_task(task)
    transport.post_task(task)
    first = transport.collect([task.task_id], 1.0)
    transport.post_task(task)
    second = transport.collect([task.task_id], 1.0)
    assert calls == ["t1"] and first == second


def test_hub_reports_a_failed_site_reason(cohort_dir: Path) -> None:
    def fails(task: Task, ctx: SiteContext) -> Reply:
        raise DataError("boom")

    transport = InMemoryTransport({"hospital_0": _site(cohort_dir, fails)})
    hub = Hub(transport, [SiteInfo("hospital_0", 10)], min_sites=1)
    with pytest.raises(AggregationError, match="hospital_0: failed: DataError: boom"):
        hub.broadcast("train", rnd=0)

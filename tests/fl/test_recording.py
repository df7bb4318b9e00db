"""The site middleware signs accepted / completed / failed / refused entries."""

from __future__ import annotations

from pathlib import Path

from accord.core import DataError, PolicyError
from accord.crypto import new_identity
from accord.fl import LedgerRecorder, Site, SiteContext
from accord.ledger import Entry, HubLedger, SQLiteLedgerStore, genesis_payload
from accord.net import Reply, Task
from accord.studies import Simulation
from tests.conftest import write_study


def _setup(cohort_dir: Path, handler) -> tuple[Site, HubLedger]:  # type: ignore[no-untyped-def]
    from accord.core import load_study

    sim = Simulation.prepare(load_study(write_study(cohort_dir, "fedavg", rounds=1)), cohort_dir, 0)
    hub, site_key = new_identity("hub"), new_identity("hospital_0")
    orgs = [hub.public.to_dict(), site_key.public.to_dict()]
    store = SQLiteLedgerStore(cohort_dir / "ledger.sqlite")
    ledger = HubLedger.create(store, hub, "log-t", genesis_payload("t", "hub", orgs))
    recorder = LedgerRecorder(ledger, hub)
    ctx = sim.sites["hospital_0"].context
    site = Site(
        SiteContext(ctx.site, ctx.cohort, ctx.study, 0),
        {"train": handler},
        [recorder.middleware(site_key)],
    )
    return site, ledger


def _kinds(ledger: HubLedger) -> list[str]:
    return [Entry.parse(e.entry).kind for e in ledger.store.read()]


def _task() -> Task:
    return Task.build(task_id="t1", plan_id="p1", round=0, site="hospital_0", kind="train")


def test_completed_task_is_signed_by_the_site(cohort_dir: Path) -> None:
    def ok(task: Task, ctx: SiteContext) -> Reply:
        return Reply.build(task_id=task.task_id, site=task.site, kind=task.kind, weight=1.0)

    site, ledger = _setup(cohort_dir, ok)
    assert site.handle(_task()).status == "ok"
    assert _kinds(ledger) == ["genesis", "task.accepted", "task.completed"]
    last = Entry.parse(list(ledger.store.read())[-1].entry)
    assert last.org == "hospital_0" and last.payload["plan"] == "p1"
    assert len(last.payload["output_hash"]) == 64


def test_policy_refusal_is_recorded_and_returned_as_refused(cohort_dir: Path) -> None:
    def refuses(task: Task, ctx: SiteContext) -> Reply:
        raise PolicyError("function hash not approved by the data owner")

    site, ledger = _setup(cohort_dir, refuses)
    reply = site.handle(_task())
    assert reply.status == "refused"
    assert _kinds(ledger)[-1] == "task.refused"
    last = Entry.parse(list(ledger.store.read())[-1].entry)
    assert "not approved" in last.payload["reason"]


def test_failures_record_the_error_class_only(cohort_dir: Path) -> None:
    def fails(task: Task, ctx: SiteContext) -> Reply:
        raise DataError("boom at row 3")

    site, ledger = _setup(cohort_dir, fails)
    assert site.handle(_task()).status == "failed"
    last = Entry.parse(list(ledger.store.read())[-1].entry)
    assert last.kind == "task.failed" and last.payload["error"] == "DataError"

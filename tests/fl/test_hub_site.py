"""Hub and site runtime: failures and dropouts are data, not exceptions; the wire frame."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from accord.core import AggregationError, DataError, MissingFileError, TransportError, load_study
from accord.fl import Hub, InMemoryTransport, Plan, Site, SiteContext
from accord.fl.strategies import Instruction, SiteInfo
from accord.net._messages import (
    MAX_HEADER_BYTES,
    WIRE_MAGIC,
    WIRE_PREFIX_BYTES,
    Dropout,
    Reply,
    Task,
    wire_prefix,
)
from accord.studies import Simulation
from tests.conftest import write_study


def _sim(cohort_dir: Path) -> Simulation:
    study = load_study(write_study(cohort_dir, "fedavg", rounds=2))
    return Simulation.prepare(study, cohort_dir, seed=0)


def test_an_offline_site_is_a_logged_dropout_and_the_round_goes_on(cohort_dir: Path) -> None:
    run = _sim(cohort_dir).run
    transport = run.consortium.hub.transport
    assert isinstance(transport, InMemoryTransport)
    transport.offline = frozenset({"hospital_1"})
    result = run.federated()
    assert set(result.per_site) == {"hospital_0", "hospital_2"}
    missing = [log.missing.get("hospital_1") for log in run.consortium.hub.log]
    assert missing.count("no answer") >= 2  # training rounds and evaluation went on
    # ... and the exclusion is visible, per method and round, not silent
    assert result.excluded == {  # the summed information at the final parameters too
        "hospital_1": {
            "round 0": "no answer",
            "round 1": "no answer",
            "information (round 2)": "no answer",
            "evaluation": "no answer",
        }
    }
    from accord.cli._summary import exclusion_lines
    from accord.studies import results_document

    assert exclusion_lines([result]) == [
        "fedavg: hospital_1 (round 0, round 1, information (round 2), evaluation): no answer"
    ]
    document = results_document(run, [result])
    assert document["methods"]["fedavg"]["excluded_sites"] == result.excluded


def test_exclusions_are_signed_with_the_aggregation_and_the_metrics(cohort_dir: Path) -> None:
    from accord.ledger import Entry

    study = load_study(write_study(cohort_dir, "fedavg", rounds=2))
    run = Simulation.prepare(study, cohort_dir, seed=0, ledger_dir=cohort_dir / "out").run
    transport = run.consortium.hub.transport
    assert isinstance(transport, InMemoryTransport)
    transport.offline = frozenset({"hospital_1"})
    run.federated()
    assert run.audit is not None
    entries = [Entry.parse(s.entry) for s in run.audit.ledger.store.read()]
    plan = run.plan.plan_id
    rounds = [e.payload for e in entries if e.kind == "aggregation" and e.payload["plan"] == plan]
    assert [r["excluded"] for r in rounds] == [{"hospital_1": "no answer"}] * 2
    metric = next(e.payload for e in entries if e.kind == "metric" and e.payload["plan"] == plan)
    assert metric["excluded"] == {"hospital_1": "no answer"}
    run.audit.close()


def test_a_secure_plan_fails_when_its_exclusions_leave_too_few_sites(cohort_dir: Path) -> None:
    run = _sim(cohort_dir).run  # three sites: secure aggregation, minimum ⌈2·3/3⌉ = 2
    transport = run.consortium.hub.transport
    assert isinstance(transport, InMemoryTransport)
    transport.offline = frozenset({"hospital_0", "hospital_2"})
    with pytest.raises(AggregationError, match=r"1 of 3 sites answered, need 2 \(hospital_0: no"):
        run.federated()


def test_too_few_sites_is_an_aggregation_error(cohort_dir: Path) -> None:
    run = _sim(cohort_dir).run
    hub = run.consortium.hub
    hub.min_sites = 3
    transport = hub.transport
    assert isinstance(transport, InMemoryTransport)
    transport.offline = frozenset({"hospital_0"})
    with pytest.raises(AggregationError, match=r"2 of 3 sites answered, need 3"):
        run.federated()


def _site(cohort_dir: Path, handler) -> Site:  # type: ignore[no-untyped-def]
    ctx = _sim(cohort_dir).sites["hospital_0"].context
    return Site(SiteContext(ctx.site, ctx.cohort, ctx.study, 0), {"train": handler})


def _task() -> Task:
    return Task.build(task_id="t1", plan_id="p", round=0, site="hospital_0", kind="train")


def test_accord_errors_travel_with_their_message(cohort_dir: Path) -> None:
    def fails(task: Task, ctx: SiteContext) -> Reply:
        raise DataError("clinical.csv: column 'age' has 2 missing values (rows 3, 4)")

    reply = _site(cohort_dir, fails).handle(_task())
    assert reply.status == "failed"
    assert reply.error.startswith("DataError: clinical.csv: column 'age'")


def test_a_missing_file_travels_without_the_sites_paths(cohort_dir: Path) -> None:
    def missing(task: Task, ctx: SiteContext) -> Reply:
        raise MissingFileError("/srv/hospital/secret-project/clinical.csv: no such file")

    reply = _site(cohort_dir, missing).handle(_task())
    assert reply.status == "failed"
    assert reply.error == "MissingFileError: a file or folder is missing at the site"


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
    hub = Hub(transport, min_sites=1)
    plan = Plan.plain([SiteInfo("hospital_0", 10)])
    with pytest.raises(AggregationError, match="hospital_0: failed: DataError: boom"):
        hub.broadcast(plan, "train", 0)


# --- the wire frame ---------------------------------------------------------------------------


def _reply_with_arrays() -> Reply:
    return Reply.build(
        task_id="t1",
        site="hospital_0",
        kind="train",
        weight=3.0,
        counts={"n_train": 3},
        metrics={"loss": 0.5, "auc": None},
        labels={"classes": ("a", "b")},
        arrays={"w": np.arange(6, dtype=np.float32).reshape(2, 3)},
    )


def test_a_frame_round_trips_and_carries_the_payload_raw() -> None:
    reply = _reply_with_arrays()
    wire = reply.to_wire()
    header = reply.wire_header()
    assert wire[:4] == WIRE_MAGIC
    assert wire[WIRE_PREFIX_BYTES : WIRE_PREFIX_BYTES + len(header)] == header
    assert wire.endswith(reply.payload)  # raw safetensors bytes, no base64
    assert len(wire) == WIRE_PREFIX_BYTES + len(header) + len(reply.payload)
    back = Reply.from_wire(wire)
    assert back == reply
    np.testing.assert_array_equal(back.arrays["w"], reply.arrays["w"])
    task = Task.build(task_id="t", plan_id="p", round=2, site="s", kind="stats", config={"lr": 0.1})
    assert Task.from_wire(task.to_wire()) == task
    assert Task.from_parts(task.wire_header(), task.payload) == task


def _frame(header: bytes, payload: bytes = b"") -> bytes:
    return wire_prefix(len(header), len(payload)) + header + payload


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b'{"task_id": "t1"}', "not an accord wire frame"),
        (b"ACW1\x00\x00", "truncated frame"),
        (_reply_with_arrays().to_wire()[:-1], "truncated frame"),
        (_reply_with_arrays().to_wire() + b"\x00", "bytes after the frame"),
        (wire_prefix(MAX_HEADER_BYTES + 1, 0), "header of .* bytes is over the limit"),
        (_frame(b'{"task_id": "t1", "site": "s", "kind": "train", "weight": "9x"}'), "'weight'"),
        (_frame(b'{"task_id": "t1", "site": "s", "kind": "nope"}'), "field 'kind'"),
        (_frame(b'{"task_id": "t1", "site": "s", "kind": "train", "x": 1}'), "field 'x'"),
        (_frame(b'{"task_id": "t1", "site": "s", "kind": "train", "counts": {"n": "a"}}'),
         "field 'counts.n'"),
        (_frame(b'{"task_id": "t1", "site": "s", "kind": "train"'), "field 'header'"),
        (_frame(b'{"task_id": "t1", "site": "s", "kind": "train", "payload": "AAAA"}'),
         "field 'payload' belongs after the header"),
    ],
)  # fmt: skip
def test_a_malformed_frame_is_refused_naming_what_is_wrong(data: bytes, message: str) -> None:
    with pytest.raises(TransportError, match=f"malformed Reply message: .*{message}") as caught:
        Reply.from_wire(data)
    assert "9x" not in str(caught.value)  # the field, never its value


class _Recording:
    """A transport that keeps the tasks posted and answers none of them."""

    def __init__(self) -> None:
        self.posted: list[Task] = []

    def post_task(self, task: Task) -> None:
        self.posted.append(task)

    def post_tasks(self, tasks: Sequence[Task]) -> None:
        self.posted.extend(tasks)

    def collect(self, task_ids: Sequence[str], timeout_s: float) -> dict[str, Reply | Dropout]:
        return {}


def test_a_broadcast_encodes_its_arrays_once_for_every_site() -> None:
    transport = _Recording()
    sites = [SiteInfo(f"s{i}", 1) for i in range(5)]
    hub = Hub(transport, min_sites=0)
    model = {"w": np.ones(1000, dtype=np.float32)}
    hub.broadcast(Plan.plain(sites), "train", 0, arrays=model)
    first = transport.posted[0].payload
    assert all(task.payload is first for task in transport.posted)  # one bytes object
    assert Task.from_wire(transport.posted[3].to_wire()).arrays["w"].sum() == 1000


def test_instructions_sharing_arrays_share_one_payload() -> None:
    transport = _Recording()
    sites = [SiteInfo(f"s{i}", 1) for i in range(4)]
    hub = Hub(transport, min_sites=0)
    shared = {"w": np.ones(10)}
    own = {"w": np.zeros(10)}
    instructions = [Instruction(s.site, "train", shared, {}) for s in sites[:3]]
    with pytest.raises(AggregationError, match="no site contributed"):  # none answers here
        hub.run_instructions(
            Plan.plain(sites), 0, [*instructions, Instruction("s3", "train", own, {})]
        )
    payloads = [task.payload for task in transport.posted]
    assert payloads[0] is payloads[1] is payloads[2]
    assert payloads[3] is not payloads[0] and payloads[3] != payloads[0]

"""The durable task queue: idempotency, leases, who may answer, and surviving a reopen."""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from accord.core import Arrays, TransportError
from accord.net import Reply, Task
from accord.net._queue_store import TaskRow
from accord.net._task_queue import (
    ReplyConflictError,
    TaskExpiredError,
    TaskQueue,
    UnknownTaskError,
    WrongSiteError,
)
from tests.net.conftest import frame


def _task(task_id: str = "t1", site: str = "a", arrays: Arrays | None = None) -> Task:
    return Task.build(task_id=task_id, plan_id="p", round=0, site=site, kind="stats", arrays=arrays)


def _reply(task_id: str = "t1", site: str = "a", weight: float = 1.0) -> bytes:
    return Reply.build(task_id=task_id, site=site, kind="stats", weight=weight).to_wire()


def test_posting_twice_is_a_no_op(queue: TaskQueue) -> None:
    assert queue.post(_task())
    assert not queue.post(_task())
    assert queue.pending("a") == ["t1"]


def test_a_site_leases_its_oldest_task_and_only_its_own(queue: TaskQueue) -> None:
    queue.post(_task("t1", "a"))
    queue.post(_task("t2", "b"))
    queue.post(_task("t3", "a"))
    first = queue.lease("a", 0)
    second = queue.lease("a", 0)
    assert first is not None and first.task_id == "t1"
    assert second is not None and second.task_id == "t3"
    assert queue.lease("a", 0) is None  # both leased, lease not yet timed out


def test_a_leased_unanswered_task_is_offered_again_after_the_lease_timeout(
    queue: TaskQueue,
) -> None:
    queue.lease_timeout_s = 0.2
    queue.post(_task())
    assert queue.lease("a", 0) is not None
    assert queue.lease("a", 0) is None
    again = queue.lease("a", 1.0)  # a restarted site gets it back
    assert again is not None and again.task_id == "t1"
    queue.put_reply("a", _reply())
    time.sleep(0.25)
    assert queue.lease("a", 0) is None  # answered: never offered again


def test_a_reply_is_idempotent_and_a_different_second_reply_is_refused(queue: TaskQueue) -> None:
    queue.post(_task())
    assert queue.put_reply("a", _reply())
    assert not queue.put_reply("a", _reply())  # the same bytes again: a no-op
    with pytest.raises(ReplyConflictError, match="already has a different reply"):
        queue.put_reply("a", _reply(weight=2.0))
    assert queue.replies(["t1"])["t1"].weight == 1.0


def test_a_reply_from_another_site_is_refused(queue: TaskQueue) -> None:
    queue.post(_task(site="a"))
    with pytest.raises(WrongSiteError, match="from site 'b' names site 'a'"):
        queue.put_reply("b", _reply(site="a"))  # b impersonating a
    with pytest.raises(WrongSiteError, match="not addressed to site 'b'"):
        queue.put_reply("b", _reply(site="b"))  # b answering a's task
    with pytest.raises(UnknownTaskError, match="no task 'nope'"):
        queue.put_reply("a", _reply(task_id="nope"))
    with pytest.raises(TransportError, match="idempotency key does not match"):
        queue.put_reply("a", _reply(), "t2")
    assert queue.replies(["t1"]) == {}


def test_a_malformed_reply_names_the_field(queue: TaskQueue) -> None:
    queue.post(_task())
    with pytest.raises(TransportError, match="field 'weight'"):
        queue.put_reply(
            "a", frame(b'{"task_id": "t1", "site": "a", "kind": "stats", "weight": "x9"}')
        )


def test_expired_tasks_are_withdrawn_and_late_replies_refused(queue: TaskQueue) -> None:
    queue.post(_task())
    queue.expire(["t1"])
    assert queue.lease("a", 0) is None
    assert queue.pending("a") == []
    with pytest.raises(TaskExpiredError, match="expired"):
        queue.put_reply("a", _reply())


def test_state_survives_closing_and_reopening(tmp_path: Path) -> None:
    path = tmp_path / "queue.sqlite"
    first = TaskQueue(path)
    first.post(_task("t1"))
    first.post(_task("t2"))
    assert first.lease("a", 0) is not None
    first.put_reply("a", _reply("t1"))
    first.close()
    again = TaskQueue(path, lease_timeout_s=0.0)
    assert set(again.replies(["t1", "t2"])) == {"t1"}
    assert again.pending("a") == ["t2"]
    leased = again.lease("a", 0)
    assert leased is not None and leased.task_id == "t2"
    assert not again.put_reply("a", _reply("t1"))  # still idempotent after the reopen
    again.close()


def test_a_large_task_is_kept_as_a_blob_and_reads_back_whole(tmp_path: Path) -> None:
    queue = TaskQueue(tmp_path / "q.sqlite", inline_limit=1000)
    x = np.arange(2000, dtype=np.float64)
    queue.post(_task(arrays={"x": x}))
    leased = queue.take("a")
    assert leased is not None and leased.blob is not None  # the row holds the header only
    assert leased.wire is not None and len(leased.wire) < 1000
    assert queue.blob_size(leased.blob, "a") == leased.size == len(_task(arrays={"x": x}).payload)
    assert queue.blob_size(leased.blob, "b") is None  # only the task's site may read it
    np.testing.assert_array_equal(queue.open_task(leased).arrays["x"], x)
    queue.close()


def test_a_broadcast_stores_one_payload_blob_for_every_site(tmp_path: Path) -> None:
    queue = TaskQueue(tmp_path / "q.sqlite", inline_limit=1000)
    shared = _task(arrays={"x": np.arange(2000, dtype=np.float64)}).payload
    sites = ["a", "b", "c", "d", "e"]
    for site in sites:
        task = _task(f"t-{site}", site)
        queue.post(task.model_copy(update={"payload": shared}))
    queue.post(_task("t-f", "f").model_copy(update={"payload": bytes(shared)}))  # equal bytes
    blobs = [p for p in queue.blobs.folder.iterdir() if p.is_file()]
    assert len(blobs) == 1 and blobs[0].stat().st_size == len(shared)
    for site in [*sites, "f"]:
        leased = queue.take(site)
        assert leased is not None and leased.blob == blobs[0].name
        assert queue.blob_size(leased.blob, site) == len(shared)  # each site may read it
        assert queue.open_task(leased).payload == shared
    queue.close()


def test_waiting_for_replies_wakes_when_one_arrives(queue: TaskQueue) -> None:
    # the wait's 20 s end before the first re-check at 120 s: both replies can only come
    # through the notification (no stopwatch: a loaded machine is slow, not wrong)
    queue.poll_interval_s = 120.0
    queue.post(_task("t1"))
    queue.post(_task("t2"))
    threading.Timer(0.1, lambda: queue.put_reply("a", _reply("t1"))).start()
    threading.Timer(0.2, lambda: queue.put_reply("a", _reply("t2"))).start()
    got = queue.wait_replies(["t1", "t2"], timeout_s=20.0)
    assert set(got) == {"t1", "t2"}


def test_waiting_returns_what_came_by_the_deadline(queue: TaskQueue) -> None:
    queue.post(_task("t1"))
    queue.post(_task("t2"))
    queue.put_reply("a", _reply("t1"))
    start = time.monotonic()
    assert set(queue.wait_replies(["t1", "t2"], timeout_s=0.3)) == {"t1"}
    assert time.monotonic() - start >= 0.25  # it waited for the deadline


def test_a_batch_of_posts_reports_which_tasks_were_new(queue: TaskQueue) -> None:
    assert queue.post(_task("t1", "a"))
    batch = [_task("t1", "a"), _task("t2", "b"), _task("t3", "a"), _task("t2", "b")]
    assert queue.post_many(batch) == [False, True, True, False]  # t1 posted; t2 twice
    assert queue.pending("a") == ["t1", "t3"]
    assert queue.pending("b") == ["t2"]
    assert queue.post_many([]) == []


def test_a_batch_of_posts_is_stored_whole_or_not_at_all(
    queue: TaskQueue, monkeypatch: pytest.MonkeyPatch
) -> None:
    made = queue._row

    def row(task: Task) -> TaskRow:  # the store cannot write the second row's round
        good = made(task)
        return good if task.task_id == "t1" else dataclasses.replace(good, round=object())  # type: ignore[arg-type]

    monkeypatch.setattr(queue, "_row", row)
    with pytest.raises(Exception):  # noqa: B017  # the store's own error: any will do
        queue.post_many([_task("t1", "a"), _task("t2", "b")])
    assert queue.pending("a") == [] and queue.pending("b") == []
    monkeypatch.setattr(queue, "_row", made)
    assert queue.post_many([_task("t1", "a"), _task("t2", "b")]) == [True, True]


def test_a_batch_of_large_tasks_lets_each_site_read_its_payload(tmp_path: Path) -> None:
    queue = TaskQueue(tmp_path / "q.sqlite", inline_limit=1000)
    shared = _task(arrays={"x": np.arange(2000, dtype=np.float64)}).payload
    tasks = [_task(f"t-{s}", s).model_copy(update={"payload": shared}) for s in "abc"]
    assert queue.post_many(tasks) == [True, True, True]
    for site in "abc":
        leased = queue.take(site)
        assert leased is not None and leased.blob is not None
        assert queue.blob_size(leased.blob, site) == len(shared)
    assert queue.blob_size(leased.blob, "d") is None
    queue.close()


def test_a_post_tells_listeners_only_the_sites_given_a_task(queue: TaskQueue) -> None:
    heard: list[frozenset[str] | None] = []
    unsubscribe = queue.subscribe(heard.append)
    queue.post_many([_task("t1", "a"), _task("t2", "a"), _task("t3", "c")])
    queue.post(_task("t1", "a"))  # a repeat gives no one a task
    queue.put_reply("a", _reply("t1"))  # a reply neither
    queue.expire(["t2"])  # nor an expiry
    assert heard == [frozenset({"a", "c"})]
    unsubscribe()
    queue.post(_task("t4", "b"))
    assert heard == [frozenset({"a", "c"})]


def test_a_post_for_one_site_does_not_wake_another_sites_wait(queue: TaskQueue) -> None:
    """A lease waiting for site b re-reads the store when b is given a task (or when its
    poll interval passes), not when a is."""
    queue.poll_interval_s = 60.0  # no re-read by the clock within the test
    reads: list[str] = []
    take = queue.take

    def counted(site: str) -> TaskRow | None:
        reads.append(site)
        return take(site)

    queue.take = counted  # type: ignore[method-assign]
    got: list[Task | None] = []
    waiting = threading.Thread(target=lambda: got.append(queue.lease("b", 60.0)))
    waiting.start()
    _until(lambda: reads == ["b"])  # b looked once and found nothing
    queue.post(_task("t1", "a"))
    queue.put_reply("a", _reply("t1"))
    queue.post(_task("t2", "b"))  # now b's wait wakes, and reads once more
    waiting.join(timeout=30.0)
    assert not waiting.is_alive()
    assert reads == ["b", "b"]
    assert got[0] is not None and got[0].task_id == "t2"


def _until(done: Callable[[], bool]) -> None:
    """Wait (at most 30 s, generously) for a condition another thread makes true."""
    deadline = time.monotonic() + 30.0
    while not done():
        assert time.monotonic() < deadline, "the condition never came true"
        time.sleep(0.01)

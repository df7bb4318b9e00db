"""PostgresQueueStore: the SQLite queue's behaviour, plus what sharing a database brings.

The behavioural tests of test_queue.py run again here against a TaskQueue on a fresh
PostgreSQL schema (tests/pg.py); then two "hub processes" (two TaskQueues, each with its
own connection) share one schema.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import psycopg
import pytest
from psycopg.conninfo import make_conninfo

from accord.core import ConfigError
from accord.net import SQLiteQueueStore
from accord.net._pg_queue import PostgresQueueStore, QueueStoreError, open_queue_store
from accord.net._task_queue import ReplyConflictError, TaskQueue
from tests.net import test_queue as on_sqlite
from tests.net.test_queue import _reply, _task
from tests.pg import _free_port

pytestmark = pytest.mark.pg

# The SQLite queue's tests that take the `queue` fixture, collected here with the one below.
test_posting_twice_is_a_no_op = on_sqlite.test_posting_twice_is_a_no_op
test_a_site_leases_its_oldest_task_and_only_its_own = (
    on_sqlite.test_a_site_leases_its_oldest_task_and_only_its_own
)
test_a_leased_unanswered_task_is_offered_again_after_the_lease_timeout = (
    on_sqlite.test_a_leased_unanswered_task_is_offered_again_after_the_lease_timeout
)
test_a_reply_is_idempotent_and_a_different_second_reply_is_refused = (
    on_sqlite.test_a_reply_is_idempotent_and_a_different_second_reply_is_refused
)
test_a_reply_from_another_site_is_refused = on_sqlite.test_a_reply_from_another_site_is_refused
test_a_malformed_reply_names_the_field = on_sqlite.test_a_malformed_reply_names_the_field
test_expired_tasks_are_withdrawn_and_late_replies_refused = (
    on_sqlite.test_expired_tasks_are_withdrawn_and_late_replies_refused
)
test_waiting_for_replies_wakes_when_one_arrives = (
    on_sqlite.test_waiting_for_replies_wakes_when_one_arrives
)
test_waiting_returns_what_came_by_the_deadline = (
    on_sqlite.test_waiting_returns_what_came_by_the_deadline
)
test_a_batch_of_posts_reports_which_tasks_were_new = (
    on_sqlite.test_a_batch_of_posts_reports_which_tasks_were_new
)
test_a_batch_of_posts_is_stored_whole_or_not_at_all = (
    on_sqlite.test_a_batch_of_posts_is_stored_whole_or_not_at_all
)
test_a_post_tells_listeners_only_the_sites_given_a_task = (
    on_sqlite.test_a_post_tells_listeners_only_the_sites_given_a_task
)
test_a_post_for_one_site_does_not_wake_another_sites_wait = (
    on_sqlite.test_a_post_for_one_site_does_not_wake_another_sites_wait
)

Hub = Callable[..., TaskQueue]


@pytest.fixture
def hub(pg_dsn: str, pg_schema: str, tmp_path: Path) -> Iterator[Hub]:
    """Opens TaskQueues on the test's schema (blobs in one folder); closes them after."""
    opened: list[TaskQueue] = []

    def open_hub(**kwargs: Any) -> TaskQueue:
        store = PostgresQueueStore(pg_dsn, schema=pg_schema)
        queue = TaskQueue(tmp_path / "hub" / "queue", store=store, **kwargs)
        opened.append(queue)
        return queue

    yield open_hub
    for queue in opened:
        queue.close()


@pytest.fixture
def queue(hub: Hub) -> TaskQueue:
    return hub(poll_interval_s=0.05)


def _lease_counts(dsn: str, schema: str) -> dict[str, int]:
    with psycopg.connect(dsn, autocommit=True) as db:
        rows = db.execute(f"SELECT task_id, lease_count FROM {schema}.tasks").fetchall()
    return {str(task_id): int(count) for task_id, count in rows}


def test_state_survives_closing_and_reopening(pg_dsn: str, pg_schema: str, tmp_path: Path) -> None:
    path = tmp_path / "queue"
    first = TaskQueue(path, store=PostgresQueueStore(pg_dsn, schema=pg_schema))
    first.post(_task("t1"))
    first.post(_task("t2"))
    assert first.lease("a", 0) is not None
    first.put_reply("a", _reply("t1"))
    first.close()
    again = TaskQueue(path, lease_timeout_s=0.0, store=open_queue_store(pg_dsn, schema=pg_schema))
    assert set(again.replies(["t1", "t2"])) == {"t1"}
    assert again.pending("a") == ["t2"]
    leased = again.lease("a", 0)
    assert leased is not None and leased.task_id == "t2"
    assert not again.put_reply("a", _reply("t1"))  # still idempotent after the reopen
    with pytest.raises(ReplyConflictError):
        again.put_reply("a", _reply("t1", weight=3.0))
    again.close()


def test_a_large_task_is_kept_as_a_blob_and_reads_back_whole(hub: Hub) -> None:
    queue = hub(inline_limit=1000)
    x = np.arange(2000, dtype=np.float64)
    queue.post(_task("big", arrays={"x": x}))
    queue.post(_task("small"))
    leased = queue.take("a")
    assert leased is not None and leased.blob is not None and leased.wire is not None
    assert queue.blob_size(leased.blob, "a") == leased.size
    assert queue.blob_size(leased.blob, "b") is None  # only the task's site may read it
    np.testing.assert_array_equal(queue.open_task(leased).arrays["x"], x)
    small = queue.take("a")
    assert small is not None and small.wire == _task("small").to_wire()  # BYTEA round trip


def test_two_hubs_never_lease_the_same_task_twice(hub: Hub, pg_dsn: str, pg_schema: str) -> None:
    hubs = [hub(lease_timeout_s=60.0), hub(lease_timeout_s=60.0)]
    posted = [f"t{i:03d}" for i in range(120)]
    for i, task_id in enumerate(posted):
        hubs[i % 2].post(_task(task_id, "a"))
    hubs[0].post(_task("other", "b"))
    start = threading.Barrier(8)
    by_hub: list[list[str]] = [[], []]  # list.append is atomic: threads of a hub share one

    def drain(which: int) -> None:
        start.wait()
        while (row := hubs[which].take("a")) is not None:
            by_hub[which].append(row.task_id)

    threads = [threading.Thread(target=drain, args=(i % 2,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(by_hub[0] + by_hub[1]) == posted  # each task leased exactly once
    assert by_hub[0] and by_hub[1], "both hubs leased"
    counts = _lease_counts(pg_dsn, pg_schema)
    assert {counts[task_id] for task_id in posted} == {1} and counts["other"] == 0


def test_two_hubs_accept_one_reply_per_task(hub: Hub) -> None:
    first, second = hub(), hub()
    first.post(_task("t1"))
    first.post(_task("t2"))
    outcomes: list[str] = []
    start = threading.Barrier(8)

    def answer(queue: TaskQueue, task_id: str, weight: float) -> None:
        start.wait()
        try:
            outcomes.append(f"{task_id}:{queue.put_reply('a', _reply(task_id, weight=weight))}")
        except ReplyConflictError:
            outcomes.append(f"{task_id}:conflict")

    jobs = [(first, "t1", 1.0), (second, "t1", 1.0)] * 2  # the same reply four times
    jobs += [(first, "t2", 1.0), (second, "t2", 2.0)] * 2  # two different replies
    threads = [threading.Thread(target=answer, args=job) for job in jobs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(o for o in outcomes if o.startswith("t1")) == ["t1:False"] * 3 + ["t1:True"]
    # t2: one weight wins (stored, then the same again); the other's two tries conflict.
    t2 = sorted(o for o in outcomes if o.startswith("t2"))
    assert t2 == ["t2:False", "t2:True", "t2:conflict", "t2:conflict"]
    assert second.replies(["t2"])["t2"].weight in (1.0, 2.0)


def test_a_task_answered_or_expired_by_one_hub_is_not_leased_by_the_other(hub: Hub) -> None:
    first, second = hub(lease_timeout_s=0.0), hub(lease_timeout_s=0.0)
    first.post(_task("t1"))
    first.post(_task("t2"))
    leased = second.take("a")
    assert leased is not None and leased.task_id == "t1"
    first.put_reply("a", _reply("t1"))
    first.expire(["t2"])
    assert second.take("a") is None
    assert second.pending("a") == []


def test_a_schema_name_must_be_plain(pg_dsn: str) -> None:
    with pytest.raises(ConfigError, match="schema must be a lower-case SQL name"):
        PostgresQueueStore(pg_dsn, schema="x; DROP TABLE y")


def test_errors_never_show_the_password() -> None:
    with pytest.raises(ConfigError, match="connection string is malformed") as malformed:
        PostgresQueueStore("host=localhost password='s3cret")
    assert "s3cret" not in str(malformed.value)
    port = _free_port()  # nothing listens there
    url = f"postgresql://hub:s3cret@127.0.0.1:{port}/accord?connect_timeout=3"
    with pytest.raises(QueueStoreError, match="cannot connect to the queue database") as refused:
        PostgresQueueStore(url)
    assert "s3cret" not in str(refused.value)
    assert f"postgresql://127.0.0.1:{port}/accord (schema accord_queue)" in str(refused.value)


def test_a_schema_holding_other_tables_is_refused(pg_dsn: str, pg_schema: str) -> None:
    with psycopg.connect(pg_dsn, autocommit=True) as db:
        db.execute(f"CREATE SCHEMA {pg_schema}")
        db.execute(f"CREATE TABLE {pg_schema}.entries (seq BIGINT)")
    with pytest.raises(QueueStoreError, match="not an accord queue store"):
        PostgresQueueStore(pg_dsn, schema=pg_schema)


def test_a_broken_connection_is_replaced_at_the_next_call(pg_dsn: str, pg_schema: str) -> None:
    victim = make_conninfo(pg_dsn, application_name="accord_queue_victim")
    store = PostgresQueueStore(victim, schema=pg_schema)
    with psycopg.connect(pg_dsn, autocommit=True) as db:
        find = "FROM pg_stat_activity WHERE application_name = 'accord_queue_victim'"
        db.execute(f"SELECT pg_terminate_backend(pid) {find}")
        deadline = time.monotonic() + 10
        while db.execute(f"SELECT COUNT(*) {find}").fetchone() != (0,):
            assert time.monotonic() < deadline, "the backend did not end"
            time.sleep(0.02)
    with pytest.raises(QueueStoreError, match="reading task 't1' failed"):
        store.has_task("t1")
    assert not store.has_task("t1")  # a fresh connection
    store.close()
    with pytest.raises(QueueStoreError, match="the store is closed"):
        store.has_task("t1")


def test_open_queue_store_picks_the_backend_by_url(
    pg_dsn: str, pg_schema: str, tmp_path: Path
) -> None:
    pg = open_queue_store(pg_dsn, schema=pg_schema)
    assert isinstance(pg, PostgresQueueStore) and pg.schema == pg_schema
    pg.close()
    lite = open_queue_store(tmp_path / "queue.sqlite")
    assert isinstance(lite, SQLiteQueueStore) and (tmp_path / "queue.sqlite").is_file()
    lite.close()

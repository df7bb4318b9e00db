"""The site client waits out a hub restart and never computes a spooled reply twice."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from starlette.requests import Request

from accord.core import AuthError, TransportError
from accord.net import Reply, SiteClient, Task, TaskQueue
from tests.net.conftest import Serve, running_sites

FAST: dict[str, Any] = {"poll_wait_s": 0.5, "backoff_initial_s": 0.05, "backoff_max_s": 0.3}


class Counting:
    """Answers every task with weight ``weight`` and counts how often it ran."""

    def __init__(self, weight: float = 1.0) -> None:
        self.weight = weight
        self.calls = 0

    def handle(self, task: Task) -> Reply:
        self.calls += 1
        return Reply.build(task_id=task.task_id, site=task.site, kind=task.kind, weight=self.weight)


def _task(task_id: str = "t1", site: str = "a") -> Task:
    return Task.build(task_id=task_id, plan_id="p", round=0, site=site, kind="stats")


def test_the_site_survives_a_hub_restart_on_the_same_port(
    tmp_path: Path, serve: Serve, queue: TaskQueue
) -> None:
    first = serve()
    port = urlsplit(first).port
    assert port is not None
    site = Counting()
    with running_sites(first, {"a": site}, tmp_path / "spool", **FAST):
        queue.post(_task("t1"))
        assert set(queue.wait_replies(["t1"], 5.0)) == {"t1"}
        serve.stop()  # the hub goes away ...
        queue.post(_task("t2"))
        time.sleep(1.0)  # ... and the site keeps retrying
        restarted = TaskQueue(queue.path, poll_interval_s=0.05)  # a new hub process
        try:
            serve(queue=restarted, port=port)
            replies = restarted.wait_replies(["t2"], 10.0)
        finally:
            restarted.close()
    assert set(replies) == {"t2"}
    assert site.calls == 2


def test_a_spooled_reply_is_re_uploaded_not_recomputed(
    tmp_path: Path, serve: Serve, queue: TaskQueue
) -> None:
    url = serve()
    port = urlsplit(url).port
    queue.lease_timeout_s = 0.2
    stop = threading.Event()

    class CrashesBeforeUploading(Counting):
        def handle(self, task: Task) -> Reply:
            reply = super().handle(task)
            serve.stop()  # the hub goes away while the site computes
            stop.set()  # and the site is stopped before its upload gets through
            return reply

    crashing = CrashesBeforeUploading(weight=7.0)
    queue.post(_task("t1"))
    spool = tmp_path / "spool" / "a"
    with SiteClient(url, crashing, ssl_context=None, site="a", spool_dir=spool, **FAST) as c:
        c.run(stop)
    assert crashing.calls == 1 and list(spool.glob("*.reply"))
    serve(port=port)
    fresh = Counting(weight=1.0)
    with running_sites(url, {"a": fresh}, tmp_path / "spool", **FAST):
        replies = queue.wait_replies(["t1"], 10.0)
    assert fresh.calls == 0
    assert replies["t1"].weight == 7.0  # the spooled reply, not a new computation
    assert not list(spool.glob("*.reply"))


def test_a_refused_site_stops_with_a_transport_error(tmp_path: Path, serve: Serve) -> None:
    def nobody(request: Request) -> str:
        raise AuthError("certificate serial 12 has been revoked")

    url = serve(authenticate=nobody)
    with (
        SiteClient(url, Counting(), ssl_context=None, site="a", spool_dir=tmp_path, **FAST) as c,
        pytest.raises(TransportError, match="status 401: certificate serial 12 has been revoked"),
    ):
        c.run(threading.Event())


def test_a_reply_the_hub_refuses_is_dropped_and_the_site_goes_on(
    tmp_path: Path, serve: Serve, queue: TaskQueue
) -> None:
    url = serve()
    queue.post(_task("t1"))
    queue.post(_task("t2"))
    site = Counting()

    class ExpiresFirst(Counting):
        def handle(self, task: Task) -> Reply:
            if task.task_id == "t1":
                queue.expire(["t1"])  # the hub gave up while the site computed
            return site.handle(task)

    with running_sites(url, {"a": ExpiresFirst()}, tmp_path / "spool", **FAST):
        replies = queue.wait_replies(["t2"], 10.0)
    assert set(replies) == {"t2"}
    assert site.calls == 2
    assert not list((tmp_path / "spool" / "a").glob("*.reply"))


def test_a_damaged_spooled_reply_is_dropped_and_the_task_computed_again(
    tmp_path: Path, serve: Serve, queue: TaskQueue
) -> None:
    url = serve()
    port = urlsplit(url).port
    queue.lease_timeout_s = 0.2
    stop = threading.Event()

    class CrashesBeforeUploading(Counting):
        def handle(self, task: Task) -> Reply:
            serve.stop()
            stop.set()
            return super().handle(task)

    queue.post(_task("t1"))
    spool = tmp_path / "spool" / "a"
    with SiteClient(url, CrashesBeforeUploading(7.0), ssl_context=None, site="a",
                    spool_dir=spool, **FAST) as c:  # fmt: skip
        c.run(stop)
    (spooled,) = spool.glob("*.reply")
    damaged = bytearray(spooled.read_bytes())
    damaged[-1] ^= 0xFF  # a byte of the payload, as a crash of the machine might leave it
    spooled.write_bytes(damaged)
    serve(port=port)
    fresh = Counting(weight=1.0)
    with running_sites(url, {"a": fresh}, tmp_path / "spool", **FAST):
        replies = queue.wait_replies(["t1"], 10.0)
    assert fresh.calls == 1  # computed again: the stored reply failed its digest
    assert replies["t1"].weight == 1.0
    assert not list(spool.glob("*.reply"))

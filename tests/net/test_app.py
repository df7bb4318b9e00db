"""The hub's HTTP API on loopback: long polls, replies, refusals that never echo values."""

from __future__ import annotations

import asyncio
import hashlib
import threading
import time

import httpx
import pytest
from fastapi import APIRouter
from starlette.requests import Request

from accord.core import AuthError
from accord.net import Reply, Task, TaskQueue
from accord.net._app import _Waker
from tests.net.conftest import Serve, frame

SECRET = "123.456789"  # a value that must never come back in an error


def _client(url: str, site: str = "a") -> httpx.Client:
    return httpx.Client(base_url=url, headers={"Accord-Site": site}, timeout=10.0)


def _post(queue: TaskQueue, task_id: str = "t1", site: str = "a") -> Task:
    task = Task.build(task_id=task_id, plan_id="p", round=0, site=site, kind="stats")
    queue.post(task)
    return task


def _reply(task_id: str = "t1", site: str = "a") -> bytes:
    return Reply.build(task_id=task_id, site=site, kind="stats", weight=3.0).to_wire()


def test_health_and_an_empty_long_poll(serve: Serve) -> None:
    url = serve()
    with _client(url) as http:
        assert http.get("/v1/health").json() == {"status": "ok"}
        start = time.monotonic()
        assert http.get("/v1/tasks/next", params={"wait": 0.3}).status_code == 204
        assert time.monotonic() - start >= 0.25


def test_a_long_poll_returns_as_soon_as_a_task_is_posted(serve: Serve, queue: TaskQueue) -> None:
    url = serve()
    # the poll's 20 s end before the queue's first re-check at 120 s: a task can only come
    # back through the notification (no stopwatch: a loaded machine is slow, not wrong)
    queue.poll_interval_s = 120.0
    with _client(url) as http:
        threading.Timer(0.2, _post, args=(queue,)).start()
        answer = http.get("/v1/tasks/next", params={"wait": 20})
    assert answer.status_code == 200
    assert Task.from_wire(answer.content).task_id == "t1"


def test_a_reply_is_stored_once(serve: Serve, queue: TaskQueue) -> None:
    url = serve()
    _post(queue)
    headers = {"Idempotency-Key": "t1", "Content-Type": "application/json"}
    with _client(url) as http:
        first = http.post("/v1/replies", content=_reply(), headers=headers)
        second = http.post("/v1/replies", content=_reply(), headers=headers)
    assert first.json() == {"status": "stored"}
    assert second.json() == {"status": "duplicate"}
    assert queue.replies(["t1"])["t1"].weight == 3.0


def test_a_malformed_reply_is_a_400_naming_the_field_without_its_value(
    serve: Serve, queue: TaskQueue
) -> None:
    url = serve()
    _post(queue)
    body = frame(
        b'{"task_id": "t1", "site": "a", "kind": "stats", "weight": "%sx"}' % SECRET.encode()
    )
    with _client(url) as http:
        answer = http.post("/v1/replies", content=body, headers={"Idempotency-Key": "t1"})
        bad_query = http.get("/v1/tasks/next", params={"wait": SECRET + "x"})
    assert answer.status_code == 400
    assert "field 'weight'" in answer.json()["error"]
    assert SECRET not in answer.text
    assert bad_query.status_code == 400
    assert bad_query.json() == {"error": "malformed request: field 'query.wait'"}
    assert SECRET not in bad_query.text


def test_the_idempotency_key_is_required_and_must_match(serve: Serve, queue: TaskQueue) -> None:
    url = serve()
    _post(queue)
    with _client(url) as http:
        missing = http.post("/v1/replies", content=_reply())
        wrong = http.post("/v1/replies", content=_reply(), headers={"Idempotency-Key": "t9"})
    assert missing.status_code == 400
    assert "Idempotency-Key" in missing.json()["error"]
    assert wrong.status_code == 400
    assert "does not match field 'task_id'" in wrong.json()["error"]


def test_refusals_have_their_own_status(serve: Serve, queue: TaskQueue) -> None:
    url = serve()
    _post(queue, "t1", site="a")
    _post(queue, "t2", site="a")
    queue.expire(["t2"])
    with _client(url, site="b") as b, _client(url) as a:
        other_site = b.post("/v1/replies", content=_reply(), headers={"Idempotency-Key": "t1"})
        unknown = a.post("/v1/replies", content=_reply("t7"), headers={"Idempotency-Key": "t7"})
        late = a.post("/v1/replies", content=_reply("t2"), headers={"Idempotency-Key": "t2"})
        a.post("/v1/replies", content=_reply(), headers={"Idempotency-Key": "t1"})
        changed = Reply.build(task_id="t1", site="a", kind="stats", weight=4.0).to_wire()
        conflict = a.post("/v1/replies", content=changed, headers={"Idempotency-Key": "t1"})
        anonymous = httpx.get(url + "/v1/tasks/next", params={"wait": 0})
    assert other_site.status_code == 403
    assert unknown.status_code == 404
    assert late.status_code == 410
    assert conflict.status_code == 409
    assert anonymous.status_code == 401
    assert anonymous.json() == {"error": "missing header 'Accord-Site'"}


def test_an_authenticator_may_refuse_with_permission_error(serve: Serve) -> None:
    def members_only(request: Request) -> str:
        site = request.headers.get("Accord-Site", "")
        if site == "":
            raise AuthError("no certificate")
        if site != "a":
            raise PermissionError(f"organisation '{site}' is not a member")
        return site

    url = serve(authenticate=members_only)
    with _client(url, site="z") as http:
        answer = http.get("/v1/tasks/next", params={"wait": 0})
    assert answer.status_code == 403
    assert answer.json() == {"error": "organisation 'z' is not a member"}


def test_a_body_over_the_limit_is_a_413(serve: Serve, queue: TaskQueue) -> None:
    url = serve(max_request_bytes=1024)
    _post(queue)
    upload = "/v1/blobs/" + "0" * 64 + "/upload"
    with _client(url) as http:
        answer = http.put(upload, params={"offset": 0}, content=b"x" * 4096)
        streamed = http.put(upload, params={"offset": 0}, content=iter([b"x" * 1000] * 4))
        reply = http.post("/v1/replies", content=b" " * 2048, headers={"Idempotency-Key": "t1"})
    assert answer.status_code == 413
    assert streamed.status_code == 413  # no Content-Length: refused once past the limit
    assert reply.status_code == 413


def test_blob_endpoints_refuse_bad_digests_and_foreign_blobs(serve: Serve) -> None:
    url = serve()
    digest = "ab" * 32
    real = hashlib.sha256(b"hello").hexdigest()
    with _client(url) as a, _client(url, site="b") as b:
        assert a.put(f"/v1/blobs/{digest}/upload?offset=0", content=b"hello").status_code == 200
        wrong = a.post(f"/v1/blobs/{digest}/commit", json={"size": 5})
        discarded = a.get(f"/v1/blobs/{digest}/upload").json()
        bad = a.put("/v1/blobs/NOTHEX/upload?offset=0", content=b"x")
        first = a.put(f"/v1/blobs/{real}/upload?offset=0", content=b"hel").json()
        again = a.put(f"/v1/blobs/{real}/upload?offset=0", content=b"hel").json()  # a retry
        overlap = a.put(f"/v1/blobs/{real}/upload?offset=2", content=b"llo").json()
        gap = a.put(f"/v1/blobs/{real}/upload?offset=9", content=b"x")
        staged = a.get(f"/v1/blobs/{real}/upload").json()
        committed = a.post(f"/v1/blobs/{real}/commit", json={"size": 5})
        part = a.get(f"/v1/blobs/{real}", params={"offset": 1, "length": 3})
        tail = a.get(f"/v1/blobs/{real}", params={"offset": 2})
        whole = a.get(f"/v1/blobs/{real}")
        retried = a.post(f"/v1/blobs/{real}/commit", json={"size": 5})
        claimed = b.post(f"/v1/blobs/{real}/commit", json={"size": 5})
        foreign = b.get(f"/v1/blobs/{real}")
    assert wrong.status_code == 400
    assert "field 'digest'" in wrong.json()["error"]
    assert discarded == {"staged": 0}  # a refused upload starts again from nothing
    assert bad.status_code == 400
    assert (first["staged"], again["staged"], overlap["staged"]) == (3, 3, 5)
    assert gap.status_code == 409
    assert staged == {"staged": 5}
    assert committed.status_code == 200
    assert retried.status_code == 200  # a commit retried after its answer was lost
    assert claimed.status_code == 400  # b never uploaded those bytes: no access for it
    assert "0 of 5 bytes staged" in claimed.json()["error"]
    assert (part.content, tail.content, whole.content) == (b"ell", b"llo", b"hello")
    assert foreign.status_code == 404


def test_routers_add_endpoints(serve: Serve) -> None:
    router = APIRouter()

    @router.get("/v1/ledger/size")
    def ledger_size() -> dict[str, int]:
        return {"size": 7}

    url = serve(routers=[router])
    assert httpx.get(url + "/v1/ledger/size").json() == {"size": 7}


@pytest.mark.parametrize("wait", ["-1", "abc"])
def test_a_bad_wait_is_a_400(serve: Serve, wait: str) -> None:
    with _client(serve()) as http:
        assert http.get("/v1/tasks/next", params={"wait": wait}).status_code == 400


def test_a_post_wakes_only_the_long_polls_of_the_sites_given_a_task() -> None:
    async def run() -> None:
        waker = _Waker(asyncio.get_running_loop())
        a, b = waker.ticket("a"), waker.ticket("b")
        waker.notify_threadsafe(frozenset({"a"}))
        await asyncio.sleep(0)  # the notification runs on the loop
        assert a.is_set() and not b.is_set()
        assert waker.ticket("b") is b and waker.ticket("a") is not a  # a takes a new one
        waker.notify_threadsafe(None)  # the queue closed: every poll
        await asyncio.sleep(0)
        assert b.is_set()

    asyncio.run(run())

"""What one caller may ask of the hub: rate (429 + Retry-After), staging quotas (413) and
their expiry, and a reply's task checked before its blob is ever opened."""

from __future__ import annotations

import hashlib
import os
import threading
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.requests import Request

from accord.core import AuthError
from accord.net import DEFAULT_LIMITS, Limits, Reply, SiteClient, Task, TaskQueue
from accord.net._chunks import (
    BLOB_REF_MEDIA_TYPE,
    DEFAULT_CHUNK_BYTES,
    MAX_STAGED_UPLOADS,
    BlobRef,
    BlobStore,
    StagingQuotaError,
)
from accord.net._limits import MAX_RETRY_AFTER_S, RateLimitedError, RateLimiter, retry_after_s
from accord.net._remote_ledger import _Channel
from tests.net.conftest import Serve


class Clock:
    """A clock that moves only when told."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def _client(url: str, site: str = "a") -> httpx.Client:
    return httpx.Client(base_url=url, headers={"Accord-Site": site}, timeout=10.0)


# --- the rate limiter ---------------------------------------------------------------------


def test_a_bucket_grants_its_burst_then_refuses_until_it_refills() -> None:
    clock = Clock()
    limiter = RateLimiter(per_minute=60, burst=3, clock=clock)
    for _ in range(3):
        limiter.take("a")
    with pytest.raises(RateLimitedError) as refused:
        limiter.take("a")
    assert refused.value.retry_after_s == 1  # one token a second
    limiter.take("b")  # another caller has its own bucket
    clock.now += 1.0
    limiter.take("a")
    with pytest.raises(RateLimitedError):
        limiter.take("a")
    clock.now += 3600.0  # a bucket never holds more than its burst
    for _ in range(3):
        limiter.take("a")
    with pytest.raises(RateLimitedError):
        limiter.take("a")


def test_a_penalised_caller_owes_a_whole_burst() -> None:
    clock = Clock()
    limiter = RateLimiter(per_minute=60, burst=10, clock=clock)
    limiter.penalise("x")
    with pytest.raises(RateLimitedError) as refused:
        limiter.take("x")
    assert refused.value.retry_after_s == 11  # from -10 tokens back to one
    clock.now += 11.0
    limiter.take("x")


def test_the_defaults_let_a_site_upload_its_whole_staging_quota_in_one_burst() -> None:
    pieces = DEFAULT_LIMITS.staging_site_bytes // DEFAULT_CHUNK_BYTES  # 128 PUTs
    polls_and_ledger_pages = 100
    assert pieces + polls_and_ledger_pages < DEFAULT_LIMITS.request_burst
    assert DEFAULT_LIMITS.requests_per_minute >= 2 * pieces  # sustained: two a second


def test_a_caller_over_its_rate_gets_429_with_retry_after(serve: Serve) -> None:
    clock = Clock()
    url = serve(limiter=RateLimiter(per_minute=60, burst=2, clock=clock))
    with _client(url, "a") as a, _client(url, "b") as b:
        answers = [a.get("/v1/tasks/next", params={"wait": 0}) for _ in range(3)]
        other = b.get("/v1/tasks/next", params={"wait": 0})
        health = [a.get("/v1/health") for _ in range(3)]
        clock.now += 1.0
        later = a.get("/v1/tasks/next", params={"wait": 0})
    assert [r.status_code for r in answers] == [204, 204, 429]
    assert answers[2].headers["Retry-After"] == "1"
    assert "too many requests" in answers[2].json()["error"]
    assert other.status_code == 204
    assert {r.status_code for r in health} == {200}  # never limited
    assert later.status_code == 204


def test_a_refused_peer_that_keeps_knocking_gets_429_before_authentication(
    serve: Serve,
) -> None:
    calls: list[str] = []

    def members_only(request: Request) -> str:
        site = request.headers.get("Accord-Site", "")
        calls.append(site)
        if site != "a":
            raise AuthError(f"organisation {site} is not a member of this consortium")
        return site

    clock = Clock()
    url = serve(authenticate=members_only, limiter=RateLimiter(600, 50, clock=clock))
    with _client(url, "lab_x") as stranger, _client(url, "a") as member:
        knocks = [stranger.get("/v1/tasks/next", params={"wait": 0}) for _ in range(20)]
        served = member.get("/v1/tasks/next", params={"wait": 0})
    assert knocks[0].status_code == 401
    assert {r.status_code for r in knocks[1:]} == {429}
    assert calls == ["lab_x", "a"]  # the 19 knocks after the first never reached it
    assert served.status_code == 204


# --- Retry-After at the site --------------------------------------------------------------


class _Waits(threading.Event):
    """A stop event that records how long it was asked to wait, and never waits."""

    def __init__(self) -> None:
        super().__init__()
        self.waits: list[float | None] = []

    def wait(self, timeout: float | None = None) -> bool:
        self.waits.append(timeout)
        return False


def _busy_then(status: int, retry_after: str, times: int = 2) -> httpx.MockTransport:
    answers = iter([httpx.Response(429, headers={"Retry-After": retry_after})] * times)

    def handler(request: httpx.Request) -> httpx.Response:
        return next(answers, httpx.Response(status, json={}))

    return httpx.MockTransport(handler)


def test_the_site_client_waits_as_long_as_retry_after_says(tmp_path: Path) -> None:
    client = SiteClient(
        "http://127.0.0.1:1", lambda task: task, ssl_context=None, site="a", spool_dir=tmp_path
    )
    client._http = httpx.Client(base_url="http://hub", transport=_busy_then(204, "7"))
    stop = _Waits()
    with client:
        assert client._poll(stop) is None  # 429, 429, then 204: no failure
    assert stop.waits == [7.0, 7.0]  # as told, not the 0.2 s backoff


def test_retry_after_is_read_for_429_and_503_only_and_capped() -> None:
    assert retry_after_s(429, " 12 ") == 12.0
    assert retry_after_s(503, "3") == 3.0
    assert retry_after_s(500, "3") is None
    assert retry_after_s(429, "Wed, 21 Oct 2015 07:28:00 GMT") is None
    assert retry_after_s(429, "86400") == MAX_RETRY_AFTER_S


def test_the_ledger_channel_waits_out_a_429_without_spending_an_attempt(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    slept: list[float] = []
    monkeypatch.setattr("accord.net._remote_ledger.time.sleep", slept.append)
    http = httpx.Client(transport=_busy_then(200, "4", times=3))
    channel = _Channel(http, "http://hub", attempts=1, backoff_initial_s=0.1)
    assert channel.send("GET", "/head").status_code == 200
    assert slept == [4.0, 4.0, 4.0]


# --- staging quotas and expiry -------------------------------------------------------------


def _stage(store: BlobStore, owner: str, data: bytes, offset: int = 0) -> int:
    digest = hashlib.sha256(data).hexdigest()
    writer = store.begin_upload(owner, digest, offset)
    try:
        writer.write(data[offset:])
    finally:
        staged = writer.close()
    return staged


def test_staging_quotas_per_site_and_in_all(tmp_path: Path) -> None:
    limits = Limits(staging_site_bytes=10, staging_total_bytes=15)
    store = BlobStore(tmp_path / "blobs", limits=limits)
    assert _stage(store, "a", b"123456") == 6
    with pytest.raises(StagingQuotaError, match=r"'staging_site_bytes' \(10 bytes\)"):
        _stage(store, "a", b"abcde")  # 6 + 5 > 10 for site a
    assert _stage(store, "a", b"abcd") == 4  # 10: exactly the quota
    assert _stage(store, "b", b"12345") == 5  # 15 in all
    with pytest.raises(StagingQuotaError, match=r"'staging_total_bytes' \(15 bytes\)"):
        _stage(store, "c", b"x")
    assert store.staged_bytes == 15
    store.commit("a", hashlib.sha256(b"123456").hexdigest(), 6)  # committing frees room
    assert store.staged_bytes == 9
    assert _stage(store, "c", b"xyz") == 3


def test_a_refused_piece_leaves_nothing_written(tmp_path: Path) -> None:
    store = BlobStore(tmp_path / "blobs", limits=Limits(staging_site_bytes=4))
    data = b"abcdefgh"
    digest = hashlib.sha256(data).hexdigest()
    with pytest.raises(StagingQuotaError):
        store.begin_upload("a", digest, 0, length=len(data))  # refused from the header
    writer = store.begin_upload("a", digest, 0)  # no length declared: refused at the write
    with pytest.raises(StagingQuotaError):
        writer.write(data)
    writer.close()
    assert store.staged("a", digest) == 0 and store.staged_bytes == 0


def test_a_site_may_stage_only_so_many_uploads(tmp_path: Path) -> None:
    store = BlobStore(tmp_path / "blobs")
    for n in range(MAX_STAGED_UPLOADS):
        _stage(store, "a", b"%d" % n)
    held = len(store._uploads)
    for n in range(10):
        with pytest.raises(StagingQuotaError, match=f"{MAX_STAGED_UPLOADS} uploads staged"):
            _stage(store, "a", b"one more %d" % n)
    assert len(store._uploads) == held  # a refused upload leaves no state behind
    assert _stage(store, "b", b"one more") == 8  # another site is not held back


def test_the_count_survives_a_restart_and_old_staging_files_expire(tmp_path: Path) -> None:
    limits = Limits(staging_site_bytes=10, staging_expiry_s=3600.0)
    _stage(BlobStore(tmp_path / "blobs", limits=limits), "a", b"123456")
    again = BlobStore(tmp_path / "blobs", limits=limits)  # restarted: counted from the folder
    assert again.staged_bytes == 6
    with pytest.raises(StagingQuotaError):
        _stage(again, "a", b"abcde")

    clock = Clock(os.path.getmtime(next((tmp_path / "blobs").glob("staging/*/*.part"))))
    late = BlobStore(tmp_path / "blobs", limits=limits, clock=clock)
    assert late.staged_bytes == 6  # not yet expired
    clock.now += 3601.0  # later, while the hub runs: swept when an upload begins
    assert _stage(late, "a", b"abcde") == 5
    assert late.staged_bytes == 5
    assert late.staged("a", hashlib.sha256(b"123456").hexdigest()) == 0
    clock.now += 3601.0
    assert BlobStore(tmp_path / "blobs", limits=limits, clock=clock).staged_bytes == 0


def test_an_upload_over_a_quota_is_a_413_naming_it(tmp_path: Path, serve: Serve) -> None:
    queue = TaskQueue(tmp_path / "q" / "queue.sqlite", limits=Limits(staging_site_bytes=1000))
    url = serve(queue=queue)
    data = b"x" * 1500
    upload = f"/v1/blobs/{hashlib.sha256(data).hexdigest()}/upload"
    with _client(url) as http:
        declared = http.put(upload, params={"offset": 0}, content=data)
        streamed = http.put(upload, params={"offset": 0}, content=iter([data[:800], data[800:]]))
    queue.close()
    assert declared.status_code == 413
    assert declared.json() == {
        "error": "blob upload over the staging quota 'staging_site_bytes' (1000 bytes); "
        "commit staged uploads or let them expire"
    }
    assert streamed.status_code == 413


# --- a reply's task before its blob --------------------------------------------------------


def _no_blob_reads(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the blob was opened")

    monkeypatch.setattr(BlobStore, "read", refuse)
    monkeypatch.setattr(BlobStore, "open", refuse)


def _ref_to(queue: TaskQueue, task_id: str, site: str = "a") -> bytes:
    reply = Reply.build(task_id=task_id, site=site, kind="stats", arrays={})
    payload = b"\x00" * 4096
    digest, size = queue.blobs.put(payload)
    queue.add_blob(digest, site, size)
    header = reply.wire_header().decode("utf-8")
    return BlobRef(task_id=task_id, blob=digest, size=size, header=header).to_wire()


def test_a_blob_reply_to_an_unknown_or_foreign_task_never_opens_the_blob(
    serve: Serve, queue: TaskQueue, monkeypatch: pytest.MonkeyPatch
) -> None:
    queue.post(Task.build(task_id="theirs", plan_id="p", round=0, site="b", kind="stats"))
    queue.post(Task.build(task_id="mine", plan_id="p", round=0, site="a", kind="stats"))
    unknown, foreign, mine = (_ref_to(queue, t) for t in ("nowhere", "theirs", "mine"))
    _no_blob_reads(monkeypatch)
    url = serve()
    headers = {"Content-Type": BLOB_REF_MEDIA_TYPE}
    with _client(url) as http:
        answers = [
            http.post("/v1/replies", content=body, headers={**headers, "Idempotency-Key": key})
            for body, key in ((unknown, "nowhere"), (foreign, "theirs"), (mine, "mine"))
        ]
    assert [r.status_code for r in answers] == [404, 403, 200]
    assert answers[0].json() == {"error": "no task 'nowhere' was posted"}
    assert answers[1].json() == {"error": "task 'theirs' is not addressed to site 'a'"}
    monkeypatch.undo()  # the hub reads the payload only when it opens the reply
    assert queue.replies(["mine"])["mine"].payload == b"\x00" * 4096

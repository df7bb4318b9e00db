"""The hub's HTTP API for sites: long-polled tasks, idempotent replies, chunked blobs.

Every endpoint but ``/v1/health`` first calls ``authenticate(request)``, which returns the
caller's site (organisation) name or raises :class:`AuthError` (401) or
:class:`PermissionError` (403). Under mutual TLS that is
:func:`accord.net._http_server.authenticate_certificate`. Errors answer ``{"error": text}``:
400 for a malformed message (naming the field, never a value), 403 for a reply on another
site's task, 404 for an unknown task or blob, 409 for a second different reply or an
upload piece that does not follow the bytes staged, 410 for a reply to an expired task,
413 for a body over ``max_request_bytes`` or an upload over a staging quota, 429 (with
``Retry-After``) for a caller over its request rate (see :mod:`accord.net._limits`).

==========================================  ==============================================
``GET  /v1/health``                         ``{"status": "ok"}``
``GET  /v1/tasks/next?wait=S``              200 + the task's wire frame, or a reference to
                                            its payload blob (``BLOB_REF_MEDIA_TYPE``);
                                            204 when none came within ``S`` seconds
``POST /v1/replies``                        the reply's wire frame, or a blob reference;
                                            header ``Idempotency-Key: <task_id>`` required
``PUT  /v1/blobs/{digest}/upload?offset=N`` bytes ``N:`` of an upload, streamed to its
                                            staging file; ``{"staged": bytes}``
``GET  /v1/blobs/{digest}/upload``          ``{"staged": bytes}`` (to resume an upload)
``POST /v1/blobs/{digest}/commit``          ``{"size"}``: check and publish the upload
``GET  /v1/blobs/{digest}?offset&length``   a blob the caller may read, streamed from
                                            ``offset`` (``length`` bytes, or to the end)
==========================================  ==============================================

Long polls wait on the event loop (woken by the queue, and re-checking the database
every ``poll_interval_s`` for changes by another process); database and file work runs
in worker threads, a piece of about 1 MiB at a time for blobs.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager, suppress
from typing import IO, Annotated

from fastapi import APIRouter, Depends, FastAPI, Header, Query, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.responses import JSONResponse, Response, StreamingResponse

from accord.core import MAX_JSON_INT, AccordError, AuthError, TransportError
from accord.net._chunks import (
    BLOB_REF_MEDIA_TYPE,
    ENVELOPE_MEDIA_TYPE,
    PIECE_BYTES,
    BlobRef,
    StagingQuotaError,
    UploadBusyError,
    UploadOffsetError,
    UploadWriter,
    check_digest,
)
from accord.net._limits import DEFAULT_LIMITS, Limits, RateLimitedError, RateLimiter, caller_key
from accord.net._queue_store import TaskRow
from accord.net._task_queue import (
    ReplyConflictError,
    TaskExpiredError,
    TaskQueue,
    UnknownBlobError,
    UnknownTaskError,
    WrongSiteError,
)

__all__ = [
    "DEFAULT_MAX_REQUEST_BYTES",
    "IDEMPOTENCY_HEADER",
    "BodyTooLargeError",
    "Caller",
    "create_app",
]

log = logging.getLogger(__name__)

DEFAULT_MAX_REQUEST_BYTES = DEFAULT_LIMITS.max_request_bytes
IDEMPOTENCY_HEADER = "Idempotency-Key"
_SEND_PIECE_BYTES = PIECE_BYTES // 4  # a blob download: small, since every site holds one
_MAX_WAIT_S = 86_400.0  # a long poll asks for at most a day (the server caps it lower)
_ByteOffset = Annotated[int, Query(ge=0, le=MAX_JSON_INT)]  # a SQLite INTEGER, a file position

Authenticate = Callable[[Request], str]


class BodyTooLargeError(TransportError):
    """A request body over the limit."""


_STATUS: tuple[tuple[type[BaseException], int], ...] = (
    (AuthError, 401),
    (PermissionError, 403),
    (WrongSiteError, 403),
    (UnknownTaskError, 404),
    (UnknownBlobError, 404),
    (ReplyConflictError, 409),
    (UploadOffsetError, 409),
    (UploadBusyError, 409),
    (TaskExpiredError, 410),
    (BodyTooLargeError, 413),
    (StagingQuotaError, 413),
    (RateLimitedError, 429),
    (TransportError, 400),
)


def _caller(request: Request) -> str:
    """The authenticated site (organisation) making ``request`` (run in a worker thread:
    ``authenticate`` may read a revocation list).

    The caller's rate is checked first (429 before any authentication work); a refused
    authentication penalises the caller, so a refused peer that keeps knocking meets 429.
    """
    limiter: RateLimiter = request.app.state.limiter
    authenticate: Authenticate = request.app.state.authenticate
    key = caller_key(request)
    limiter.take(key)
    try:
        return authenticate(request)
    except (AuthError, PermissionError):
        limiter.penalise(key)
        raise


_Caller = Annotated[str, Depends(_caller)]
Caller = _Caller  # for other routers: the authenticated organisation, rate-limited first


class _Commit(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    size: int = Field(ge=0, le=MAX_JSON_INT)


class _Waker:
    """Wakes the long polls of the sites given new tasks (the queue calls it from any
    thread); a site's poll is not woken by another site's tasks, nor by replies."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._events: dict[str, asyncio.Event] = {}  # per site with a poll waiting

    def notify_threadsafe(self, sites: frozenset[str] | None) -> None:
        """Wake the polls of ``sites`` (None: every poll)."""
        with suppress(RuntimeError):  # the loop closed: the server has stopped
            self._loop.call_soon_threadsafe(self._fire, sites)

    def _fire(self, sites: frozenset[str] | None) -> None:
        chosen = list(self._events) if sites is None else sites
        for site in chosen:
            event = self._events.pop(site, None)
            if event is not None:
                event.set()

    def ticket(self, site: str) -> asyncio.Event:
        """Take before checking the queue: a task posted for ``site`` after that sets it."""
        return self._events.setdefault(site, asyncio.Event())

    @staticmethod
    async def wait(ticket: asyncio.Event, timeout_s: float) -> None:
        with suppress(TimeoutError):
            await asyncio.wait_for(ticket.wait(), timeout_s)


def create_app(
    queue: TaskQueue,
    authenticate: Authenticate,
    *,
    routers: Sequence[APIRouter] = (),
    limits: Limits = DEFAULT_LIMITS,
    max_request_bytes: int | None = None,
    max_wait_s: float = 60.0,
    limiter: RateLimiter | None = None,
) -> FastAPI:
    """The hub's API over ``queue``; ``routers`` add endpoints (e.g. the ledger's).

    ``limits`` bounds each caller (``max_request_bytes``, when given, overrides its
    field of that name); ``limiter`` replaces the rate limiter it implies (tests pass one
    with a fake clock). Staging quotas belong to ``queue.blobs``.
    """
    if max_request_bytes is None:
        max_request_bytes = limits.max_request_bytes
    if limiter is None:
        limiter = RateLimiter(limits.requests_per_minute, limits.request_burst)
    wakers: dict[asyncio.AbstractEventLoop, _Waker] = {}  # one per server running the app

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        loop = asyncio.get_running_loop()
        wakers[loop] = _Waker(loop)
        unsubscribe = queue.subscribe(wakers[loop].notify_threadsafe)
        try:
            yield
        finally:
            unsubscribe()
            del wakers[loop]

    app = FastAPI(title="accord hub", lifespan=lifespan, docs_url=None, redoc_url=None)
    _add_error_handlers(app)

    app.state.authenticate = authenticate
    app.state.limiter = limiter

    @app.get("/v1/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    def first_look(request: Request) -> tuple[str, object, TaskRow | None]:
        """Authenticate, then look for a task: one worker-thread hop, not two. Returns the
        site, the queue's change mark for it (taken before the look) and the lease."""
        site = _caller(request)
        seen = queue.changes(site)
        return site, seen, queue.take(site)

    @app.get("/v1/tasks/next")
    async def next_task(
        request: Request,
        wait: Annotated[float, Query(ge=0.0, le=_MAX_WAIT_S)] = 25.0,
    ) -> Response:
        deadline = time.monotonic() + min(wait, max_wait_s)
        waker = wakers.get(asyncio.get_running_loop())  # None when run without lifespan
        site, seen, leased = await run_in_threadpool(first_look, request)
        while leased is None:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or await request.is_disconnected():
                return Response(status_code=204)
            ticket = waker.ticket(site) if waker is not None else None
            if queue.changes(site) == seen:  # no post for the site since the last look
                pause = min(remaining, queue.poll_interval_s)
                if ticket is None:
                    await asyncio.sleep(pause)
                else:
                    await _Waker.wait(ticket, pause)
            seen = queue.changes(site)
            leased = await run_in_threadpool(queue.take, site)
        log.info("task %s (%s) leased to %s", leased.task_id, leased.kind, site)
        return _task_response(leased)

    @app.post("/v1/replies")
    async def post_reply(
        request: Request,
        site: _Caller,
        key: Annotated[str | None, Header(alias=IDEMPOTENCY_HEADER)] = None,
    ) -> JSONResponse:
        if not key:
            raise TransportError(f"missing header '{IDEMPOTENCY_HEADER}'")
        body = bytes(await _read_body(request, max_request_bytes))
        if _media_type(request) == BLOB_REF_MEDIA_TYPE:
            ref = BlobRef.from_wire(body)
            _check_key(key, ref.task_id)
            stored = await run_in_threadpool(queue.put_reply_blob, site, ref)
        else:
            stored = await run_in_threadpool(queue.put_reply, site, body, key)
        log.info("reply to %s from %s %s", key, site, "stored" if stored else "already stored")
        return JSONResponse({"status": "stored" if stored else "duplicate"})

    @app.put("/v1/blobs/{digest}/upload")
    async def put_upload(
        request: Request, site: _Caller, digest: str, offset: _ByteOffset
    ) -> JSONResponse:
        check_digest(digest)
        declared = _check_declared_size(request, max_request_bytes)
        writer = await run_in_threadpool(queue.blobs.begin_upload, site, digest, offset, declared)
        try:
            await _stream_to(writer, request, max_request_bytes)
        finally:
            staged = await run_in_threadpool(writer.close)
        return JSONResponse({"status": "stored", "staged": staged})

    @app.get("/v1/blobs/{digest}/upload")
    async def get_upload(site: _Caller, digest: str) -> JSONResponse:
        check_digest(digest)
        return JSONResponse({"staged": await run_in_threadpool(queue.blobs.staged, site, digest)})

    @app.post("/v1/blobs/{digest}/commit")
    async def commit_blob(request: Request, site: _Caller, digest: str) -> JSONResponse:
        check_digest(digest)
        try:
            commit = _Commit.model_validate_json(await _read_body(request, 4096))
        except ValidationError as exc:
            raise TransportError(f"malformed blob commit: field '{_field(exc)}'") from None
        if await run_in_threadpool(queue.blob_size, digest, site) == commit.size:
            return JSONResponse({"status": "committed", "size": commit.size})  # a retry
        await run_in_threadpool(queue.blobs.commit, site, digest, commit.size)
        await run_in_threadpool(queue.add_blob, digest, site, commit.size)
        return JSONResponse({"status": "committed", "size": commit.size})

    @app.get("/v1/blobs/{digest}")
    async def get_blob(
        site: _Caller,
        digest: str,
        offset: _ByteOffset = 0,
        length: Annotated[int | None, Query(ge=1, le=MAX_JSON_INT)] = None,
    ) -> Response:
        check_digest(digest)
        size = await run_in_threadpool(queue.blob_size, digest, site)
        if size is None:
            raise UnknownBlobError(f"site '{site}' may not read that blob")
        if offset > size:
            raise TransportError("malformed blob range: field 'offset' is past the end")
        count = size - offset if length is None else min(length, size - offset)
        handle = await run_in_threadpool(queue.blobs.open, digest)
        await run_in_threadpool(handle.seek, offset)
        return StreamingResponse(
            _stream(handle, count),
            media_type="application/octet-stream",
            headers={"Content-Length": str(count)},
        )

    for router in routers:
        app.include_router(router)
    return app


def _task_response(leased: TaskRow) -> Response:
    assert leased.wire is not None  # the whole frame, or the header of a blob's payload
    if leased.blob is None:
        return Response(leased.wire, media_type=ENVELOPE_MEDIA_TYPE)
    header = leased.wire.decode("utf-8")
    ref = BlobRef(task_id=leased.task_id, blob=leased.blob, size=leased.size, header=header)
    return Response(ref.to_wire(), media_type=BLOB_REF_MEDIA_TYPE)


async def _stream_to(writer: UploadWriter, request: Request, limit: int) -> None:
    """The request body into ``writer``, about 1 MiB per write in a worker thread while the
    next MiB arrives (one write in flight, so the bytes stay in order); 413 past ``limit``."""
    received = 0
    buffer = bytearray()
    writing: asyncio.Future[None] | None = None
    try:
        async for piece in request.stream():
            received += len(piece)
            if received > limit:
                raise BodyTooLargeError(f"request body over the limit of {limit} bytes")
            buffer += piece
            if len(buffer) >= PIECE_BYTES:
                if writing is not None:
                    await writing
                writing = asyncio.ensure_future(run_in_threadpool(writer.write, buffer))
                buffer = bytearray()
    finally:
        if writing is not None:
            await asyncio.wait([writing])  # never close the writer under a running write
    if writing is not None:
        writing.result()  # raises the write's error, if any
    if buffer:
        await run_in_threadpool(writer.write, buffer)


async def _stream(handle: IO[bytes], count: int) -> AsyncIterator[bytes]:
    """``count`` bytes of an open file, a piece at a time (read in a worker thread; a piece
    and the one the connection is sending are what a download holds in memory)."""
    try:
        while count > 0:
            piece = await run_in_threadpool(handle.read, min(_SEND_PIECE_BYTES, count))
            if not piece:
                return
            count -= len(piece)
            yield piece
    finally:
        handle.close()


def _check_key(key: str, task_id: str) -> None:
    if key != task_id:
        raise TransportError("idempotency key does not match field 'task_id'")


def _media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";")[0].strip().lower()


def _check_declared_size(request: Request, limit: int) -> int | None:
    """The body's declared size (None when not declared); 413 when over ``limit``."""
    declared = request.headers.get("content-length", "")
    if not declared.isdigit():
        return None
    if int(declared) > limit:
        raise BodyTooLargeError(f"request body over the limit of {limit} bytes")
    return int(declared)


async def _read_body(request: Request, limit: int) -> bytearray:
    """The request body, refused with 413 as soon as it passes ``limit`` bytes."""
    _check_declared_size(request, limit)
    body = bytearray()
    async for piece in request.stream():
        body += piece
        if len(body) > limit:
            raise BodyTooLargeError(f"request body over the limit of {limit} bytes")
    return body


def _field(exc: ValidationError | RequestValidationError) -> str:
    errors = exc.errors()
    if not errors:
        return "body"
    return ".".join(str(p) for p in errors[0].get("loc", ())) or "body"


def _error(status: int, text: str) -> JSONResponse:
    return JSONResponse({"error": text}, status_code=status)


def _add_error_handlers(app: FastAPI) -> None:
    async def on_error(request: Request, exc: Exception) -> JSONResponse:
        status = next((code for kind, code in _STATUS if isinstance(exc, kind)), 500)
        if status == 500:
            log.error("%s on %s", type(exc).__name__, request.url.path)
            return _error(500, "internal error")
        # a caller over its rate is not logged each time: the log must not be flooded either
        (log.debug if status == 429 else log.warning)("%s %s: %s", status, request.url.path, exc)
        answer = _error(status, str(exc) or type(exc).__name__)
        if isinstance(exc, RateLimitedError):
            answer.headers["Retry-After"] = str(exc.retry_after_s)
        return answer

    async def on_invalid(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        return _error(400, f"malformed request: field '{_field(exc)}'")

    app.add_exception_handler(AccordError, on_error)
    app.add_exception_handler(PermissionError, on_error)
    app.add_exception_handler(RequestValidationError, on_invalid)

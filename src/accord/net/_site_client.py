"""The site's side of the network transport: poll the hub, run each task, upload the reply.

A site only opens outbound HTTPS connections to the hub. :meth:`SiteClient.run` long-polls
``GET /v1/tasks/next``, hands each task to the site (``Site.handle``), and uploads the
reply with its task id as ``Idempotency-Key``. Every request is retried with capped
exponential backoff and jitter on connection errors, timeouts and 5xx answers, so a hub
restart or a network partition is waited out until ``stop`` is set. A 429 (the hub's rate
limit) is retried after the ``Retry-After`` it names (at most
:data:`~accord.net._limits.MAX_RETRY_AFTER_S`), not counted as a failure.

Large payloads move as digest-checked blobs (see :mod:`accord.net._chunks`). A task's
payload is streamed into the spool's payload cache (``payloads/<digest>``, written and
hashed in a second thread while it arrives, hashed again when reused, the least recently
used dropped to keep within ``payload_cache_bytes``), so tasks that share a payload fetch
it once. A reply is
uploaded from memory (its payload in ``chunk_bytes`` requests) while a second thread
writes it to the spool as its wire frame, named by the task and the payload's digest; once
the hub has the reply the file is removed (a large one is kept as the spare that the next
large reply is written over, which costs less than filling a new file). A site stopped or
killed before the hub took a reply re-uploads the stored frame when the hub offers the
task again instead of computing it twice; a frame that fails its digest is dropped and the
task computed again.
Memory holds the message being parsed or sent plus a few pieces of about 1 MiB. Log lines
name task ids, kinds and sizes only.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import os
import random
import ssl
import tempfile
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import httpx

from accord.core import TransportError, load_json
from accord.net._app import IDEMPOTENCY_HEADER
from accord.net._chunks import (
    BLOB_REF_MEDIA_TYPE,
    DEFAULT_CHUNK_BYTES,
    DEFAULT_INLINE_LIMIT,
    ENVELOPE_MEDIA_TYPE,
    PIECE_BYTES,
    BlobRef,
    BytesRange,
    FileRange,
    HashingSink,
    hash_file,
    read_frame_layout,
    write_frame,
)
from accord.net._http_server import SITE_HEADER
from accord.net._hub_answers import refusal, retryable
from accord.net._limits import retry_after_s
from accord.net._messages import WIRE_PREFIX_BYTES, Reply, Task
from accord.net._transport import SiteEndpoint

__all__ = ["DEFAULT_PAYLOAD_CACHE_BYTES", "SiteClient"]

log = logging.getLogger(__name__)

DEFAULT_PAYLOAD_CACHE_BYTES = 512 * 1024 * 1024  # a round's model, and a few before it


class _StoppedError(Exception):
    """``stop`` was set while a request was being retried."""


class SiteClient:
    """Runs ``site_endpoint`` on the tasks the hub at ``base_url`` has for ``site``.

    ``ssl_context`` holds the consortium CA and the site's client certificate (see
    :func:`accord.crypto._tls.client_context`); None only for plain HTTP on loopback.
    ``spool_dir`` keeps computed replies until the hub has them, and the task payloads
    fetched (up to ``payload_cache_bytes``); without one a temporary folder is used, which
    does not survive a restart of the site. ``chunk_bytes`` is the size of one upload
    request (at most the hub's ``max_request_bytes``).
    """

    def __init__(
        self,
        base_url: str,
        site_endpoint: SiteEndpoint,
        *,
        ssl_context: ssl.SSLContext | None,
        site: str,
        spool_dir: Path | None = None,
        poll_wait_s: float = 25.0,
        backoff_initial_s: float = 0.2,
        backoff_max_s: float = 5.0,
        inline_limit: int = DEFAULT_INLINE_LIMIT,
        chunk_bytes: int = DEFAULT_CHUNK_BYTES,
        payload_cache_bytes: int = DEFAULT_PAYLOAD_CACHE_BYTES,
        connect_timeout_s: float = 10.0,
    ) -> None:
        self.site = site
        self.endpoint = site_endpoint
        self.poll_wait_s = poll_wait_s
        self.backoff_initial_s = backoff_initial_s
        self.backoff_max_s = backoff_max_s
        self.inline_limit = inline_limit
        self.chunk_bytes = chunk_bytes
        self.spool = (
            spool_dir if spool_dir is not None else Path(tempfile.mkdtemp(prefix="accord-"))
        )
        self.spool.mkdir(parents=True, exist_ok=True)
        self.payload_cache_bytes = payload_cache_bytes
        self.payloads = self.spool / "payloads"
        self.payloads.mkdir(exist_ok=True)
        self._spare = self.spool / ".spare.reply"  # a delivered reply's file, to write over
        for stale in self.payloads.glob(".*.part"):  # a download cut by a crash
            stale.unlink(missing_ok=True)
        timeout = httpx.Timeout(
            connect=connect_timeout_s,
            read=poll_wait_s + 30.0,
            write=60.0,
            pool=connect_timeout_s,
        )
        self._http = httpx.Client(
            base_url=base_url,
            verify=ssl_context if ssl_context is not None else True,
            timeout=timeout,
            headers={SITE_HEADER: site},
        )
        self.handled = 0  # tasks answered (including re-uploads of spooled replies)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def run(self, stop: threading.Event) -> None:
        """Poll and answer tasks until ``stop`` is set.

        Raises :class:`TransportError` when the hub refuses the site itself (401, 403 or
        another 4xx on polling) or sends a malformed task: retrying cannot fix either.
        """
        log.info("site %s polling %s", self.site, self._http.base_url)
        while not stop.is_set():
            try:
                self.step(stop)
            except _StoppedError:
                break
        log.info("site %s stopped", self.site)

    def step(self, stop: threading.Event) -> bool:
        """One long poll; True when a task came and was answered."""
        offered = self._poll(stop)
        if offered is None:
            return False
        spooled = self._spooled(offered.task_id)
        if spooled is not None:
            log.info("task %s offered again; re-uploading the stored reply", offered.task_id)
            self._upload(_Outgoing.from_spool(offered.task_id, spooled), stop)
        else:
            reply = self._answer(offered, stop)
            if reply is None:
                return False
            spooled = self._spool_and_upload(reply, stop)
        self._retire(spooled)
        self.handled += 1
        return True

    def _retire(self, spooled: Path) -> None:
        """A delivered reply's spool file: kept as the spare the next large reply is
        written over (see ``write_frame``), or removed when it is small."""
        try:
            if spooled.stat().st_size > self.inline_limit:
                os.replace(spooled, self._spare)
                return
        except FileNotFoundError:
            return
        spooled.unlink(missing_ok=True)

    # --- hub → site -----------------------------------------------------------------------

    def _poll(self, stop: threading.Event) -> Task | BlobRef | None:
        response = self._send("GET", "/v1/tasks/next", stop, params={"wait": self.poll_wait_s})
        if response.status_code == 204:
            return None
        if response.status_code != 200:
            raise refusal(response, "polling for tasks")
        if _media_type(response) == BLOB_REF_MEDIA_TYPE:
            return BlobRef.from_wire(response.content)
        return Task.from_wire(response.content)

    def _download(self, ref: BlobRef, stop: threading.Event) -> Task:
        """The task of reference ``ref``: its payload from the cache or the hub, its header
        from the reference."""
        path = self.fetch_payload(ref, stop)
        return Task.from_parts(ref.header.encode("utf-8"), path.read_bytes())

    def fetch_payload(self, ref: BlobRef, stop: threading.Event) -> Path:
        """The file holding blob ``ref.blob`` in the payload cache, fetched unless cached.

        A cached file is hashed again before it is used. Before a fetch, the least
        recently used files are dropped until the new one fits in ``payload_cache_bytes``
        (it is kept even when it alone is larger).
        """
        cached = self.payloads / ref.blob
        if cached.is_file() and hash_file(cached) == (ref.blob, ref.size):
            os.utime(cached)
            log.info("task %s: payload already fetched (%d bytes)", ref.task_id, ref.size)
            return cached
        self._make_room(ref.size)
        part = self.payloads / f".{ref.blob}.part"
        try:
            self.fetch_blob(ref.blob, ref.size, part, stop)
            os.replace(part, cached)
        finally:
            part.unlink(missing_ok=True)
        log.info("task %s: payload fetched (%d bytes)", ref.task_id, ref.size)
        return cached

    def fetch_blob(self, digest: str, size: int, target: Path, stop: threading.Event) -> None:
        """Stream blob ``digest`` into ``target`` (resuming a broken transfer where it
        stopped; written and hashed in a second thread); check its ``size`` and digest."""
        delay = self.backoff_initial_s
        with target.open("wb") as handle:
            sink = HashingSink(handle)
            try:
                while sink.size < size:
                    if stop.is_set():
                        raise _StoppedError
                    failed = self._stream_into(digest, sink)
                    if failed is None:
                        delay = self.backoff_initial_s
                        continue
                    reason, after = failed
                    delay = self._pause(stop, "GET", f"/v1/blobs/{digest}", reason, delay, after)
            finally:
                actual = sink.close()
        if sink.size != size or actual != digest:
            raise TransportError(f"blob {digest[:12]}: the download does not match its digest")

    def _stream_into(self, digest: str, sink: HashingSink) -> tuple[str, float | None] | None:
        """Hand bytes ``sink.size:`` of a blob to ``sink``; None when some came, else why
        not and the hub's ``Retry-After`` (to retry). Raises :class:`TransportError` when
        the hub refuses."""
        offset = sink.size
        try:
            url = f"/v1/blobs/{digest}"
            with self._http.stream("GET", url, params={"offset": offset}) as response:
                if response.status_code != 200:
                    response.read()
                    if retryable(response.status_code):
                        return f"status {response.status_code}", _retry_after(response)
                    raise refusal(response, f"reading blob {digest[:12]}")
                buffer = bytearray()  # TLS hands out ~16 KiB records: pass ~1 MiB at once
                try:
                    for piece in response.iter_raw():
                        buffer += piece
                        if len(buffer) >= PIECE_BYTES:
                            sink.put(buffer)
                            buffer = bytearray()
                finally:
                    if buffer:
                        sink.put(buffer)
        except httpx.TransportError as exc:
            if sink.size == offset:
                return type(exc).__name__, None
        return None if sink.size > offset else ("empty answer", None)

    def _make_room(self, incoming: int) -> None:
        """Drop the least recently used cached payloads until ``incoming`` bytes fit."""
        files = [p for p in self.payloads.iterdir() if p.is_file() and not p.name.startswith(".")]
        files.sort(key=lambda p: p.stat().st_mtime, reverse=True)
        total = incoming
        for path in files:
            total += path.stat().st_size
            if total > self.payload_cache_bytes:
                path.unlink(missing_ok=True)

    def _answer(self, offered: Task | BlobRef, stop: threading.Event) -> Reply | None:
        """Run the task; None when a large task could not be fetched.

        The task lives only in this call, not while its reply is uploaded.
        """
        try:
            task = offered if isinstance(offered, Task) else self._download(offered, stop)
        except TransportError as exc:  # e.g. a corrupt download: the task comes back later
            log.warning("task %s not fetched: %s", offered.task_id, exc)
            return None
        log.info("task %s (%s, round %d) running", task.task_id, task.kind, task.round)
        try:
            reply = self.endpoint.handle(task)
        except Exception as exc:  # the endpoint's message may embed data values: class only
            reply = Reply.build(
                task_id=task.task_id,
                site=task.site,
                kind=task.kind,
                status="failed",
                error=type(exc).__name__,
            )
        log.info("task %s answered: %s (%d bytes)", task.task_id, reply.status, len(reply.payload))
        return reply

    # --- site → hub -----------------------------------------------------------------------

    def _spool_and_upload(self, reply: Reply, stop: threading.Event) -> Path:
        """Upload ``reply`` from memory while a second thread spools it (a reply small
        enough to travel inline is spooled first, in this thread); the spool file.

        The spool file (named by the task and the payload's digest) is complete before
        this returns, so a reply the hub did not take is re-uploaded after a restart. It
        is not fsynced: after a crash of the machine a damaged file fails its digest and
        the task is computed again (see :meth:`_spooled`).
        """
        outgoing = _Outgoing.from_reply(reply)
        spooled = self.spool / f"{_task_key(reply.task_id)}.{outgoing.digest}.reply"
        if outgoing.frame_size <= self.inline_limit:  # small: a thread would cost more
            _spool(reply, spooled)
            self._upload(outgoing, stop)
            return spooled
        writing = threading.Thread(target=_spool, args=(reply, spooled, self._spare), daemon=True)
        writing.start()
        try:
            self._upload(outgoing, stop)
        finally:
            writing.join()
        return spooled

    def _upload(self, outgoing: _Outgoing, stop: threading.Event) -> None:
        """Upload a reply; a refusal by the hub is logged and the reply dropped."""
        task_id = outgoing.task_id
        headers = {IDEMPOTENCY_HEADER: task_id}
        if outgoing.frame_size <= self.inline_limit:
            headers["Content-Type"] = ENVELOPE_MEDIA_TYPE
            body = outgoing.frame()
        else:
            size = outgoing.frame_size - outgoing.payload_offset
            if not self._upload_pieces(outgoing.digest, size, outgoing.pieces, stop):
                log.warning("reply to %s dropped: the hub refused its payload", task_id)
                return
            header = outgoing.header.decode("utf-8")
            ref = BlobRef(task_id=task_id, blob=outgoing.digest, size=size, header=header)
            headers["Content-Type"] = BLOB_REF_MEDIA_TYPE
            body = ref.to_wire()
        response = self._send("POST", "/v1/replies", stop, content=body, headers=headers)
        if response.status_code == 200:
            log.info("reply to %s delivered (%s)", task_id, _answer(response).get("status"))
        else:
            log.warning("reply to %s dropped: %s", task_id, refusal(response, "the reply"))

    def upload_blob(self, path: Path, stop: threading.Event) -> tuple[str, int] | None:
        """Upload a file as a blob and commit it: ``(digest, size)``, or None (logged) when
        the hub refuses it."""
        digest, size = hash_file(path)
        pieces = functools.partial(FileRange, path)
        return (digest, size) if self._upload_pieces(digest, size, pieces, stop) else None

    def _upload_pieces(self, digest: str, size: int, pieces: Pieces, stop: threading.Event) -> bool:
        """Upload ``size`` bytes (``pieces(start, end)`` gives a range) as blob ``digest``
        and commit it; False (logged) when the hub refuses it.

        Requests of ``chunk_bytes`` each; the hub says how many bytes it holds after each,
        so an upload cut by a hub restart goes on from there.
        """
        url = f"/v1/blobs/{digest}"
        for attempt in range(3):
            staged = 0
            while staged < size:
                end = min(staged + self.chunk_bytes, size)
                response = self._send(
                    "PUT",
                    f"{url}/upload",
                    stop,
                    params={"offset": staged},
                    content=pieces(staged, end),
                    headers={"Content-Length": str(end - staged)},
                )
                if response.status_code == 409:  # out of step, or busy: ask where it stands
                    stop.wait(self.backoff_initial_s)
                    response = self._send("GET", f"{url}/upload", stop)
                if response.status_code != 200:
                    log.warning("blob %s refused: %s", digest[:12], refusal(response, "a piece"))
                    return False
                held = _staged(response, size)
                if held is None:
                    log.warning("blob %s: the hub's answer has no valid 'staged'", digest[:12])
                    return False
                staged = held
            response = self._send("POST", f"{url}/commit", stop, json={"size": size})
            if response.status_code == 200:
                log.info("blob %s uploaded (%d bytes)", digest[:12], size)
                return True
            log.warning(
                "blob %s: commit %d refused, %s", digest[:12], attempt + 1, response.status_code
            )
        log.warning("blob %s: the hub refused its upload three times", digest[:12])
        return False

    # --- plumbing -------------------------------------------------------------------------

    def _send(
        self, method: str, url: str, stop: threading.Event, **kwargs: object
    ) -> httpx.Response:
        """The hub's answer, retrying connection errors, timeouts and 5xx until ``stop``
        (and a 429 after the ``Retry-After`` it names)."""
        delay = self.backoff_initial_s
        while True:
            if stop.is_set():
                raise _StoppedError
            after: float | None = None
            try:
                response = self._http.request(method, url, **kwargs)  # type: ignore[arg-type]
            except httpx.TransportError as exc:
                reason = type(exc).__name__
            else:
                # The body is read; drop the response <-> stream reference cycle httpx makes,
                # which only the cyclic GC frees: with chunk-sized bodies that garbage piles up.
                response.stream = httpx.ByteStream(b"")
                if not retryable(response.status_code):
                    return response
                reason = f"status {response.status_code}"
                after = _retry_after(response)
            delay = self._pause(stop, method, url, reason, delay, after)

    def _pause(
        self,
        stop: threading.Event,
        method: str,
        url: str,
        reason: str,
        delay: float,
        retry_after_s: float | None = None,
    ) -> float:
        """Wait before a retry: the hub's ``retry_after_s`` when it named one (the backoff
        is kept as it was), else about ``delay`` s with jitter; returns the next delay."""
        if retry_after_s is not None:
            log.info("hub busy on %s %s (%s); retry in %.1f s", method, url, reason, retry_after_s)
            stop.wait(retry_after_s)
            return delay
        pause = delay / 2 + random.uniform(0.0, delay / 2)
        log.warning("hub unreachable on %s %s (%s); retry in %.1f s", method, url, reason, pause)
        stop.wait(pause)
        return min(self.backoff_max_s, delay * 2)

    def _spooled(self, task_id: str) -> Path | None:
        """The intact spooled reply to ``task_id``, if any; a damaged one is removed."""
        found = sorted(self.spool.glob(f"{_task_key(task_id)}.*.reply"))
        for path in found:
            try:
                layout = read_frame_layout(path, "Reply")
                intact = hash_file(path, layout.payload_offset)[0] == _spooled_digest(path)
            except TransportError:
                intact = False
            if intact:
                return path
            log.warning("task %s: the stored reply is damaged; it is computed again", task_id)
            path.unlink(missing_ok=True)
        return None


Pieces = Callable[[int, int], Iterable[bytes] | Iterable[memoryview]]


@dataclass(frozen=True)
class _Outgoing:
    """A reply to upload, from memory or from its spool file: its JSON ``header``, the
    SHA-256 ``digest`` of its payload, and how to read its frame or a payload range."""

    task_id: str
    header: bytes
    digest: str
    payload_offset: int  # in the frame
    frame_size: int
    frame: Callable[[], bytes]
    pieces: Pieces  # pieces(start, end): bytes start:end of the payload

    @classmethod
    def from_reply(cls, reply: Reply) -> _Outgoing:
        header = reply.wire_header()
        offset = WIRE_PREFIX_BYTES + len(header)
        data = reply.payload
        return cls(
            reply.task_id,
            header,
            hashlib.sha256(data).hexdigest(),
            offset,
            offset + len(data),
            reply.to_wire,
            functools.partial(BytesRange, data),
        )

    @classmethod
    def from_spool(cls, task_id: str, path: Path) -> _Outgoing:
        layout = read_frame_layout(path, "Reply")
        offset = layout.payload_offset

        def pieces(start: int, end: int) -> FileRange:
            return FileRange(path, offset + start, offset + end)

        return cls(
            task_id,
            layout.header,
            _spooled_digest(path),
            offset,
            layout.frame_size,
            path.read_bytes,
            pieces,
        )


def _spool(reply: Reply, path: Path, spare: Path | None = None) -> None:
    try:
        write_frame(reply, path, durable=False, reuse=spare)
    except OSError as exc:  # the upload goes on; only a later re-upload would need it
        log.warning("reply to %s not spooled (%s)", reply.task_id, type(exc).__name__)


def _task_key(task_id: str) -> str:
    return hashlib.sha256(task_id.encode("utf-8")).hexdigest()[:40]


def _spooled_digest(path: Path) -> str:
    """The payload digest in a spool file's name (``<task key>.<digest>.reply``)."""
    return path.name.split(".")[1]


def _retry_after(response: httpx.Response) -> float | None:
    return retry_after_s(response.status_code, str(response.headers.get("retry-after", "")))


def _media_type(response: httpx.Response) -> str:
    value = str(response.headers.get("content-type", ""))
    return value.split(";")[0].strip().lower()


def _answer(response: httpx.Response) -> dict[str, Any]:
    """The hub's JSON object answer, or ``{}`` for anything else (the hub is not trusted:
    bounded parsing, and a list or a number where an object belongs is no answer)."""
    try:
        data = load_json(response.content)
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _staged(response: httpx.Response, size: int) -> int | None:
    """How many bytes of a ``size``-byte upload the hub says it holds; None if it lies."""
    staged = _answer(response).get("staged")
    if isinstance(staged, bool) or not isinstance(staged, int) or not 0 <= staged <= size:
        return None
    return staged

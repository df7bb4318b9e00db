"""The site's side of the network transport: poll the hub, run each task, upload the reply.

A site only opens outbound HTTPS connections to the hub. :meth:`SiteClient.run` long-polls
``GET /v1/tasks/next``, hands each task to the site (``Site.handle``), and uploads the
reply with its task id as ``Idempotency-Key``. Every request is retried with capped
exponential backoff and jitter on connection errors, timeouts and 5xx answers, so a hub
restart or a network partition is waited out until ``stop`` is set.

A reply is spooled to disk (atomically) before it is uploaded and removed once the hub
has it, so a site that crashed mid-upload re-uploads the stored reply when the hub offers
the task again instead of computing it twice. Large envelopes move as chunked blobs (see
:mod:`accord.fl.net.chunks`) through files: memory holds one chunk of the transfer on
top of the message being parsed or sent. Log lines name task ids, kinds and sizes only.
"""

from __future__ import annotations

import hashlib
import logging
import math
import random
import ssl
import tempfile
import threading
from pathlib import Path
from types import TracebackType
from typing import Self

import httpx

from accord.core.errors import TransportError
from accord.fl.messages import Reply, Task
from accord.fl.net.app import IDEMPOTENCY_HEADER
from accord.fl.net.chunks import (
    BLOB_REF_MEDIA_TYPE,
    DEFAULT_CHUNK_BYTES,
    DEFAULT_INLINE_LIMIT,
    ENVELOPE_MEDIA_TYPE,
    BlobRef,
    hash_file,
    iter_chunks,
    write_envelope,
)
from accord.fl.net.server import SITE_HEADER
from accord.fl.transport import SiteEndpoint

__all__ = ["SiteClient"]

log = logging.getLogger(__name__)

_RETRY_STATUS = frozenset({408, 425, 429})


class _StoppedError(Exception):
    """``stop`` was set while a request was being retried."""


class SiteClient:
    """Runs ``site_endpoint`` on the tasks the hub at ``base_url`` has for ``site``.

    ``ssl_context`` holds the consortium CA and the site's client certificate (see
    :func:`accord.crypto.tls.client_context`); None only for plain HTTP on loopback.
    ``spool_dir`` keeps computed replies until the hub has them; without one a temporary
    folder is used, which does not survive a restart of the site.
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
        spooled = self._spool_path(offered.task_id)
        if spooled.is_file():
            log.info("task %s offered again; re-uploading the stored reply", offered.task_id)
        elif not self._answer(offered, spooled, stop):
            return False
        self._upload(offered.task_id, spooled, stop)
        spooled.unlink(missing_ok=True)
        self.handled += 1
        return True

    # --- hub → site -----------------------------------------------------------------------

    def _poll(self, stop: threading.Event) -> Task | BlobRef | None:
        response = self._send("GET", "/v1/tasks/next", stop, params={"wait": self.poll_wait_s})
        if response.status_code == 204:
            return None
        if response.status_code != 200:
            raise _refused(response, "polling for tasks")
        if _media_type(response) == BLOB_REF_MEDIA_TYPE:
            return BlobRef.from_wire(response.content)
        return Task.from_wire(response.content)

    def _download(self, ref: BlobRef, stop: threading.Event) -> Task:
        """Fetch a large task into a file, check it, then parse it."""
        part = self.spool / f".{ref.blob}.download"
        try:
            self.fetch_blob(ref, part, stop)
            return Task.from_wire(part.read_bytes())
        finally:
            part.unlink(missing_ok=True)

    def fetch_blob(self, ref: BlobRef, target: Path, stop: threading.Event) -> None:
        """Write blob ``ref`` to ``target`` a chunk at a time; check its size and digest."""
        digest = hashlib.sha256()
        with target.open("wb") as handle:
            offset = 0
            while offset < ref.size:
                params = {"offset": offset, "length": self.chunk_bytes}
                response = self._send("GET", f"/v1/blobs/{ref.blob}", stop, params=params)
                if response.status_code != 200 or not response.content:
                    raise _refused(response, f"reading task {ref.task_id}")
                digest.update(response.content)
                handle.write(response.content)
                offset += len(response.content)
        if offset != ref.size or digest.hexdigest() != ref.blob:
            raise TransportError(f"task {ref.task_id}: the download does not match its digest")
        log.info("task %s fetched (%d bytes)", ref.task_id, ref.size)

    def _answer(self, offered: Task | BlobRef, spooled: Path, stop: threading.Event) -> bool:
        """Run the task and spool its reply; False when a large task could not be fetched.

        The task and its reply live only in this call, not while the reply is uploaded.
        """
        try:
            task = offered if isinstance(offered, Task) else self._download(offered, stop)
        except TransportError as exc:  # e.g. a corrupt download: the task comes back later
            log.warning("task %s not fetched: %s", offered.task_id, exc)
            return False
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
        _, size = write_envelope(reply, spooled)
        log.info("task %s answered: %s (%d bytes)", task.task_id, reply.status, size)
        return True

    # --- site → hub -----------------------------------------------------------------------

    def _upload(self, task_id: str, spooled: Path, stop: threading.Event) -> None:
        """Upload a spooled reply; a refusal by the hub is logged and the reply dropped."""
        headers = {IDEMPOTENCY_HEADER: task_id}
        size = spooled.stat().st_size
        if size <= self.inline_limit:
            headers["Content-Type"] = ENVELOPE_MEDIA_TYPE
            body = spooled.read_bytes()
        else:
            ref = self.upload_blob(task_id, spooled, stop)
            if ref is None:
                return
            headers["Content-Type"] = BLOB_REF_MEDIA_TYPE
            body = ref.to_wire()
        response = self._send("POST", "/v1/replies", stop, content=body, headers=headers)
        if response.status_code == 200:
            log.info("reply to %s delivered (%s)", task_id, response.json().get("status"))
        else:
            log.warning("reply to %s dropped: %s", task_id, _refused(response, "the reply"))

    def upload_blob(self, task_id: str, spooled: Path, stop: threading.Event) -> BlobRef | None:
        """Upload a file as chunks and commit it; None (logged) when the hub refuses it."""
        digest, size = hash_file(spooled, self.chunk_bytes)
        chunks = max(1, math.ceil(size / self.chunk_bytes))
        for attempt in range(3):
            for index, chunk in enumerate(iter_chunks(spooled, self.chunk_bytes)):
                url = f"/v1/blobs/{digest}/chunks/{index}"
                response = self._send("PUT", url, stop, content=chunk)
                if response.status_code != 200:
                    log.warning("reply to %s dropped: %s", task_id, _refused(response, "a chunk"))
                    return None
            commit = {"size": size, "chunks": chunks}
            response = self._send("POST", f"/v1/blobs/{digest}/commit", stop, json=commit)
            if response.status_code == 200:
                log.info("reply to %s uploaded as %d chunks", task_id, chunks)
                return BlobRef(task_id=task_id, blob=digest, size=size)
            log.warning(
                "reply to %s: commit %d refused, %s", task_id, attempt + 1, response.status_code
            )
        log.warning("reply to %s dropped: the hub refused its upload three times", task_id)
        return None

    # --- plumbing -------------------------------------------------------------------------

    def _send(
        self, method: str, url: str, stop: threading.Event, **kwargs: object
    ) -> httpx.Response:
        """The hub's answer, retrying connection errors, timeouts and 5xx until ``stop``."""
        delay = self.backoff_initial_s
        while True:
            if stop.is_set():
                raise _StoppedError
            try:
                response = self._http.request(method, url, **kwargs)  # type: ignore[arg-type]
            except httpx.TransportError as exc:
                reason = type(exc).__name__
            else:
                # The body is read; drop the response <-> stream reference cycle httpx makes,
                # which only the cyclic GC frees: with chunk-sized bodies that garbage piles up.
                response.stream = httpx.ByteStream(b"")
                if response.status_code < 500 and response.status_code not in _RETRY_STATUS:
                    return response
                reason = f"status {response.status_code}"
            pause = delay / 2 + random.uniform(0.0, delay / 2)
            log.warning(
                "hub unreachable on %s %s (%s); retry in %.1f s", method, url, reason, pause
            )
            stop.wait(pause)
            delay = min(self.backoff_max_s, delay * 2)

    def _spool_path(self, task_id: str) -> Path:
        name = hashlib.sha256(task_id.encode("utf-8")).hexdigest()[:40]
        return self.spool / f"{name}.reply"


def _media_type(response: httpx.Response) -> str:
    value = str(response.headers.get("content-type", ""))
    return value.split(";")[0].strip().lower()


def _refused(response: httpx.Response, what: str) -> TransportError:
    try:
        text = str(response.json().get("error", ""))
    except ValueError:
        text = ""
    return TransportError(f"the hub refused {what} with status {response.status_code}: {text}")

"""The hub's durable task queue: tasks posted for sites, leases, and the sites' replies.

State lives in a :class:`~accord.net._queue_store.QueueStore` (by default one SQLite file,
:class:`~accord.net._queue_store.SQLiteQueueStore`), so the hub process may be killed at
any instant and reopened. An envelope whose wire frame is larger than ``inline_limit`` is
kept in two parts: its JSON header in the row and its payload as a content-addressed blob
in a folder next to the database (see :mod:`accord.net._chunks`). Tasks that carry the same
payload (a model broadcast to every site) share one blob, which each of their sites may
read.

Semantics:

* ``task_id`` is the idempotency key. Posting a task twice is a no-op; a reply identical
  to the one stored is a no-op; a *different* second reply is refused.
* A site leases its oldest unanswered task. A task leased but unanswered after
  ``lease_timeout_s`` is offered again, so a site that crashed mid-task gets it back.
* The hub *expires* tasks it stopped waiting for; they are no longer offered and late
  replies to them are refused (a site back from a partition does not work through stale
  rounds).

A refused reply raises one of the errors below, each a
:class:`~accord.core._errors.TransportError` (the HTTP app maps them to status codes).
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from accord.core import TransportError
from accord.net._chunks import DEFAULT_INLINE_LIMIT, BlobRef, BlobStore
from accord.net._limits import DEFAULT_LIMITS, Limits
from accord.net._messages import WIRE_PREFIX_BYTES, Reply, Task, read_wire_prefix
from accord.net._queue_store import QueueStore, ReplyRow, SQLiteQueueStore, TaskRow, reply_identity

__all__ = [
    "ReplyConflictError",
    "TaskExpiredError",
    "TaskQueue",
    "UnknownBlobError",
    "UnknownTaskError",
    "WrongSiteError",
]


class UnknownTaskError(TransportError):
    """A reply names a task the hub never posted."""


class UnknownBlobError(TransportError):
    """A blob the caller never uploaded (or may not read)."""


class WrongSiteError(TransportError):
    """A reply from a site other than the one the task is addressed to."""


class ReplyConflictError(TransportError):
    """A second, different reply for a task that already has one."""


class TaskExpiredError(TransportError):
    """A reply to a task the hub has stopped waiting for."""


class TaskQueue:
    """Tasks for sites and their replies, durable in ``path`` (SQLite) and a blob folder.

    ``lease_timeout_s``: how long a leased, unanswered task waits before it is offered
    again. ``poll_interval_s``: how often blocking waits re-read the database, to see
    changes made by another process (changes in this process wake them at once).
    ``limits`` gives the blob folder's staging quotas and expiry.
    """

    def __init__(
        self,
        path: Path,
        *,
        inline_limit: int = DEFAULT_INLINE_LIMIT,
        lease_timeout_s: float = 30.0,
        poll_interval_s: float = 0.5,
        store: QueueStore | None = None,
        limits: Limits = DEFAULT_LIMITS,
    ) -> None:
        self.path = path
        self.store: QueueStore = store if store is not None else SQLiteQueueStore(path)
        self.blobs = BlobStore(path.with_name(path.name + ".blobs"), limits=limits)
        self.inline_limit = inline_limit
        self.lease_timeout_s = lease_timeout_s
        self.poll_interval_s = poll_interval_s
        self._changed = threading.Condition()
        self._generation = 0
        self._awaited: set[str] = set()  # task ids a wait_replies call is waiting for
        self._parsed: dict[str, Reply] = {}  # their replies, as parsed when accepted
        self._listeners: list[Callable[[], None]] = []
        self._payload_lock = threading.Lock()
        self._last_payload: tuple[bytes, str] | None = None  # the last blob payload posted

    # --- hub side -------------------------------------------------------------------------

    def post(self, task: Task) -> bool:
        """Queue ``task`` for its site; False when a task with that id is already queued.

        A large payload is written once as a blob named by its digest; tasks posted with
        the same payload (the same bytes object, as ``Hub.broadcast`` makes) share it
        without hashing it again.
        """
        if self.store.has_task(task.task_id):
            return False
        header = task.wire_header()
        blob: str | None = None
        frame_size = WIRE_PREFIX_BYTES + len(header) + len(task.payload)
        if frame_size <= self.inline_limit:
            wire, size = task.to_wire(), frame_size
        else:
            wire = header
            blob, size = self._store_payload(task.payload)
            self.store.add_blob(blob, task.site, size)
        row = TaskRow(
            task.task_id, task.plan_id, task.round, task.site, task.kind, wire, blob, size
        )
        added = self.store.insert_task(row, time.time())
        self._notify()
        return added

    def _store_payload(self, payload: bytes) -> tuple[str, int]:
        """``(digest, size)`` of ``payload`` stored as a blob; the last one is remembered
        (holding a reference to it) so that a broadcast hashes and writes it once."""
        with self._payload_lock:
            last = self._last_payload
            if last is not None and last[0] is payload:
                return last[1], len(payload)
            digest, size = self.blobs.put(payload)
            self._last_payload = (payload, digest)
            return digest, size

    def replies(self, task_ids: Sequence[str]) -> dict[str, Reply]:
        """The replies received so far for ``task_ids``."""
        out: dict[str, Reply] = {}
        for row in self.store.reply_rows(task_ids):
            with self._changed:
                parsed = self._parsed.pop(row.task_id, None)
            out[row.task_id] = parsed if parsed is not None else self._open_reply(row)
        return out

    def wait_replies(self, task_ids: Sequence[str], timeout_s: float) -> dict[str, Reply]:
        """Block until every task in ``task_ids`` has a reply or ``timeout_s`` passes.

        A reply accepted in this process while it waits is handed over as it was parsed
        then, so a large reply is not parsed a second time.
        """
        wanted = list(dict.fromkeys(task_ids))
        with self._payload_lock:
            self._last_payload = None  # the round's tasks are posted: let its payload go
        with self._changed:
            self._awaited.update(wanted)
        try:
            self._wait_until(lambda: len(self.store.answered(wanted)) == len(wanted), timeout_s)
            return self.replies(wanted)
        finally:
            with self._changed:
                self._awaited.difference_update(wanted)
                for task_id in wanted:
                    self._parsed.pop(task_id, None)

    def expire(self, task_ids: Sequence[str]) -> None:
        """Withdraw unanswered tasks: no longer offered, late replies refused."""
        self.store.expire(list(task_ids), time.time())
        self._notify()

    def task_site(self, task_id: str) -> str | None:
        """The site task ``task_id`` is addressed to (None for an unknown task)."""
        return self.store.task_site(task_id)

    def pending(self, site: str) -> list[str]:
        """Ids of ``site``'s tasks that have neither a reply nor expired, oldest first."""
        return self.store.pending(site)

    # --- site side (through the HTTP app) -------------------------------------------------

    def take(self, site: str) -> TaskRow | None:
        """Lease ``site``'s oldest unanswered task now, or None (does not wait)."""
        return self.store.lease_next(site, time.time(), self.lease_timeout_s)

    def lease(self, site: str, wait_s: float) -> Task | None:
        """Lease ``site``'s oldest unanswered task, waiting up to ``wait_s`` for one."""
        found: list[TaskRow] = []

        def ready() -> bool:
            leased = self.take(site)
            if leased is not None:
                found.append(leased)
            return leased is not None

        self._wait_until(ready, wait_s)
        return self.open_task(found[0]) if found else None

    def open_task(self, leased: TaskRow) -> Task:
        """The Task of a stored row (its payload read from its blob when it is large)."""
        assert leased.wire is not None  # the whole frame, or the header of a blob's payload
        if leased.blob is None:
            return Task.from_wire(leased.wire)
        return Task.from_parts(leased.wire, self.blobs.read(leased.blob))

    def put_reply(self, site: str, reply_wire: bytes, task_id: str | None = None) -> bool:
        """Accept ``site``'s reply; False when the same reply was already stored.

        ``task_id``, when given, is the idempotency key the reply came with; it must be
        the reply's. Raises :class:`TransportError` for a malformed reply or key,
        :class:`WrongSiteError`, :class:`UnknownTaskError`, :class:`ReplyConflictError`,
        :class:`TaskExpiredError`.
        """
        reply = Reply.from_wire(reply_wire)
        if task_id is not None and reply.task_id != task_id:
            raise TransportError("idempotency key does not match field 'task_id'")
        header_bytes, _ = read_wire_prefix(reply_wire, "Reply")
        start = WIRE_PREFIX_BYTES + header_bytes
        payload_digest = hashlib.sha256(memoryview(reply_wire)[start:]).hexdigest()
        identity = reply_identity(reply_wire[WIRE_PREFIX_BYTES:start], payload_digest)
        return self._accept(site, reply, ReplyRow(reply.task_id, site, reply_wire, None, identity))

    def put_reply_blob(self, site: str, ref: BlobRef) -> bool:
        """Accept a reply whose payload ``site`` uploaded as blob ``ref.blob`` (see
        :meth:`put_reply`); ``ref.header`` holds the rest of the reply.

        The blob is never opened here: the header is validated on its own, the task
        checked (it exists, is addressed to ``site`` and takes this reply), and the row
        keeps the blob's digest; the payload is read when the hub opens the reply. So a
        reply to an unknown task or another site's costs no blob read at all.
        """
        header = ref.header.encode("utf-8")
        reply = Reply.from_parts(header, b"")
        if reply.task_id != ref.task_id:
            raise TransportError("blob reference: field 'task_id' does not match the reply")
        self._check_task(site, reply)
        if self.store.blob_size(ref.blob, site) != ref.size:
            raise UnknownBlobError(f"site '{site}' has no committed blob of that digest and size")
        row = ReplyRow(reply.task_id, site, header, ref.blob, reply_identity(header, ref.blob))
        return self._accept(site, reply, row, keep=False)

    def add_blob(self, digest: str, owner: str, size: int) -> None:
        """Record that ``owner`` uploaded (or may read) blob ``digest``."""
        self.store.add_blob(digest, owner, size)

    def blob_size(self, digest: str, owner: str) -> int | None:
        """The size of blob ``digest`` if ``owner`` may read it, else None."""
        return self.store.blob_size(digest, owner)

    # --- notification ---------------------------------------------------------------------

    def subscribe(self, listener: Callable[[], None]) -> Callable[[], None]:
        """Call ``listener`` (from any thread) after each change; returns the unsubscribe."""
        self._listeners.append(listener)

        def unsubscribe() -> None:
            if listener in self._listeners:
                self._listeners.remove(listener)

        return unsubscribe

    def close(self) -> None:
        self._notify()
        self.store.close()

    def _check_task(self, site: str, reply: Reply) -> None:
        """Refuse a reply from another site than it names, or to a task not ``site``'s."""
        if reply.site != site:
            raise WrongSiteError(f"a reply from site '{site}' names site '{reply.site}'")
        owner = self.store.task_site(reply.task_id)
        if owner is None:
            raise UnknownTaskError(f"no task '{reply.task_id}' was posted")
        if owner != site:
            raise WrongSiteError(f"task '{reply.task_id}' is not addressed to site '{site}'")

    def _accept(self, site: str, reply: Reply, row: ReplyRow, *, keep: bool = True) -> bool:
        """Store ``row`` (``keep``: hand ``reply`` itself to a waiting :meth:`wait_replies`;
        a reply without its payload is not kept, and is opened from its row instead)."""
        self._check_task(site, reply)
        outcome = self.store.insert_reply(row, time.time())
        if outcome == "different":
            raise ReplyConflictError(f"task '{reply.task_id}' already has a different reply")
        if outcome == "expired":
            raise TaskExpiredError(f"task '{reply.task_id}' has expired; the hub moved on")
        with self._changed:
            if keep and outcome == "stored" and reply.task_id in self._awaited:
                self._parsed[reply.task_id] = reply
        self._notify()
        return outcome == "stored"

    def _open_reply(self, row: ReplyRow) -> Reply:
        assert row.wire is not None  # the whole frame, or the header of a blob's payload
        if row.blob is None:
            return Reply.from_wire(row.wire)
        return Reply.from_parts(row.wire, self.blobs.read(row.blob))

    def _notify(self) -> None:
        with self._changed:
            self._generation += 1
            self._changed.notify_all()
        for listener in list(self._listeners):
            listener()

    def _wait_until(self, done: Callable[[], bool], timeout_s: float) -> None:
        deadline = time.monotonic() + max(0.0, timeout_s)
        while True:
            with self._changed:
                generation = self._generation
            if done():
                return
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            with self._changed:
                if self._generation == generation:
                    self._changed.wait(min(remaining, self.poll_interval_s))

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

import functools
import hashlib
import threading
import time
from collections.abc import Callable, Collection, Sequence
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


_REPLIES = "replies"  # the channel of replies (what the hub waits on)
Listener = Callable[[frozenset[str] | None], None]


def _channel(site: str) -> str:
    """The channel of new tasks for ``site`` (apart from :data:`_REPLIES`)."""
    return "tasks:" + site


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
        self._generations: dict[str, int] = {}  # per channel (see _channel): changes seen
        self._epoch = 0  # bumped on close: wakes every waiter
        self._awaited: set[str] = set()  # task ids a wait_replies call is waiting for
        self._parsed: dict[str, Reply] = {}  # their replies, as parsed when accepted
        self._listeners: list[Listener] = []
        self._payload_lock = threading.Lock()
        self._last_payload: tuple[bytes, str] | None = None  # the last blob payload posted

    # --- hub side -------------------------------------------------------------------------

    def post(self, task: Task) -> bool:
        """Queue ``task`` for its site; False when a task with that id is already queued."""
        return self.post_many([task])[0]

    def post_many(self, tasks: Sequence[Task]) -> list[bool]:
        """Queue ``tasks`` (a round's) in one transaction: all of them or, on an error,
        none; per task, False when a task with its id was already queued.

        A large payload is written once as a blob named by its digest; tasks posted with
        the same payload (the same bytes object, as ``Hub.broadcast`` makes) share it
        without hashing it again. Only the sites given a new task are woken.
        """
        known = self.store.known_tasks([t.task_id for t in tasks])
        rows: dict[str, TaskRow] = {}
        for task in tasks:
            if task.task_id not in known and task.task_id not in rows:
                rows[task.task_id] = self._row(task)
        stored = self.store.insert_tasks(list(rows.values()), time.time())
        added = dict(zip(rows, stored, strict=True))
        self._notify({rows[t].site for t, new in added.items() if new})
        return [added.pop(t.task_id, False) for t in tasks]

    def _row(self, task: Task) -> TaskRow:
        """``task`` as it is stored (its payload written as a blob when it is large)."""
        header = task.wire_header()
        blob: str | None = None
        frame_size = WIRE_PREFIX_BYTES + len(header) + len(task.payload)
        if frame_size <= self.inline_limit:
            wire, size = task.to_wire(), frame_size
        else:
            wire = header
            blob, size = self._store_payload(task.payload)
        return TaskRow(
            task.task_id, task.plan_id, task.round, task.site, task.kind, wire, blob, size
        )

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
            self._wait_until(functools.partial(self._all_answered, wanted), timeout_s, _REPLIES)
            return self.replies(wanted)
        finally:
            with self._changed:
                self._awaited.difference_update(wanted)
                for task_id in wanted:
                    self._parsed.pop(task_id, None)

    def _all_answered(self, task_ids: list[str]) -> bool:
        return len(self.store.answered(task_ids)) == len(task_ids)

    def expire(self, task_ids: Sequence[str]) -> None:
        """Withdraw unanswered tasks: no longer offered, late replies refused (no site is
        woken: an expiry gives none a task to lease)."""
        self.store.expire(list(task_ids), time.time())

    def task_site(self, task_id: str) -> str | None:
        """The site task ``task_id`` is addressed to (None for an unknown task)."""
        return self.store.task_site(task_id)

    def pending(self, site: str) -> list[str]:
        """Ids of ``site``'s tasks that have neither a reply nor expired, oldest first."""
        return self.store.pending(site)

    # --- site side (through the HTTP app) -------------------------------------------------

    def changes(self, site: str) -> object:
        """A mark of the posts for ``site`` made in this process: it differs after any
        later one (compare it, take it before looking for a task)."""
        with self._changed:
            return self._seen(_channel(site))

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

        self._wait_until(ready, wait_s, _channel(site))
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

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Call ``listener`` (from any thread) with the sites given new tasks, after each
        post that gave some a task (None, on close: every site); returns the unsubscribe.

        Replies and expiries call no listener: they give no site a task to lease.
        """
        self._listeners.append(listener)

        def unsubscribe() -> None:
            if listener in self._listeners:
                self._listeners.remove(listener)

        return unsubscribe

    def close(self) -> None:
        self._notify(None)
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
        if outcome == "stored":
            self._bump([_REPLIES])
        return outcome == "stored"

    def _open_reply(self, row: ReplyRow) -> Reply:
        assert row.wire is not None  # the whole frame, or the header of a blob's payload
        if row.blob is None:
            return Reply.from_wire(row.wire)
        return Reply.from_parts(row.wire, self.blobs.read(row.blob))

    def _notify(self, sites: Collection[str] | None) -> None:
        """Wake the waiters for ``sites``' tasks (None: every waiter), here and through
        the listeners; no call at all when ``sites`` is empty."""
        if sites is not None and not sites:
            return
        if sites is None:
            with self._changed:
                self._epoch += 1
                self._changed.notify_all()
        else:
            self._bump([_channel(site) for site in sites])
        chosen = None if sites is None else frozenset(sites)
        for listener in list(self._listeners):
            listener(chosen)

    def _bump(self, channels: Sequence[str]) -> None:
        with self._changed:
            for channel in channels:
                self._generations[channel] = self._generations.get(channel, 0) + 1
            self._changed.notify_all()

    def _seen(self, channel: str) -> tuple[int, int]:
        return self._epoch, self._generations.get(channel, 0)

    def _changed_since(self, channel: str, seen: tuple[int, int]) -> bool:
        return self._seen(channel) != seen

    def _wait_until(self, done: Callable[[], bool], timeout_s: float, channel: str) -> None:
        """Until ``done()`` or ``timeout_s``: ``done`` is asked again when ``channel``
        changes in this process, and every ``poll_interval_s`` (changes by another)."""
        deadline = time.monotonic() + max(0.0, timeout_s)
        while True:
            with self._changed:
                seen = self._seen(channel)
            if done():
                return
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            with self._changed:
                changed = functools.partial(self._changed_since, channel, seen)
                self._changed.wait_for(changed, min(remaining, self.poll_interval_s))

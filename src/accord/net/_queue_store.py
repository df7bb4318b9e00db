"""The task queue's storage seam: the :class:`QueueStore` protocol, its rows, and SQLite.

A :class:`~accord.net._task_queue.TaskQueue` keeps its tasks, leases, replies and blob
records in a :class:`QueueStore`, whose every method is one transaction; the store holds
no blob bytes (those live in the queue's blob folder). :class:`SQLiteQueueStore` is the
default and :class:`~accord.net._pg_queue.PostgresQueueStore` the PostgreSQL one; both
keep the semantics described in :mod:`accord.net._task_queue`.

The SQLite store lives in one file (WAL journal, ``synchronous=FULL``, one transaction per
change), so the hub process may be killed at any instant and reopened: a posted task, a
lease and an accepted reply are either on disk or were never acknowledged. A crash of the
machine itself may lose the latest leases (committed without an fsync): their tasks are
offered again, as after a lease timeout. Reads run on connections of their own.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import astuple, dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

from accord.core import ConfigError, sha256_hex

__all__ = [
    "InsertOutcome",
    "QueueStore",
    "ReplyRow",
    "SQLiteQueueStore",
    "TaskRow",
    "reply_identity",
]

InsertOutcome = Literal["stored", "same", "different", "expired"]


@dataclass(frozen=True)
class TaskRow:
    """A stored task: its whole wire frame in ``wire`` (``blob`` None), or its JSON header
    in ``wire`` and its payload as blob ``blob`` of ``size`` bytes."""

    task_id: str
    plan_id: str
    round: int
    site: str
    kind: str
    wire: bytes | None
    blob: str | None
    size: int

    def columns(self) -> tuple[object, ...]:
        """The row's values in column order (task_id, plan_id, round, site, kind, wire,
        blob, size), as a store inserts them."""
        return astuple(self)


@dataclass(frozen=True)
class ReplyRow:
    """A stored reply, laid out as :class:`TaskRow`; ``digest`` is its identity (see
    :func:`reply_identity`): two replies are the same iff their digests are equal."""

    task_id: str
    site: str
    wire: bytes | None
    blob: str | None
    digest: str


class QueueStore(Protocol):
    """The queue's persistence: every method is one transaction."""

    def insert_tasks(self, rows: Sequence[TaskRow], now: float) -> list[bool]:
        """Insert ``rows`` (a task id already stored is left as it is), and for each row
        with a blob let its site read that blob, all in one transaction; per row, whether
        it was new."""
        ...

    def has_task(self, task_id: str) -> bool: ...

    def known_tasks(self, task_ids: Sequence[str]) -> set[str]:
        """Those of ``task_ids`` that were posted."""
        ...

    def task_site(self, task_id: str) -> str | None: ...

    def lease_next(self, site: str, now: float, lease_timeout_s: float) -> TaskRow | None: ...

    def insert_reply(self, row: ReplyRow, now: float) -> InsertOutcome: ...

    def answered(self, task_ids: Sequence[str]) -> set[str]: ...

    def reply_rows(self, task_ids: Sequence[str]) -> list[ReplyRow]: ...

    def expire(self, task_ids: Sequence[str], now: float) -> None: ...

    def pending(self, site: str) -> list[str]: ...

    def add_blob(self, digest: str, owner: str, size: int) -> None: ...

    def blob_size(self, digest: str, owner: str) -> int | None: ...

    def blobs_in_use(self) -> set[str]: ...

    def close(self) -> None: ...


_SCHEMA = """
CREATE TABLE IF NOT EXISTS tasks (
    task_id TEXT PRIMARY KEY, plan_id TEXT NOT NULL, round INTEGER NOT NULL,
    site TEXT NOT NULL, kind TEXT NOT NULL, wire BLOB, blob TEXT, size INTEGER NOT NULL,
    posted_at REAL NOT NULL, leased_at REAL, lease_count INTEGER NOT NULL DEFAULT 0,
    expired_at REAL
);
CREATE INDEX IF NOT EXISTS tasks_by_site ON tasks (site, posted_at);
CREATE TABLE IF NOT EXISTS replies (
    task_id TEXT PRIMARY KEY, site TEXT NOT NULL, wire BLOB, blob TEXT,
    digest TEXT NOT NULL, received_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS blobs (
    digest TEXT NOT NULL, owner TEXT NOT NULL, size INTEGER NOT NULL,
    PRIMARY KEY (digest, owner)
);
"""
_FORMAT_VERSION = 2  # 2: binary wire frames; a large row holds the header, its blob the payload
_UNANSWERED = (
    "expired_at IS NULL AND NOT EXISTS (SELECT 1 FROM replies r WHERE r.task_id = t.task_id)"
)
_LEASABLE = f"site = ? AND {_UNANSWERED} AND (leased_at IS NULL OR leased_at <= ?)"


def blobs_in_use_sql(tasks: str, replies: str, is_open: str) -> str:
    """The digests a round still open needs: a round (plan and round number) is open while
    one of its tasks (alias ``o``) is ``is_open``; its tasks' payloads and its replies'
    payloads are in use until then (the round loop reads the replies when it closes)."""
    open_round = (
        f"EXISTS (SELECT 1 FROM {tasks} o WHERE o.plan_id = t.plan_id AND o.round = t.round "
        f"AND {is_open})"
    )
    return (
        f"SELECT t.blob FROM {tasks} t WHERE t.blob IS NOT NULL AND {open_round} "
        f"UNION SELECT r.blob FROM {replies} r JOIN {tasks} t ON t.task_id = r.task_id "
        f"WHERE r.blob IS NOT NULL AND {open_round}"
    )


class SQLiteQueueStore:
    """:class:`QueueStore` in one SQLite file; safe to share between threads and processes."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._db = sqlite3.connect(
            path, timeout=30.0, isolation_level=None, check_same_thread=False
        )
        self._lock = threading.Lock()  # the writing connection's
        self._idle: list[sqlite3.Connection] = []  # reading connections not in use
        self._readers: list[sqlite3.Connection] = []  # every reading connection
        self._readers_lock = threading.Lock()
        self._closed = False
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        try:
            self._create()
        except BaseException:
            self._db.close()
            raise

    def _create(self) -> None:
        with self._write() as db:
            version = int(db.execute("PRAGMA user_version").fetchone()[0])
            made = db.execute("SELECT COUNT(*) FROM sqlite_master WHERE name = 'tasks'")
            if made.fetchone()[0] and version != _FORMAT_VERSION:
                raise ConfigError(
                    f"{self.path}: a queue written by an older accord (format {version or 1}, "
                    f"expected {_FORMAT_VERSION}); finish its rounds with that version or "
                    "start the hub on a new queue file"
                )
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    db.execute(statement)
            db.execute(f"PRAGMA user_version = {_FORMAT_VERSION}")

    @contextmanager
    def _write(self, *, durable: bool = True) -> Iterator[sqlite3.Connection]:
        """One write transaction; ``durable=False`` commits without an fsync (the change
        may be lost by a crash of the machine, never half-applied; a later durable commit
        makes it durable too, since the WAL is written in order)."""
        with self._lock:
            if not durable:
                self._db.execute("PRAGMA synchronous=NORMAL")
            try:
                self._db.execute("BEGIN IMMEDIATE")
                try:
                    yield self._db
                except BaseException:
                    self._db.execute("ROLLBACK")
                    raise
                self._db.execute("COMMIT")
            finally:
                if not durable:
                    self._db.execute("PRAGMA synchronous=FULL")

    def _query(self, sql: str, args: Sequence[object] = ()) -> list[Any]:
        """A read on a reading connection of its own: in WAL mode it waits neither for
        the writing connection's lock nor for its commits' fsyncs. Reading connections
        are reused, so there are as many as reads ever ran at once."""
        with self._readers_lock:
            if self._closed:
                raise sqlite3.ProgrammingError("Cannot operate on a closed database.")
            reader = self._idle.pop() if self._idle else None
        if reader is None:
            reader = sqlite3.connect(
                self.path, timeout=30.0, isolation_level=None, check_same_thread=False
            )
            with self._readers_lock:
                self._readers.append(reader)
        try:
            return reader.execute(sql, tuple(args)).fetchall()
        finally:
            with self._readers_lock:
                if self._closed:  # closed meanwhile: this reader is closed here, not there
                    self._readers.remove(reader)
                    reader.close()
                else:
                    self._idle.append(reader)

    def insert_tasks(self, rows: Sequence[TaskRow], now: float) -> list[bool]:
        added: list[bool] = []
        with self._write() as db:
            for row in rows:
                cursor = db.execute(
                    "INSERT OR IGNORE INTO tasks (task_id, plan_id, round, site, kind, wire, "
                    "blob, size, posted_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (*row.columns(), now),
                )
                added.append(cursor.rowcount == 1)
            db.executemany(
                "INSERT OR IGNORE INTO blobs (digest, owner, size) VALUES (?, ?, ?)",
                [(row.blob, row.site, row.size) for row in rows if row.blob is not None],
            )
        return added

    def has_task(self, task_id: str) -> bool:
        return bool(self._query("SELECT 1 FROM tasks WHERE task_id = ?", (task_id,)))

    def known_tasks(self, task_ids: Sequence[str]) -> set[str]:
        return self._ids_in("tasks", task_ids)

    def task_site(self, task_id: str) -> str | None:
        rows = self._query("SELECT site FROM tasks WHERE task_id = ?", (task_id,))
        return str(rows[0][0]) if rows else None

    def lease_next(self, site: str, now: float, lease_timeout_s: float) -> TaskRow | None:
        args = (site, now - lease_timeout_s)
        if not self._query(f"SELECT 1 FROM tasks t WHERE {_LEASABLE} LIMIT 1", args):
            return None  # the common answer to a long poll: no write lock taken for it
        # Not fsynced: a lease lost by a crash of the machine only offers the task again at
        # once, which a site answers as it answers a lease that timed out (idempotent reply,
        # or its spooled one). Looked again under the lock: another caller may have won.
        with self._write(durable=False) as db:
            found = db.execute(
                "SELECT task_id, plan_id, round, site, kind, wire, blob, size FROM tasks t "
                f"WHERE {_LEASABLE} ORDER BY posted_at, rowid LIMIT 1",
                args,
            ).fetchone()
            if found is None:
                return None
            db.execute(
                "UPDATE tasks SET leased_at = ?, lease_count = lease_count + 1 WHERE task_id = ?",
                (now, found[0]),
            )
            return TaskRow(*found)

    def insert_reply(self, row: ReplyRow, now: float) -> InsertOutcome:
        with self._write() as db:
            stored = db.execute(
                "SELECT digest FROM replies WHERE task_id = ?", (row.task_id,)
            ).fetchone()
            if stored is not None:
                return "same" if stored[0] == row.digest else "different"
            expired = db.execute(
                "SELECT expired_at FROM tasks WHERE task_id = ?", (row.task_id,)
            ).fetchone()
            if expired is not None and expired[0] is not None:
                return "expired"
            db.execute(
                "INSERT INTO replies (task_id, site, wire, blob, digest, received_at) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (row.task_id, row.site, row.wire, row.blob, row.digest, now),
            )
            return "stored"

    def answered(self, task_ids: Sequence[str]) -> set[str]:
        return self._ids_in("replies", task_ids)

    def _ids_in(self, table: str, task_ids: Sequence[str]) -> set[str]:
        out: set[str] = set()
        for batch in _batches(task_ids):
            marks = ",".join("?" * len(batch))
            rows = self._query(f"SELECT task_id FROM {table} WHERE task_id IN ({marks})", batch)
            out.update(str(r[0]) for r in rows)
        return out

    def reply_rows(self, task_ids: Sequence[str]) -> list[ReplyRow]:
        out: list[ReplyRow] = []
        for batch in _batches(task_ids):
            marks = ",".join("?" * len(batch))
            rows = self._query(
                f"SELECT task_id, site, wire, blob, digest FROM replies WHERE task_id IN ({marks})",
                batch,
            )
            out.extend(ReplyRow(*r) for r in rows)
        return out

    def expire(self, task_ids: Sequence[str], now: float) -> None:
        with self._write() as db:
            db.executemany(
                "UPDATE tasks SET expired_at = ? WHERE task_id = ? AND expired_at IS NULL",
                [(now, task_id) for task_id in task_ids],
            )

    def pending(self, site: str) -> list[str]:
        rows = self._query(
            f"SELECT task_id FROM tasks t WHERE site = ? AND {_UNANSWERED} "
            "ORDER BY posted_at, rowid",
            (site,),
        )
        return [str(r[0]) for r in rows]

    def add_blob(self, digest: str, owner: str, size: int) -> None:
        with self._write() as db:
            db.execute(
                "INSERT OR IGNORE INTO blobs (digest, owner, size) VALUES (?, ?, ?)",
                (digest, owner, size),
            )

    def blob_size(self, digest: str, owner: str) -> int | None:
        rows = self._query("SELECT size FROM blobs WHERE digest = ? AND owner = ?", (digest, owner))
        return int(rows[0][0]) if rows else None

    def blobs_in_use(self) -> set[str]:
        """Digests of the payloads of rounds still open (see :func:`blobs_in_use_sql`)."""
        is_open = (
            "o.expired_at IS NULL AND NOT EXISTS (SELECT 1 FROM replies a "
            "WHERE a.task_id = o.task_id)"
        )
        return {str(r[0]) for r in self._query(blobs_in_use_sql("tasks", "replies", is_open))}

    def close(self) -> None:
        with self._lock:
            self._db.close()
        with self._readers_lock:
            # A reader in use by another thread is closed when that read returns: closing a
            # connection under a running statement is undefined behaviour in SQLite (it
            # crashed a hub stopped by SIGTERM mid-poll).
            self._closed = True
            for reader in self._idle:
                self._readers.remove(reader)
                reader.close()
            self._idle.clear()


def reply_identity(header: bytes, payload_digest: str) -> str:
    """What makes two replies the same: SHA-256 over the reply's JSON header bytes and the
    SHA-256 hex of its payload, whether the payload came inline or as a blob."""
    return sha256_hex(header + b"\n" + payload_digest.encode("ascii"))


def _batches(items: Sequence[str], size: int = 500) -> Iterator[list[str]]:
    for start in range(0, len(items), size):
        yield list(items[start : start + size])

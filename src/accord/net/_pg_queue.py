"""The hub's task queue in PostgreSQL (psycopg 3), for hubs that keep their state in a database.

:class:`PostgresQueueStore` is a :class:`~accord.net._queue_store.QueueStore` that behaves
as :class:`~accord.net._queue_store.SQLiteQueueStore` does (posting is idempotent, a site
leases its oldest open task, a lease not answered within the timeout is offered again,
a second different reply is refused, an expired task refuses replies), in one schema
(``accord_queue`` by default) of the database a libpq DSN or URL names. Give it to
:class:`~accord.net._task_queue.TaskQueue`, whose ``path`` then only places the blob folder
(``<path>.blobs``)::

    store = open_queue_store("postgresql://hub@db.example.org/accord")
    queue = TaskQueue(Path("/var/lib/accord/hub/queue"), store=store)

Several hub processes may share the schema. Every method is one READ COMMITTED
transaction with ``synchronous_commit`` on (a change that returned survives a crash of
the server), but a lease, which a crash may lose (its task is then offered again, as
after a lease timeout). A lease is one ``UPDATE`` of the row picked by ``SELECT ... FOR UPDATE SKIP
LOCKED``, and a reply or an expiry locks the task's row first, so a task is leased by
one caller at a time and a reply cannot slip past an expiry. Whether a task is open is
kept on its own row (``answered_at``, ``expired_at``), so that PostgreSQL's re-check of
a row changed by a concurrent transaction sees it. Rows hold a small envelope whole or
its JSON header; large payloads are blob *files* that stay on the hub's disk (one per
distinct payload, shared by the tasks that carry it): hubs on different machines must
share the blob folder.

One instance holds one connection, shared by threads under a lock; a connection that
broke is replaced at the next call. Database failures raise :class:`QueueStoreError`
(not a :class:`~accord.core._errors.TransportError`, so the HTTP app answers 500 and a
site retries). Messages name the database (host, port and name, never the password) and
the schema, and never a row's contents.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import psycopg
from psycopg.rows import TupleRow

from accord.core import AccordError, ConfigError
from accord.ledger import (
    SCHEMA_NAME,
    is_postgres,
    pg_connect,
    pg_describe,
    pg_reason,
)
from accord.net._queue_store import (
    InsertOutcome,
    QueueStore,
    ReplyRow,
    SQLiteQueueStore,
    TaskRow,
    blobs_in_use_sql,
)

__all__ = ["PostgresQueueStore", "QueueStoreError", "open_queue_store"]

FORMAT = "accord-queue"
SCHEMA_VERSION = 2  # 2: binary wire frames; a large row holds the header, its blob the payload

_CREATE_LOCK = 0x61637101  # advisory lock class "acq" + 1; the second key is hashtext(schema)
_TASK_COLUMNS = "task_id, plan_id, round, site, kind, wire, blob, size"
_LEASED_COLUMNS = ", ".join(f"t.{column}" for column in _TASK_COLUMNS.split(", "))
_OPEN = "expired_at IS NULL AND answered_at IS NULL"

Connection = psycopg.Connection[TupleRow]


class QueueStoreError(AccordError):
    """The queue's database cannot be reached, or refused a change."""


class PostgresQueueStore:
    """:class:`~accord.net._queue_store.QueueStore` in a PostgreSQL schema.

    ``dsn`` is anything ``psycopg.connect`` takes (``postgresql://user@host:5432/db`` or
    ``host=... dbname=...``). ``schema`` is a plain lower-case SQL name; the schema and
    its tables are made when it holds no table yet. Safe to share between threads.
    """

    def __init__(self, dsn: str, *, schema: str = "accord_queue") -> None:
        self.name = pg_describe(dsn, schema, ConfigError)
        if not isinstance(schema, str) or not SCHEMA_NAME.fullmatch(schema):
            raise ConfigError(
                f"{self.name}: schema must be a lower-case SQL name ([a-z_][a-z0-9_]*, "
                "at most 63 characters)"
            )
        self.schema = schema
        self._dsn = dsn
        self._lock = threading.Lock()
        self._closed = False
        self._db = pg_connect(dsn, self.name, QueueStoreError, "queue")
        try:
            _init_schema(self._db, self.name, schema)
        except BaseException:
            self._db.close()
            raise

    @contextmanager
    def _session(self, what: str) -> Iterator[Connection]:
        """The connection, to this thread alone; database errors become QueueStoreError."""
        with self._lock:
            if self._closed:
                raise QueueStoreError(f"{self.name}: {what} failed (the store is closed)")
            if self._db.closed or self._db.broken:
                self._db = pg_connect(self._dsn, self.name, QueueStoreError, "queue")
            try:
                yield self._db
            except (psycopg.Error, UnicodeError) as exc:
                raise QueueStoreError(f"{self.name}: {what} failed ({pg_reason(exc)})") from None

    def insert_tasks(self, rows: Sequence[TaskRow], now: float) -> list[bool]:
        s = self.schema
        added: list[bool] = []
        with self._session(f"posting {len(rows)} tasks") as db, db.transaction():
            for row in rows:
                cursor = db.execute(
                    f"INSERT INTO {s}.tasks ({_TASK_COLUMNS}, posted_at, answered_at) "
                    "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, "
                    f"(SELECT received_at FROM {s}.replies WHERE task_id = %s)) "
                    "ON CONFLICT (task_id) DO NOTHING",
                    (*row.columns(), now, row.task_id),
                )
                added.append(cursor.rowcount == 1)
            grants = [(row.blob, row.site, row.size) for row in rows if row.blob is not None]
            if grants:
                db.cursor().executemany(
                    f"INSERT INTO {s}.blobs (digest, owner, size) VALUES (%s, %s, %s) "
                    "ON CONFLICT (digest, owner) DO NOTHING",
                    grants,
                )
        return added

    def has_task(self, task_id: str) -> bool:
        return self.task_site(task_id) is not None

    def task_site(self, task_id: str) -> str | None:
        with self._session(f"reading task '{task_id}'") as db:
            found = db.execute(
                f"SELECT site FROM {self.schema}.tasks WHERE task_id = %s", (task_id,)
            ).fetchone()
            return None if found is None else str(found[0])

    def lease_next(self, site: str, now: float, lease_timeout_s: float) -> TaskRow | None:
        """Lease ``site``'s oldest open task not leased in the last ``lease_timeout_s``.

        Rows being leased, answered or expired by another transaction are skipped, and
        PostgreSQL re-checks the conditions on a row changed since the statement began.
        """
        s = self.schema
        with self._session(f"leasing a task for site '{site}'") as db, db.transaction():
            # Not waited to be durable: a lease lost by a crash of the server only offers
            # the task again at once, as after a lease timeout (the reply is idempotent).
            db.execute("SET LOCAL synchronous_commit TO off")
            found = db.execute(
                f"WITH next AS (SELECT task_id FROM {s}.tasks WHERE site = %s AND {_OPEN} "
                "AND (leased_at IS NULL OR leased_at <= %s) ORDER BY posted_at, seq LIMIT 1 "
                f"FOR UPDATE SKIP LOCKED) UPDATE {s}.tasks t "
                "SET leased_at = %s, lease_count = t.lease_count + 1 FROM next "
                f"WHERE t.task_id = next.task_id RETURNING {_LEASED_COLUMNS}",
                (site, now - lease_timeout_s, now),
            ).fetchone()
            return None if found is None else TaskRow(*found)

    def insert_reply(self, row: ReplyRow, now: float) -> InsertOutcome:
        s = self.schema
        with self._session(f"storing the reply to task '{row.task_id}'") as db, db.transaction():
            task = db.execute(  # serialises with leases, replies and expiry of this task
                f"SELECT expired_at FROM {s}.tasks WHERE task_id = %s FOR UPDATE", (row.task_id,)
            ).fetchone()
            stored = db.execute(
                f"SELECT digest FROM {s}.replies WHERE task_id = %s", (row.task_id,)
            ).fetchone()
            if stored is None and task is not None and task[0] is not None:
                return "expired"
            if stored is None:
                stored = db.execute(
                    f"INSERT INTO {s}.replies (task_id, site, wire, blob, digest, received_at) "
                    "VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (task_id) DO NOTHING "
                    "RETURNING NULL",
                    (row.task_id, row.site, row.wire, row.blob, row.digest, now),
                ).fetchone()
                if stored is not None:
                    db.execute(
                        f"UPDATE {s}.tasks SET answered_at = %s WHERE task_id = %s",
                        (now, row.task_id),
                    )
                    return "stored"
                # A reply to a task never posted, stored meanwhile by another caller.
                stored = db.execute(
                    f"SELECT digest FROM {s}.replies WHERE task_id = %s", (row.task_id,)
                ).fetchone()
                assert stored is not None  # the insert conflicted with a committed row
            return "same" if stored[0] == row.digest else "different"

    def answered(self, task_ids: Sequence[str]) -> set[str]:
        return self._ids_in("replies", task_ids)

    def known_tasks(self, task_ids: Sequence[str]) -> set[str]:
        return self._ids_in("tasks", task_ids)

    def _ids_in(self, table: str, task_ids: Sequence[str]) -> set[str]:
        if not task_ids:
            return set()
        with self._session(f"reading {table} of {len(task_ids)} tasks") as db:
            rows = db.execute(
                f"SELECT task_id FROM {self.schema}.{table} WHERE task_id = ANY(%s)",
                (list(task_ids),),
            ).fetchall()
            return {str(r[0]) for r in rows}

    def reply_rows(self, task_ids: Sequence[str]) -> list[ReplyRow]:
        if not task_ids:
            return []
        with self._session(f"reading replies to {len(task_ids)} tasks") as db:
            rows = db.execute(
                "SELECT task_id, site, wire, blob, digest "
                f"FROM {self.schema}.replies WHERE task_id = ANY(%s)",
                (list(task_ids),),
            ).fetchall()
            return [ReplyRow(*r) for r in rows]

    def expire(self, task_ids: Sequence[str], now: float) -> None:
        if not task_ids:
            return
        s = self.schema
        with self._session(f"expiring {len(task_ids)} tasks") as db, db.transaction():
            # Rows locked in one order, so two hubs expiring overlapping sets cannot deadlock.
            db.execute(
                f"SELECT 1 FROM {s}.tasks WHERE task_id = ANY(%s) ORDER BY task_id FOR UPDATE",
                (list(task_ids),),
            )
            db.execute(
                f"UPDATE {s}.tasks SET expired_at = %s "
                "WHERE task_id = ANY(%s) AND expired_at IS NULL",
                (now, list(task_ids)),
            )

    def pending(self, site: str) -> list[str]:
        with self._session(f"listing the open tasks of site '{site}'") as db:
            rows = db.execute(
                f"SELECT task_id FROM {self.schema}.tasks WHERE site = %s AND {_OPEN} "
                "ORDER BY posted_at, seq",
                (site,),
            ).fetchall()
            return [str(r[0]) for r in rows]

    def add_blob(self, digest: str, owner: str, size: int) -> None:
        with self._session(f"recording a blob of site '{owner}'") as db:
            db.execute(
                f"INSERT INTO {self.schema}.blobs (digest, owner, size) VALUES (%s, %s, %s) "
                "ON CONFLICT (digest, owner) DO NOTHING",
                (digest, owner, size),
            )

    def blob_size(self, digest: str, owner: str) -> int | None:
        with self._session(f"reading a blob record of site '{owner}'") as db:
            found = db.execute(
                f"SELECT size FROM {self.schema}.blobs WHERE digest = %s AND owner = %s",
                (digest, owner),
            ).fetchone()
            return None if found is None else int(found[0])

    def blobs_in_use(self) -> set[str]:
        s = self.schema
        is_open = "o.expired_at IS NULL AND o.answered_at IS NULL"
        with self._session("listing the blobs of open rounds") as db:
            rows = db.execute(blobs_in_use_sql(f"{s}.tasks", f"{s}.replies", is_open)).fetchall()
            return {str(r[0]) for r in rows}

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._db.close()


def open_queue_store(url_or_path: str | Path, *, schema: str = "accord_queue") -> QueueStore:
    """``postgresql://...`` (or ``postgres://...``): a PostgresQueueStore; else SQLite.

    ``schema`` applies to PostgreSQL only. Pass the store to ``TaskQueue(path,
    store=...)``; ``path`` still names the blob folder (``<path>.blobs``).
    """
    if is_postgres(url_or_path):
        return PostgresQueueStore(url_or_path, schema=schema)
    return SQLiteQueueStore(Path(url_or_path))


def _init_schema(db: Connection, name: str, schema: str) -> None:
    """Create the tables in a schema without any, or check that the schema is a queue store."""
    try:
        with db.transaction():
            db.execute("SELECT pg_advisory_xact_lock(%s, hashtext(%s))", (_CREATE_LOCK, schema))
            row = db.execute(
                "SELECT COUNT(*) FROM pg_catalog.pg_tables WHERE schemaname = %s", (schema,)
            ).fetchone()
            if row is not None and row[0] == 0:
                for statement in _schema_sql(schema):
                    db.execute(statement)
                db.execute(
                    f"INSERT INTO {schema}.meta (key, value) VALUES (%s, %s), (%s, %s)",
                    ("format", FORMAT, "schema_version", str(SCHEMA_VERSION)),
                )
            row = db.execute("SELECT to_regclass(%s)", (f"{schema}.meta",)).fetchone()
            meta: dict[str, str] = {}
            if row is not None and row[0] is not None:
                rows = db.execute(f"SELECT key, value FROM {schema}.meta").fetchall()
                meta = {str(key): str(value) for key, value in rows}
    except psycopg.Error as exc:
        raise QueueStoreError(f"{name}: cannot open the queue store ({pg_reason(exc)})") from None
    if meta.get("format") != FORMAT:
        raise QueueStoreError(
            f"{name}: not an accord queue store (the schema holds other tables); "
            "expected an empty schema or one made by PostgresQueueStore"
        )
    if meta.get("schema_version") != str(SCHEMA_VERSION):
        raise QueueStoreError(
            f"{name}: queue schema version {meta.get('schema_version')!r}; "
            f"expected {SCHEMA_VERSION}"
        )


def _schema_sql(s: str) -> list[str]:
    """The SQLite store's tables in PostgreSQL, plus ``seq`` (posting order, as SQLite's
    rowid) and ``answered_at`` (so the open-task test reads the task's own row).

    ``s`` has been checked against ``SCHEMA_NAME``, so it is safe to splice in.
    """
    return [
        f"CREATE SCHEMA IF NOT EXISTS {s}",
        f"CREATE TABLE {s}.meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
        f"""CREATE TABLE {s}.tasks (
            task_id TEXT PRIMARY KEY,
            seq BIGINT GENERATED ALWAYS AS IDENTITY UNIQUE,
            plan_id TEXT NOT NULL, round BIGINT NOT NULL, site TEXT NOT NULL,
            kind TEXT NOT NULL, wire BYTEA, blob TEXT, size BIGINT NOT NULL,
            posted_at DOUBLE PRECISION NOT NULL, leased_at DOUBLE PRECISION,
            lease_count INTEGER NOT NULL DEFAULT 0, expired_at DOUBLE PRECISION,
            answered_at DOUBLE PRECISION
        )""",
        f"CREATE INDEX tasks_open ON {s}.tasks (site, posted_at, seq) WHERE {_OPEN}",
        f"""CREATE TABLE {s}.replies (
            task_id TEXT PRIMARY KEY, site TEXT NOT NULL, wire BYTEA, blob TEXT,
            digest TEXT NOT NULL, received_at DOUBLE PRECISION NOT NULL
        )""",
        f"""CREATE TABLE {s}.blobs (
            digest TEXT NOT NULL, owner TEXT NOT NULL, size BIGINT NOT NULL,
            PRIMARY KEY (digest, owner)
        )""",
    ]

"""A ledger store in PostgreSQL (psycopg 3), for a hub that keeps its state in a database.

:class:`PostgresLedgerStore` behaves as :class:`~accord.ledger._store.SQLiteLedgerStore`
does (same tables, receipts, roots, proofs, checkpoint equivocation check and errors;
the tree and those checks are ``_tree.TreeStore``'s, the base class of both), in one
schema (``accord`` by default) of the database that a libpq DSN or URL names.

An append is one READ COMMITTED transaction that first takes a transaction-level
advisory lock for the schema (readers are not blocked, and the role needs no more than
SELECT and INSERT), then re-reads the log size: hub processes sharing the database
serialise their appends, so two of them can never both write seq N (the primary key
and the next-seq trigger refuse it anyway, whoever the writer is). A session whose
server default is ``synchronous_commit = off`` turns it on: an append that returned
survives a crash of the server, as with SQLite's ``synchronous=FULL``.

Triggers refuse UPDATE, DELETE and TRUNCATE on every log table, an INSERT into
``entries`` that is not at the next seq and one that would overwrite a tree node. The
role the hub connects as should not own the schema, so that it cannot drop them either.

Errors name the database (host, port and name, never the password) with the schema, and
the seq or size; never an entry's contents. Reads page through the primary key, so they
stream with flat memory and hold no transaction open between pages.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import psycopg
from psycopg.rows import TupleRow

from accord.core import LedgerError
from accord.ledger._pg import SCHEMA_NAME, pg_connect, pg_describe, pg_reason
from accord.ledger._schema import META_ROWS, check_meta
from accord.ledger._stored import StoredCheckpoint, StoredCosignature, StoredEntry
from accord.ledger._tree import Growth, TreeStore

__all__ = ["PostgresLedgerStore"]

_FETCH = 1024
_ENTRY_COLUMNS = "seq, entry, signature, org, kind, plan"
_LOG_TABLES = ("entries", "nodes", "checkpoints", "cosignatures")
# Advisory lock classes (first key; the second is hashtext(schema)): "acc" + 1, 2, 3.
_APPEND_LOCK, _CHECKPOINT_LOCK, _CREATE_LOCK = 0x61636301, 0x61636302, 0x61636303


class PostgresLedgerStore(TreeStore):
    """A :class:`~accord.ledger._store.LedgerStore` in a PostgreSQL schema; a context manager.

    ``dsn`` is anything ``psycopg.connect`` takes (``postgresql://user@host:5432/db`` or
    ``host=... dbname=...``). ``schema`` is a plain lower-case SQL name; with ``create``
    the schema and its tables are made if the schema holds no table yet. One instance
    holds one connection and is meant to be used from one thread. The tree (size, head,
    roots, proofs) is :class:`~accord.ledger._tree.TreeStore`'s.
    """

    def __init__(self, dsn: str, *, schema: str = "accord", create: bool = True) -> None:
        self.name = pg_describe(dsn, schema, LedgerError)
        if not isinstance(schema, str) or not SCHEMA_NAME.fullmatch(schema):
            raise LedgerError(
                f"{self.name}: schema must be a lower-case SQL name ([a-z_][a-z0-9_]*, "
                "at most 63 characters)"
            )
        super().__init__(self.name)
        self.schema = schema
        self._db = pg_connect(dsn, self.name, LedgerError, "ledger")
        self._open(lambda: _init_schema(self._db, self.name, schema, create))

    def close(self) -> None:
        self._db.close()

    # --- entries -----------------------------------------------------------------------------

    def _write(self, entries: Sequence[StoredEntry]) -> Growth:
        s = self.schema
        try:
            with self._db.transaction():
                self._lock(_APPEND_LOCK)
                growth = self._grow(entries)
                with self._db.cursor() as cursor:
                    cursor.executemany(
                        f"INSERT INTO {s}.entries (seq, leaf, entry, signature, org, kind, plan) "
                        "VALUES (%s, %s, %s, %s, %s, %s, %s)",
                        growth.entries,
                    )
                    if growth.nodes:
                        cursor.executemany(
                            f"INSERT INTO {s}.nodes (level, idx, hash) VALUES (%s, %s, %s)",
                            growth.nodes,
                        )
        except (psycopg.Error, UnicodeError) as exc:
            raise LedgerError(
                f"{self.name}: append of {len(entries)} entries failed ({pg_reason(exc)})"
            ) from None
        return growth

    def read(self, start: int = 0, stop: int | None = None) -> Iterator[StoredEntry]:
        """Stream entries with ``start <= seq < stop`` in order (memory flat in log size)."""
        return self._stream("TRUE", (), start, stop)

    def _find(self, filters: dict[str, str]) -> Iterator[StoredEntry]:
        where = " AND ".join(f"{name} = %s" for name in filters) or "TRUE"
        return self._stream(where, tuple(filters.values()), 0, None)

    def _stream(
        self, where: str, params: tuple[object, ...], start: int, stop: int | None
    ) -> Iterator[StoredEntry]:
        """Page through ``entries`` by seq: the log as it was when iteration began."""
        if stop is None:
            stop = self.size()
        query = (
            f"SELECT {_ENTRY_COLUMNS} FROM {self.schema}.entries "
            f"WHERE {where} AND seq >= %s AND seq < %s ORDER BY seq LIMIT {_FETCH}"
        )
        while start < stop:
            rows = self._db.execute(query, (*params, start, stop)).fetchall()
            for row in rows:
                yield StoredEntry(*row)
            if len(rows) < _FETCH:
                return
            start = rows[-1][0] + 1

    # --- what the tree reads -----------------------------------------------------------------

    def _last_seq(self) -> int | None:
        row = self._db.execute(f"SELECT MAX(seq) FROM {self.schema}.entries").fetchone()
        return None if row is None or row[0] is None else int(row[0])

    def _read_node(self, level: int, index: int) -> bytes | None:
        s = self.schema
        if level == 0:
            row = self._db.execute(
                f"SELECT leaf FROM {s}.entries WHERE seq = %s", (index,)
            ).fetchone()
        else:
            row = self._db.execute(
                f"SELECT hash FROM {s}.nodes WHERE level = %s AND idx = %s", (level, index)
            ).fetchone()
        node: bytes | None = None if row is None else row[0]
        return node

    def _checkpoint_roots(self, size: int) -> set[bytes]:
        rows = self._db.execute(
            f"SELECT root FROM {self.schema}.checkpoints WHERE size = %s", (size,)
        ).fetchall()
        return {r for (r,) in rows}

    def _lock(self, kind: int) -> None:
        """Serialise with every store on this schema until the transaction ends."""
        self._db.execute("SELECT pg_advisory_xact_lock(%s, hashtext(%s))", (kind, self.schema))

    # --- checkpoints and co-signatures -------------------------------------------------------

    def put_checkpoint(self, cp: StoredCheckpoint) -> None:
        """Store a checkpoint; a no-op if identical; EquivocationError if its root conflicts."""
        s = self.schema
        try:
            with self._db.transaction():
                self._lock(_CHECKPOINT_LOCK)
                self._check_root(cp.size, cp.root)
                self._db.execute(
                    f"INSERT INTO {s}.checkpoints (size, root, body, signature, org, key_id) "
                    "VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
                    (cp.size, cp.root, cp.body, cp.signature, cp.org, cp.key_id),
                )
        except (psycopg.Error, UnicodeError) as exc:
            raise LedgerError(
                f"{self.name}: storing the checkpoint for size {cp.size} failed ({pg_reason(exc)})"
            ) from None

    def checkpoints(self) -> list[StoredCheckpoint]:
        """All checkpoints, by size (then by body bytes)."""
        rows = self._db.execute(
            "SELECT size, root, body, signature, org, key_id "
            f"FROM {self.schema}.checkpoints ORDER BY size, body"
        ).fetchall()
        return [StoredCheckpoint(*row) for row in rows]

    def put_cosignature(self, cs: StoredCosignature) -> None:
        """Store a co-signature; a no-op if identical."""
        try:
            self._db.execute(
                f"INSERT INTO {self.schema}.cosignatures (size, root, org, key_id, signature) "
                "VALUES (%s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
                (cs.size, cs.root, cs.org, cs.key_id, cs.signature),
            )
        except (psycopg.Error, UnicodeError) as exc:
            raise LedgerError(
                f"{self.name}: storing a co-signature for size {cs.size} failed ({pg_reason(exc)})"
            ) from None

    def cosignatures(self, size: int | None = None) -> list[StoredCosignature]:
        """Co-signatures (for one checkpoint size if given), by size, org and key id."""
        where, params = ("WHERE size = %s", (size,)) if size is not None else ("", ())
        rows = self._db.execute(
            f"SELECT size, root, org, key_id, signature FROM {self.schema}.cosignatures "
            f"{where} ORDER BY size, org, key_id",
            params,
        ).fetchall()
        return [StoredCosignature(*row) for row in rows]


def _init_schema(db: psycopg.Connection[TupleRow], name: str, schema: str, create: bool) -> None:
    """Create the tables in a schema without any, or check that the schema is an accord ledger."""
    try:
        with db.transaction():
            db.execute("SELECT pg_advisory_xact_lock(%s, hashtext(%s))", (_CREATE_LOCK, schema))
            row = db.execute(
                "SELECT COUNT(*) FROM pg_catalog.pg_tables WHERE schemaname = %s", (schema,)
            ).fetchone()
            if row is not None and row[0] == 0:
                if not create:
                    raise LedgerError(f"{name}: no such ledger store")
                for statement in _schema_sql(schema):
                    db.execute(statement)
                with db.cursor() as cursor:
                    cursor.executemany(
                        f"INSERT INTO {schema}.meta (key, value) VALUES (%s, %s)",
                        META_ROWS,
                    )
            row = db.execute("SELECT to_regclass(%s)", (f"{schema}.meta",)).fetchone()
            if row is None or row[0] is None:
                raise LedgerError(f"{name}: not an accord ledger store (no meta table)")
            rows = db.execute(f"SELECT key, value FROM {schema}.meta").fetchall()
            meta: dict[str, str] = {str(key): str(value) for key, value in rows}
    except psycopg.Error as exc:
        raise LedgerError(f"{name}: cannot open ledger store ({pg_reason(exc)})") from None
    check_meta(name, meta)


def _schema_sql(s: str) -> list[str]:
    """Schema version 1 in PostgreSQL: the SQLite tables of ``_schema.py`` and their guards.

    Text columns use the "C" collation so that ordering is by bytes, as in SQLite.
    ``s`` has been checked against ``SCHEMA_NAME``, so it is safe to splice in.
    """
    text = 'TEXT COLLATE "C" NOT NULL'
    tables = [
        f"CREATE SCHEMA IF NOT EXISTS {s}",
        f"CREATE TABLE {s}.meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
        f"""CREATE TABLE {s}.entries (
            seq BIGINT PRIMARY KEY CHECK (seq >= 0),
            leaf BYTEA NOT NULL CHECK (octet_length(leaf) = 32),
            entry BYTEA NOT NULL,
            signature BYTEA NOT NULL,
            org {text},
            kind {text},
            plan TEXT COLLATE "C"
        )""",
        f"CREATE INDEX entries_kind ON {s}.entries (kind, seq)",
        f"CREATE INDEX entries_org ON {s}.entries (org, seq)",
        f"CREATE INDEX entries_plan ON {s}.entries (plan, seq)",
        f"""CREATE TABLE {s}.nodes (
            level INTEGER NOT NULL CHECK (level > 0),
            idx BIGINT NOT NULL CHECK (idx >= 0),
            hash BYTEA NOT NULL CHECK (octet_length(hash) = 32),
            PRIMARY KEY (level, idx)
        )""",
        f"""CREATE TABLE {s}.checkpoints (
            size BIGINT NOT NULL, root BYTEA NOT NULL, body BYTEA NOT NULL,
            signature BYTEA NOT NULL, org {text}, key_id {text},
            PRIMARY KEY (size, root, body, signature, org, key_id)
        )""",
        f"""CREATE TABLE {s}.cosignatures (
            size BIGINT NOT NULL, root BYTEA NOT NULL, org {text}, key_id {text},
            signature BYTEA NOT NULL,
            PRIMARY KEY (size, root, org, key_id, signature)
        )""",
    ]
    functions = [
        f"""CREATE FUNCTION {s}.refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION 'accord ledger: % is append-only', TG_TABLE_NAME;
        END $$""",
        f"""CREATE FUNCTION {s}.check_next_seq() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF NEW.seq IS DISTINCT FROM (SELECT COALESCE(MAX(seq) + 1, 0) FROM {s}.entries) THEN
                RAISE EXCEPTION 'accord ledger: entries must be appended at the next seq';
            END IF;
            RETURN NEW;
        END $$""",
        f"""CREATE FUNCTION {s}.check_new_node() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF EXISTS (SELECT 1 FROM {s}.nodes WHERE level = NEW.level AND idx = NEW.idx) THEN
                RAISE EXCEPTION 'accord ledger: tree nodes are never overwritten';
            END IF;
            RETURN NEW;
        END $$""",
    ]
    guards = [
        f"CREATE TRIGGER entries_next_seq BEFORE INSERT ON {s}.entries "
        f"FOR EACH ROW EXECUTE FUNCTION {s}.check_next_seq()",
        f"CREATE TRIGGER nodes_no_overwrite BEFORE INSERT ON {s}.nodes "
        f"FOR EACH ROW EXECUTE FUNCTION {s}.check_new_node()",
    ]
    # Statement-level, so an UPDATE or DELETE is refused even when it matches no row, and
    # INSERT ... ON CONFLICT DO UPDATE (which fires the UPDATE statement triggers) as well.
    append_only = [
        f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE OR TRUNCATE "
        f"ON {s}.{table} FOR EACH STATEMENT EXECUTE FUNCTION {s}.refuse_change()"
        for table in _LOG_TABLES
    ]
    return tables + functions + guards + append_only

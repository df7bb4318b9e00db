"""The ledger stores as their tests see them: generated entries, and one backend per store.

A :class:`Backend` opens stores at one place (a SQLite file, a PostgreSQL schema) and plays
the part of someone with direct access to the database (:meth:`Backend.raw`): another
writer, or someone trying to rewrite history. ``test_store_contract.py`` runs every test
against each backend; what only one store does is tested in ``test_store.py`` (SQLite)
and ``test_pg_store.py`` (PostgreSQL).
"""

from __future__ import annotations

import re
import sqlite3
from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType

import psycopg
from psycopg.rows import TupleRow

from accord.core import LedgerError
from accord.ledger import SQLiteLedgerStore, StoredCheckpoint, StoredEntry, pg_describe
from accord.ledger._pg_store import PostgresLedgerStore

ORGS = ("hub", "site-a", "site-b")
KINDS = ("genesis", "plan", "update", "metric")

Store = SQLiteLedgerStore | PostgresLedgerStore


def make_entry(seq: int, size: int = 120) -> StoredEntry:
    body = f'{{"seq":{seq},"pad":"'.encode() + b"x" * size + b'"}'
    plan = None if seq % 3 == 0 else f"plan-{seq % 2}"
    sig = (seq.to_bytes(8, "big", signed=True) * 8)[:64]
    return StoredEntry(seq, body, sig, ORGS[seq % 3], KINDS[seq % 4], plan)


def make_entries(start: int, count: int, size: int = 120) -> list[StoredEntry]:
    return [make_entry(seq, size) for seq in range(start, start + count)]


def make_checkpoint(size: int, root: bytes, body: bytes = b"cp") -> StoredCheckpoint:
    return StoredCheckpoint(size, root, body + str(size).encode(), b"s" * 64, "hub", "k1")


class Backend(ABC):
    """One place for a ledger store, and raw access to the database behind it."""

    name: str
    raw_error: type[Exception]  # what the database raises when a guard refuses a statement
    rewrites: tuple[str, ...]  # raw statements that would rewrite history (all refused)

    @property
    @abstractmethod
    def where(self) -> str:
        """A regex for how the store's error messages name it."""

    @abstractmethod
    def open(self, create: bool = True) -> Store: ...

    @abstractmethod
    def raw(self, sql: str) -> None:
        """Run one statement directly on the database, committed on success."""

    @abstractmethod
    def count(self, table: str) -> int: ...

    @abstractmethod
    def exists(self) -> bool:
        """Whether anything (file, schema) is at this place yet."""

    @abstractmethod
    def make_foreign(self) -> None:
        """Put a database (file, schema) with a table but no ledger at this place."""

    @abstractmethod
    def unguard_deletes(self, table: str) -> None:
        """Lift the trigger that refuses DELETE on ``table`` (as its owner could)."""

    @abstractmethod
    @contextmanager
    def failing_at_seq(self, store: Store, seq: int) -> Iterator[None]:
        """Inside the block, inserting entry ``seq`` fails in the database ('disk on fire')."""


class SQLiteBackend(Backend):
    name = "sqlite"
    raw_error = sqlite3.DatabaseError
    rewrites = (
        "UPDATE entries SET entry = x'00' WHERE seq = 1",
        "DELETE FROM entries WHERE seq = 3",
        "UPDATE nodes SET hash = x'00' WHERE level = 1",
        "DELETE FROM nodes",
        "UPDATE checkpoints SET root = x'00'",
        "DELETE FROM checkpoints",
        "UPDATE cosignatures SET signature = x'00'",
        "DELETE FROM cosignatures",
        "INSERT OR REPLACE INTO entries VALUES (1, x'00', x'00', x'00', 'o', 'k', NULL)",
        "INSERT INTO entries VALUES (9, x'00', x'00', x'00', 'o', 'k', NULL)",
        "INSERT OR REPLACE INTO nodes VALUES (1, 0, x'00')",
    )

    def __init__(self, path: Path) -> None:
        self.path = path

    @property
    def where(self) -> str:
        return re.escape(str(self.path))

    def open(self, create: bool = True) -> SQLiteLedgerStore:
        return SQLiteLedgerStore(self.path, create=create)

    def raw(self, sql: str) -> None:
        db = sqlite3.connect(self.path)
        try:
            db.execute(sql)
            db.commit()
        finally:
            db.close()

    def count(self, table: str) -> int:
        db = sqlite3.connect(self.path)
        try:
            return int(db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])
        finally:
            db.close()

    def exists(self) -> bool:
        return self.path.exists()

    def make_foreign(self) -> None:
        sqlite3.connect(self.path).execute("CREATE TABLE t (x)").connection.close()

    def unguard_deletes(self, table: str) -> None:
        self.raw(f"DROP TRIGGER {table}_no_delete")

    @contextmanager
    def failing_at_seq(self, store: Store, seq: int) -> Iterator[None]:
        assert isinstance(store, SQLiteLedgerStore)
        # A TEMP trigger belongs to one connection: the store's own.
        store._db.execute(
            f"CREATE TEMP TRIGGER boom BEFORE INSERT ON main.entries WHEN NEW.seq = {seq} "
            "BEGIN SELECT RAISE(ABORT, 'disk on fire'); END"
        )
        try:
            yield
        finally:
            store._db.execute("DROP TRIGGER boom")


HASH_LITERAL = "decode(repeat('00', 32), 'hex')"


class PostgresBackend(Backend):
    """A fresh schema (tests/pg.py); ``db`` is a second, plain connection with it on its path."""

    name = "postgres"
    raw_error = psycopg.errors.RaiseException
    rewrites = (
        "UPDATE entries SET entry = '\\x00' WHERE seq = 1",
        "DELETE FROM entries WHERE seq = 3",
        "DELETE FROM entries WHERE seq = 999",  # even when no row matches
        "TRUNCATE entries",
        "UPDATE nodes SET hash = " + HASH_LITERAL + " WHERE level = 1",
        "DELETE FROM nodes",
        "TRUNCATE nodes",
        "UPDATE checkpoints SET root = '\\x00'",
        "DELETE FROM checkpoints",
        "UPDATE cosignatures SET signature = '\\x00'",
        "TRUNCATE cosignatures",
        "INSERT INTO entries VALUES (1, " + HASH_LITERAL + ", '\\x00', '\\x00', 'o', 'k', NULL) "
        "ON CONFLICT (seq) DO UPDATE SET entry = EXCLUDED.entry",
        "INSERT INTO entries VALUES (9, " + HASH_LITERAL + ", '\\x00', '\\x00', 'o', 'k', NULL)",
        "INSERT INTO nodes VALUES (1, 0, " + HASH_LITERAL + ") ON CONFLICT DO NOTHING",
    )

    def __init__(self, dsn: str, schema: str) -> None:
        self.dsn, self.schema = dsn, schema
        self.db: psycopg.Connection[TupleRow] = psycopg.connect(dsn, autocommit=True)
        self.db.execute(f"SET search_path TO {schema}")

    def __enter__(self) -> PostgresBackend:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.db.close()

    @property
    def where(self) -> str:
        return re.escape(pg_describe(self.dsn, self.schema, LedgerError))

    def open(self, create: bool = True) -> PostgresLedgerStore:
        return PostgresLedgerStore(self.dsn, schema=self.schema, create=create)

    def raw(self, sql: str) -> None:
        self.db.execute(sql)

    def count(self, table: str) -> int:
        row = self.db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()
        assert row is not None
        return int(row[0])

    def exists(self) -> bool:
        row = self.db.execute(
            "SELECT COUNT(*) FROM pg_namespace WHERE nspname = %s", (self.schema,)
        ).fetchone()
        return row != (0,)

    def make_foreign(self) -> None:
        self.raw(f"CREATE SCHEMA {self.schema}")
        self.raw(f"CREATE TABLE {self.schema}.t (x int)")

    def unguard_deletes(self, table: str) -> None:
        self.raw(f"ALTER TABLE {table} DISABLE TRIGGER {table}_append_only")

    @contextmanager
    def failing_at_seq(self, store: Store, seq: int) -> Iterator[None]:
        self.raw(
            "CREATE FUNCTION boom() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
            f"IF NEW.seq = {seq} THEN RAISE EXCEPTION 'disk on fire'; END IF; RETURN NEW; END $$"
        )
        self.raw(
            "CREATE TRIGGER boom BEFORE INSERT ON entries FOR EACH ROW EXECUTE FUNCTION boom()"
        )
        try:
            yield
        finally:
            self.raw("DROP TRIGGER boom ON entries")

"""Durable, append-only storage of ledger entries, their Merkle tree and checkpoints.

:class:`LedgerStore` is the seam (``pg_store.PostgresLedgerStore`` implements it too);
:class:`SQLiteLedgerStore` keeps a log in one SQLite file in WAL mode with
``synchronous=FULL``, so an append that returned survives a crash or power loss and
an append that did not return left no trace (one transaction per batch).

The store treats entries and signatures as opaque bytes. Every completed perfect
subtree of the RFC 6962 tree is stored (``nodes``, level >= 1; leaves live in
``entries.leaf``), so roots and proofs cost O(log n) indexed look-ups and the
in-memory frontier is rebuilt on open from O(log n) nodes; that tree logic lives in
``_tree.TreeStore``, which both stores derive from. Triggers refuse any
UPDATE, DELETE or overwriting INSERT on the log tables, whoever the writer is.
Error messages name the file and the seq or size; never an entry's contents.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Protocol

from accord.core import LedgerError, MissingFileError
from accord.ledger._schema import META_ROWS, SCHEMA, check_meta
from accord.ledger._stored import Receipt, StoredCheckpoint, StoredCosignature, StoredEntry
from accord.ledger._tree import Growth, TreeStore

__all__ = [
    "LedgerStore",
    "Receipt",
    "SQLiteLedgerStore",
    "StoredCheckpoint",
    "StoredCosignature",
    "StoredEntry",
]

_FETCH = 1024
_ENTRY_COLUMNS = "seq, entry, signature, org, kind, plan"


class LedgerStore(Protocol):
    """What the ledger needs from storage; all sizes count entries, seqs are 0-based."""

    def append(self, entries: Sequence[StoredEntry]) -> list[Receipt]: ...
    def read(self, start: int = 0, stop: int | None = None) -> Iterator[StoredEntry]: ...
    def size(self) -> int: ...
    def head(self) -> bytes: ...
    def root(self, size: int | None = None) -> bytes: ...
    def inclusion_proof(self, seq: int, size: int | None = None) -> list[bytes]: ...
    def consistency_proof(self, old_size: int, new_size: int | None = None) -> list[bytes]: ...
    def put_checkpoint(self, cp: StoredCheckpoint) -> None: ...
    def checkpoints(self) -> list[StoredCheckpoint]: ...
    def put_cosignature(self, cs: StoredCosignature) -> None: ...
    def cosignatures(self, size: int | None = None) -> list[StoredCosignature]: ...
    def find(
        self, kind: str | None = None, org: str | None = None, plan: str | None = None
    ) -> Iterator[StoredEntry]: ...
    def close(self) -> None: ...


class SQLiteLedgerStore(TreeStore):
    """A :class:`LedgerStore` in one SQLite file; a context manager.

    One instance is meant to be used from one thread. Several processes may open the
    same file: writes serialise on SQLite's lock and each call re-reads the log size.
    The tree (size, head, roots, proofs) is :class:`~accord.ledger._tree.TreeStore`'s.
    """

    def __init__(self, path: Path, create: bool = True) -> None:
        self.path = Path(path)
        super().__init__(str(self.path))
        self._db = _connect(self.path, create)
        self._open(lambda: _init_schema(self._db, self.path, create))

    def close(self) -> None:
        self._db.close()

    # --- entries -----------------------------------------------------------------------------

    def _write(self, entries: Sequence[StoredEntry]) -> Growth:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            growth = self._grow(entries)
            self._db.executemany(
                "INSERT INTO entries(seq, leaf, entry, signature, org, kind, plan) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                growth.entries,
            )
            self._db.executemany(
                "INSERT INTO nodes(level, idx, hash) VALUES (?, ?, ?)", growth.nodes
            )
            self._db.execute("COMMIT")
        except sqlite3.Error as exc:
            self._db.execute("ROLLBACK")
            raise LedgerError(
                f"{self.path}: append of {len(entries)} entries failed ({exc})"
            ) from exc
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        return growth

    def read(self, start: int = 0, stop: int | None = None) -> Iterator[StoredEntry]:
        """Stream entries with ``start <= seq < stop`` in order (memory flat in log size)."""
        if stop is None:
            stop = 1 << 62
        return self._stream(
            f"SELECT {_ENTRY_COLUMNS} FROM entries WHERE seq >= ? AND seq < ? ORDER BY seq",
            (start, stop),
        )

    def _find(self, filters: dict[str, str]) -> Iterator[StoredEntry]:
        where = " AND ".join(f"{name} = ?" for name in filters) or "1"
        return self._stream(
            f"SELECT {_ENTRY_COLUMNS} FROM entries WHERE {where} ORDER BY seq",
            tuple(filters.values()),
        )

    def _stream(self, sql: str, params: tuple[object, ...]) -> Iterator[StoredEntry]:
        cursor = self._db.execute(sql, params)
        try:
            while rows := cursor.fetchmany(_FETCH):
                for row in rows:
                    yield StoredEntry(*row)
        finally:
            cursor.close()

    # --- what the tree reads -----------------------------------------------------------------

    def _last_seq(self) -> int | None:
        (last,) = self._db.execute("SELECT MAX(seq) FROM entries").fetchone()
        return None if last is None else int(last)

    def _read_node(self, level: int, index: int) -> bytes | None:
        if level == 0:
            cursor = self._db.execute("SELECT leaf FROM entries WHERE seq = ?", (index,))
        else:
            cursor = self._db.execute(
                "SELECT hash FROM nodes WHERE level = ? AND idx = ?", (level, index)
            )
        row = cursor.fetchone()
        node: bytes | None = None if row is None else row[0]
        return node

    def _checkpoint_roots(self, size: int) -> set[bytes]:
        rows = self._db.execute("SELECT root FROM checkpoints WHERE size = ?", (size,))
        return {r for (r,) in rows}

    # --- checkpoints and co-signatures -------------------------------------------------------

    def put_checkpoint(self, cp: StoredCheckpoint) -> None:
        """Store a checkpoint; a no-op if identical; EquivocationError if its root conflicts."""
        self._db.execute("BEGIN IMMEDIATE")
        try:
            self._check_root(cp.size, cp.root)
            self._db.execute(
                "INSERT OR IGNORE INTO checkpoints(size, root, body, signature, org, key_id) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (cp.size, cp.root, cp.body, cp.signature, cp.org, cp.key_id),
            )
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            raise

    def checkpoints(self) -> list[StoredCheckpoint]:
        """All checkpoints, by size (then by body bytes)."""
        rows = self._db.execute(
            "SELECT size, root, body, signature, org, key_id FROM checkpoints ORDER BY size, body"
        )
        return [StoredCheckpoint(*row) for row in rows]

    def put_cosignature(self, cs: StoredCosignature) -> None:
        """Store a co-signature; a no-op if identical."""
        self._db.execute(
            "INSERT OR IGNORE INTO cosignatures(size, root, org, key_id, signature) "
            "VALUES (?, ?, ?, ?, ?)",
            (cs.size, cs.root, cs.org, cs.key_id, cs.signature),
        )

    def cosignatures(self, size: int | None = None) -> list[StoredCosignature]:
        """Co-signatures (for one checkpoint size if given), by size, org and key id."""
        sql = "SELECT size, root, org, key_id, signature FROM cosignatures"
        params: tuple[int, ...] = ()
        if size is not None:
            sql, params = sql + " WHERE size = ?", (size,)
        rows = self._db.execute(sql + " ORDER BY size, org, key_id", params)
        return [StoredCosignature(*row) for row in rows]


def _connect(path: Path, create: bool) -> sqlite3.Connection:
    """Open ``path`` in autocommit mode (explicit BEGIN) without creating it unless asked."""
    if not create and not path.is_file():
        raise MissingFileError(f"{path.absolute()}: no such ledger store")
    mode = "rwc" if create else "rw"
    try:
        db = sqlite3.connect(
            f"{path.resolve().as_uri()}?mode={mode}", uri=True, isolation_level=None
        )
    except sqlite3.Error as exc:
        raise LedgerError(f"{path}: cannot open ledger store ({exc})") from None
    return db


def _init_schema(db: sqlite3.Connection, path: Path, create: bool) -> None:
    """Create the schema in an empty file, or check that the file is an accord ledger."""
    try:
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=FULL")
        db.execute("BEGIN IMMEDIATE")
        try:
            tables = db.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()[0]
            if tables == 0 and create:
                for statement in SCHEMA:
                    db.execute(statement)
                db.executemany(
                    "INSERT INTO meta(key, value) VALUES (?, ?)",
                    META_ROWS,
                )
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        meta = dict(db.execute("SELECT key, value FROM meta").fetchall())
    except sqlite3.DatabaseError:
        raise LedgerError(f"{path}: not an accord ledger store (not SQLite or no meta)") from None
    check_meta(path, meta)

"""Durable, append-only storage of ledger entries, their Merkle tree and checkpoints.

:class:`LedgerStore` is the seam (``pg_store.PostgresLedgerStore`` implements it too);
:class:`SQLiteLedgerStore` keeps a log in one SQLite file in WAL mode with
``synchronous=FULL``, so an append that returned survives a crash or power loss and
an append that did not return left no trace (one transaction per batch).

The store treats entries and signatures as opaque bytes. Every completed perfect
subtree of the RFC 6962 tree is stored (``nodes``, level >= 1; leaves live in
``entries.leaf``), so roots and proofs cost O(log n) indexed look-ups and the
in-memory frontier is rebuilt on open from O(log n) nodes. Triggers refuse any
UPDATE, DELETE or overwriting INSERT on the log tables, whoever the writer is.
Error messages name the file and the seq or size; never an entry's contents.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Protocol

from accord.core.errors import EquivocationError, LedgerError
from accord.ledger import merkle
from accord.ledger._schema import FORMAT, SCHEMA, SCHEMA_VERSION

__all__ = [
    "LedgerStore",
    "Receipt",
    "SQLiteLedgerStore",
    "StoredCheckpoint",
    "StoredCosignature",
    "StoredEntry",
]

ZERO_HASH = bytes(merkle.HASH_SIZE)
_FETCH = 1024
_ENTRY_COLUMNS = "seq, entry, signature, org, kind, plan"


@dataclass(frozen=True, slots=True)
class StoredEntry:
    """One log entry as stored: position, canonical bytes, signature, filter columns."""

    seq: int  # 0-based position in the log
    entry: bytes  # canonical entry bytes (opaque to the store)
    signature: bytes  # the author's Ed25519 signature (64 bytes, opaque)
    org: str
    kind: str
    plan: str | None

    @property
    def leaf(self) -> bytes:
        """RFC 6962 leaf hash over ``entry || signature``."""
        return merkle.leaf_hash(self.entry + self.signature)


@dataclass(frozen=True, slots=True)
class Receipt:
    """Where an appended entry landed: its leaf and the tree (size, root) right after it."""

    seq: int
    leaf: bytes
    size: int
    root: bytes


@dataclass(frozen=True, slots=True)
class StoredCheckpoint:
    """A hub-signed (size, root) with the exact signed ``body`` bytes."""

    size: int
    root: bytes
    body: bytes
    signature: bytes
    org: str
    key_id: str


@dataclass(frozen=True, slots=True)
class StoredCosignature:
    """A site's signature over the checkpoint (size, root)."""

    size: int
    root: bytes
    org: str
    key_id: str
    signature: bytes


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


class SQLiteLedgerStore:
    """A :class:`LedgerStore` in one SQLite file; a context manager.

    One instance is meant to be used from one thread. Several processes may open the
    same file: writes serialise on SQLite's lock and each call re-reads the log size.
    """

    def __init__(self, path: Path, create: bool = True) -> None:
        self.path = Path(path)
        self._db = _connect(self.path, create)
        try:
            _init_schema(self._db, self.path, create)
            self._compact = merkle.CompactRange()
            self._sync()
        except BaseException:
            self._db.close()
            raise

    def __enter__(self) -> SQLiteLedgerStore:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self._db.close()

    # --- entries -----------------------------------------------------------------------------

    def append(self, entries: Sequence[StoredEntry]) -> list[Receipt]:
        """Append ``entries`` (seqs ``size, size+1, ...``) in one durable transaction."""
        if not entries:
            return []
        self._db.execute("BEGIN IMMEDIATE")
        try:
            compact = self._sync().copy()
            receipts, leaves, nodes = grow_tree(self.path, compact, entries)
            self._db.executemany(
                "INSERT INTO entries(seq, leaf, entry, signature, org, kind, plan) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                [
                    (e.seq, leaf, e.entry, e.signature, e.org, e.kind, e.plan)
                    for e, leaf in zip(entries, leaves, strict=True)
                ],
            )
            self._db.executemany("INSERT INTO nodes(level, idx, hash) VALUES (?, ?, ?)", nodes)
            self._db.execute("COMMIT")
        except sqlite3.Error as exc:
            self._db.execute("ROLLBACK")
            raise LedgerError(
                f"{self.path}: append of {len(entries)} entries failed ({exc})"
            ) from exc
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._compact = compact
        return receipts

    def read(self, start: int = 0, stop: int | None = None) -> Iterator[StoredEntry]:
        """Stream entries with ``start <= seq < stop`` in order (memory flat in log size)."""
        if stop is None:
            stop = 1 << 62
        return self._stream(
            f"SELECT {_ENTRY_COLUMNS} FROM entries WHERE seq >= ? AND seq < ? ORDER BY seq",
            (start, stop),
        )

    def find(
        self, kind: str | None = None, org: str | None = None, plan: str | None = None
    ) -> Iterator[StoredEntry]:
        """Stream the entries matching every filter given, in log order."""
        filters = {"kind": kind, "org": org, "plan": plan}
        used = {name: value for name, value in filters.items() if value is not None}
        where = " AND ".join(f"{name} = ?" for name in used) or "1"
        return self._stream(
            f"SELECT {_ENTRY_COLUMNS} FROM entries WHERE {where} ORDER BY seq",
            tuple(used.values()),
        )

    def _stream(self, sql: str, params: tuple[object, ...]) -> Iterator[StoredEntry]:
        cursor = self._db.execute(sql, params)
        try:
            while rows := cursor.fetchmany(_FETCH):
                for row in rows:
                    yield StoredEntry(*row)
        finally:
            cursor.close()

    # --- tree --------------------------------------------------------------------------------

    def size(self) -> int:
        return self._sync().size

    def head(self) -> bytes:
        """Leaf hash of the last entry, or 32 zero bytes for an empty log."""
        size = self._sync().size
        return self._node(0, size - 1) if size else ZERO_HASH

    def root(self, size: int | None = None) -> bytes:
        if size is None:
            return self._sync().root()
        return merkle.root_of(self._check_size(size, "size"), self._node)

    def inclusion_proof(self, seq: int, size: int | None = None) -> list[bytes]:
        tree_size = self._check_size(self.size() if size is None else size, "size")
        if not 0 <= seq < tree_size:
            raise LedgerError(f"{self.path}: seq {seq} is not in a tree of size {tree_size}")
        return merkle.inclusion_proof(seq, tree_size, self._node)

    def consistency_proof(self, old_size: int, new_size: int | None = None) -> list[bytes]:
        new = self._check_size(self.size() if new_size is None else new_size, "new_size")
        old = self._check_size(old_size, "old_size")
        if old > new:
            raise LedgerError(f"{self.path}: old_size {old} is larger than new_size {new}")
        return merkle.consistency_proof(old, new, self._node)

    def _sync(self) -> merkle.CompactRange:
        """The frontier for the log as it is on disk (another process may have appended)."""
        (last,) = self._db.execute("SELECT MAX(seq) FROM entries").fetchone()
        size = 0 if last is None else int(last) + 1
        if size != self._compact.size:
            self._compact = merkle.CompactRange.from_nodes(size, self._node)
        return self._compact

    def _node(self, level: int, index: int) -> bytes:
        """Hash of the perfect subtree (level, index): leaves from entries, the rest from nodes."""
        if level == 0:
            cursor = self._db.execute("SELECT leaf FROM entries WHERE seq = ?", (index,))
        else:
            cursor = self._db.execute(
                "SELECT hash FROM nodes WHERE level = ? AND idx = ?", (level, index)
            )
        row = cursor.fetchone()
        if row is None:
            raise LedgerError(f"{self.path}: tree node (level {level}, index {index}) is missing")
        node: bytes = row[0]
        return node

    def _check_size(self, size: int, name: str) -> int:
        current = self.size()
        if not (isinstance(size, int) and 0 <= size <= current):
            raise LedgerError(f"{self.path}: {name} {size!r} is outside the log (0..{current})")
        return size

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

    def _check_root(self, size: int, root: bytes) -> None:
        """Refuse a second root for a size (from a checkpoint or from our own log)."""
        rows = self._db.execute("SELECT root FROM checkpoints WHERE size = ?", (size,))
        roots = {r for (r,) in rows}
        if size <= self._sync().size:
            roots.add(merkle.root_of(size, self._node))
        if roots - {root}:
            raise EquivocationError(
                f"{self.path}: a checkpoint for size {size} has a root ({root.hex()[:16]}) "
                "that differs from the one this store already holds for that size"
            )

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


def grow_tree(
    where: str | Path, compact: merkle.CompactRange, entries: Sequence[StoredEntry]
) -> tuple[list[Receipt], list[bytes], list[tuple[int, int, bytes]]]:
    """Check seqs and fields, extend ``compact``; the receipts, leaves and new inner nodes.

    Shared by the stores: ``where`` names the store in errors; inner nodes are
    ``(level, index, hash)`` with level >= 1 (leaves are stored with their entries).
    """
    receipts: list[Receipt] = []
    leaves: list[bytes] = []
    nodes: list[tuple[int, int, bytes]] = []
    for e in entries:
        _check_entry(where, e, compact.size)
        leaf = e.leaf
        nodes.extend(node for node in compact.append(leaf) if node[0] > 0)
        leaves.append(leaf)
        receipts.append(Receipt(e.seq, leaf, compact.size, compact.root()))
    return receipts, leaves, nodes


def _check_entry(where: str | Path, e: StoredEntry, expected: int) -> None:
    """Seq continuity and column types (never echoing contents)."""
    if e.seq != expected:
        raise LedgerError(f"{where}: append expected seq {expected}, got seq {e.seq}")
    if not (isinstance(e.entry, bytes) and isinstance(e.signature, bytes)):
        raise LedgerError(f"{where}: entry {expected}: entry and signature must be bytes")
    if not (isinstance(e.org, str) and isinstance(e.kind, str)):
        raise LedgerError(f"{where}: entry {expected}: org and kind must be str")
    if e.plan is not None and not isinstance(e.plan, str):
        raise LedgerError(f"{where}: entry {expected}: plan must be str or None")


def _connect(path: Path, create: bool) -> sqlite3.Connection:
    """Open ``path`` in autocommit mode (explicit BEGIN) without creating it unless asked."""
    if not create and not path.is_file():
        raise LedgerError(f"{path}: no such ledger store")
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
                    [("format", FORMAT), ("schema_version", str(SCHEMA_VERSION))],
                )
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        meta = dict(db.execute("SELECT key, value FROM meta").fetchall())
    except sqlite3.DatabaseError:
        raise LedgerError(f"{path}: not an accord ledger store (not SQLite or no meta)") from None
    if meta.get("format") != FORMAT:
        raise LedgerError(f"{path}: not an accord ledger store (meta format is missing)")
    if meta.get("schema_version") != str(SCHEMA_VERSION):
        raise LedgerError(
            f"{path}: ledger schema version {meta.get('schema_version')!r}; "
            f"expected {SCHEMA_VERSION}"
        )

"""Schema version 1 of a ledger store: the meta rows every store holds, and SQLite's tables.

:data:`META_ROWS` and :func:`check_meta` serve both stores (PostgreSQL's tables are in
``pg_store._schema_sql``); :data:`SCHEMA` is executed statement by statement on create.

Append-only is enforced in the database itself, whoever the writer is: UPDATE and
DELETE raise on every log table, an INSERT into ``entries`` must carry the next seq,
and an INSERT may not overwrite a node (so ``INSERT OR REPLACE`` cannot rewrite
history either). Checkpoints and co-signatures are keyed by all their columns, so a
``REPLACE`` there can only rewrite a row with itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from accord.core import LedgerError

FORMAT = "accord-ledger"
SCHEMA_VERSION = 1
META_ROWS = [("format", FORMAT), ("schema_version", str(SCHEMA_VERSION))]  # (key, value)

_TABLES = [
    "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    """CREATE TABLE entries (
        seq INTEGER PRIMARY KEY,
        leaf BLOB NOT NULL,
        entry BLOB NOT NULL,
        signature BLOB NOT NULL,
        org TEXT NOT NULL,
        kind TEXT NOT NULL,
        plan TEXT
    )""",
    "CREATE INDEX entries_kind ON entries (kind, seq)",
    "CREATE INDEX entries_org ON entries (org, seq)",
    "CREATE INDEX entries_plan ON entries (plan, seq)",
    """CREATE TABLE nodes (
        level INTEGER NOT NULL,
        idx INTEGER NOT NULL,
        hash BLOB NOT NULL,
        PRIMARY KEY (level, idx)
    ) WITHOUT ROWID""",
    """CREATE TABLE checkpoints (
        size INTEGER NOT NULL,
        root BLOB NOT NULL,
        body BLOB NOT NULL,
        signature BLOB NOT NULL,
        org TEXT NOT NULL,
        key_id TEXT NOT NULL,
        PRIMARY KEY (size, root, body, signature, org, key_id)
    ) WITHOUT ROWID""",
    """CREATE TABLE cosignatures (
        size INTEGER NOT NULL,
        root BLOB NOT NULL,
        org TEXT NOT NULL,
        key_id TEXT NOT NULL,
        signature BLOB NOT NULL,
        PRIMARY KEY (size, root, org, key_id, signature)
    ) WITHOUT ROWID""",
]

_GUARDS = [
    """CREATE TRIGGER entries_next_seq BEFORE INSERT ON entries
       WHEN NEW.seq IS NOT (SELECT COALESCE(MAX(seq) + 1, 0) FROM entries)
       BEGIN SELECT RAISE(ABORT, 'accord ledger: entries must be appended at the next seq'); END""",
    """CREATE TRIGGER nodes_no_overwrite BEFORE INSERT ON nodes
       WHEN EXISTS (SELECT 1 FROM nodes WHERE level = NEW.level AND idx = NEW.idx)
       BEGIN SELECT RAISE(ABORT, 'accord ledger: tree nodes are never overwritten'); END""",
]

_APPEND_ONLY = [
    f"""CREATE TRIGGER {table}_no_{verb.lower()} BEFORE {verb} ON {table}
        BEGIN SELECT RAISE(ABORT, 'accord ledger: {table} is append-only'); END"""
    for table in ("entries", "nodes", "checkpoints", "cosignatures")
    for verb in ("UPDATE", "DELETE")
]

SCHEMA: list[str] = _TABLES + _GUARDS + _APPEND_ONLY


def check_meta(where: str | Path, meta: Mapping[str, object]) -> None:
    """Refuse a store whose ``meta`` table (key: value) is not an accord ledger of this version."""
    if meta.get("format") != FORMAT:
        raise LedgerError(f"{where}: not an accord ledger store (meta format is missing)")
    if meta.get("schema_version") != str(SCHEMA_VERSION):
        raise LedgerError(
            f"{where}: ledger schema version {meta.get('schema_version')!r}; "
            f"expected {SCHEMA_VERSION}"
        )

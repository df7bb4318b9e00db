"""Open a ledger store by where it lives: a PostgreSQL URL or a SQLite file path."""

from __future__ import annotations

from pathlib import Path

from accord.ledger.store import LedgerStore, SQLiteLedgerStore

__all__ = ["open_store"]

POSTGRES_SCHEMES = ("postgresql://", "postgres://")


def open_store(
    url_or_path: str | Path, *, create: bool = True, schema: str = "accord"
) -> LedgerStore:
    """``postgresql://...`` (or ``postgres://...``): a PostgresLedgerStore; else SQLite.

    ``schema`` applies to PostgreSQL only. ``create=False`` refuses to make a new store.
    """
    if isinstance(url_or_path, str) and url_or_path.lower().startswith(POSTGRES_SCHEMES):
        # Imported here so that SQLite users never load libpq.
        from accord.ledger.pg_store import PostgresLedgerStore

        return PostgresLedgerStore(url_or_path, schema=schema, create=create)
    return SQLiteLedgerStore(Path(url_or_path), create=create)

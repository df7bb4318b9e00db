"""Open a ledger store by where it lives: a PostgreSQL URL or a SQLite file path."""

from __future__ import annotations

from pathlib import Path
from typing import TypeGuard

from accord.ledger._store import LedgerStore, SQLiteLedgerStore

__all__ = ["POSTGRES_SCHEMES", "is_postgres", "open_store"]

POSTGRES_SCHEMES = ("postgresql://", "postgres://")


def is_postgres(url_or_path: object) -> TypeGuard[str]:
    """Whether ``url_or_path`` is a PostgreSQL URL (else: a SQLite file path)."""
    return isinstance(url_or_path, str) and url_or_path.lower().startswith(POSTGRES_SCHEMES)


def open_store(
    url_or_path: str | Path, *, create: bool = True, schema: str = "accord"
) -> LedgerStore:
    """``postgresql://...`` (or ``postgres://...``): a PostgresLedgerStore; else SQLite.

    ``schema`` applies to PostgreSQL only. ``create=False`` refuses to make a new store.
    """
    if is_postgres(url_or_path):
        # Imported here so that SQLite users never load libpq.
        from accord.ledger._pg_store import PostgresLedgerStore

        return PostgresLedgerStore(url_or_path, schema=schema, create=create)
    return SQLiteLedgerStore(Path(url_or_path), create=create)

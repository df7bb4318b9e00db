"""PostgreSQL connection helpers shared by the ledger store and the hub's task queue.

Errors name a store by host, port, database and schema — never the password — and quote
only the server's primary message (never its DETAIL, which may quote a row).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from accord.core import AccordError

if TYPE_CHECKING:
    import psycopg
    from psycopg.rows import TupleRow

# psycopg (and libpq) are imported where a connection string is read: ``accord.ledger``
# is imported by every ledger command, and most ledgers are SQLite files (~0.1 s saved).

__all__ = ["SCHEMA_NAME", "pg_connect", "pg_describe", "pg_reason"]

SCHEMA_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")  # safe to splice into SQL


def pg_describe(dsn: str, schema: object, error: type[AccordError]) -> str:
    """``postgresql://host:port/dbname (schema s)``: how errors name a store (no password)."""
    import psycopg
    from psycopg.conninfo import conninfo_to_dict

    try:
        params = conninfo_to_dict(dsn)
    except (psycopg.Error, TypeError):
        # libpq's message quotes the string around the fault, which may be the password.
        raise error(
            "postgresql: the connection string is malformed (not shown: it may hold a password)"
        ) from None
    host = params.get("host") or params.get("hostaddr") or "localhost"
    port = params.get("port") or 5432
    dbname = params.get("dbname") or params.get("user") or ""
    return f"postgresql://{host}:{port}/{dbname} (schema {schema})"


def pg_reason(exc: BaseException) -> str:
    """The server's primary message (never DETAIL, which may quote a row), else the first line."""
    primary = getattr(getattr(exc, "diag", None), "message_primary", None)
    if primary:
        return str(primary)
    if isinstance(exc, UnicodeError):
        return "a text column is not valid UTF-8"
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


def pg_connect(
    dsn: str, name: str, error: type[AccordError], what: str
) -> psycopg.Connection[TupleRow]:
    """Connect in autocommit mode; transactions are explicit (``connection.transaction()``).

    They are READ COMMITTED whatever the server's default, so that each statement after
    taking a lock sees what the previous holder committed; commits are durable.
    """
    import psycopg

    try:
        db = psycopg.connect(dsn, autocommit=True)
        db.isolation_level = psycopg.IsolationLevel.READ_COMMITTED
        if db.execute("SHOW synchronous_commit").fetchone() == ("off",):
            db.execute("SET synchronous_commit TO on")
        return db
    except psycopg.Error as exc:
        raise error(f"{name}: cannot connect to the {what} database ({pg_reason(exc)})") from None

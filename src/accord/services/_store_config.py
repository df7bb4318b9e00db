"""Where the hub keeps its ledger and task queue: the ``[store]`` table of ``hub.toml``.

    [store]                       # optional; absent: SQLite files, as before
    url = "postgresql://accord@db.example.org/accord"
    ledger_schema = "accord"      # optional (the default)
    queue_schema = "accord_queue" # optional (the default)

Without ``[store]`` (or without ``url``) the hub keeps the SQLite files: the ledger in
``RUN/ledger.sqlite`` and the task queue in ``queue.sqlite`` next to ``hub.toml``. With a
``postgresql://`` (or ``postgres://``) URL both live in that database, each in its own
schema. The task queue's blob *files* stay on the hub's disk either way (``queue.blobs/``
with PostgreSQL, ``queue.sqlite.blobs/`` with SQLite).

A hub moving to PostgreSQL copies its ledger there once, before its first start on the
database (``accord hub init-store --config hub.toml``, :func:`copy_ledger`): every entry,
checkpoint and co-signature, verified by the target's tree (same roots); the task queue
starts empty.

Keep the password out of ``hub.toml``: libpq reads ``PGPASSWORD`` or a ``~/.pgpass``
file (``PGPASSFILE``). A password given in the URL is accepted but never shown: every
message and ``repr`` names the database by :meth:`StoreConfig.describe` (host, port,
database, user), with the password masked.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from accord.core import ConfigError, LedgerError, check_keys
from accord.ledger import SCHEMA_NAME, LedgerStore, is_postgres, open_store
from accord.net import QueueStore, open_queue_store
from accord.services._service_config import table

__all__ = ["SQLITE_STORE", "StoreConfig", "copy_ledger", "mask_password", "read_store"]

_KEYS = ("url", "ledger_schema", "queue_schema")


@dataclass(frozen=True)
class StoreConfig:
    """The hub's ledger and queue backend: SQLite files (``url`` None) or PostgreSQL."""

    url: str | None = field(default=None, repr=False)  # may hold a password: never shown
    ledger_schema: str = "accord"
    queue_schema: str = "accord_queue"

    @property
    def postgres(self) -> bool:
        return self.url is not None

    def describe(self) -> str:
        """``sqlite`` or the URL with its password masked (for logs and messages)."""
        return "sqlite" if self.url is None else mask_password(self.url)

    def __repr__(self) -> str:
        return (
            f"StoreConfig(url={self.describe()!r}, ledger_schema={self.ledger_schema!r}, "
            f"queue_schema={self.queue_schema!r})"
        )

    def open_ledger(self, sqlite_path: Path, *, create: bool = False) -> LedgerStore:
        """The ledger store: ``sqlite_path`` (SQLite) or the database's ledger schema."""
        if self.url is None:
            return open_store(sqlite_path, create=create)
        return open_store(self.url, create=create, schema=self.ledger_schema)

    def queue_path(self, state: Path) -> Path:
        """The queue's SQLite file in the hub's ``state`` folder; with PostgreSQL it only
        places the blob folder (``<path>.blobs``)."""
        return state / ("queue.sqlite" if self.url is None else "queue")

    def open_queue(self, state: Path) -> QueueStore:
        """The task queue's store (give it to ``TaskQueue(self.queue_path(state), store=)``)."""
        where = self.url if self.url is not None else self.queue_path(state)
        return open_queue_store(where, schema=self.queue_schema)


SQLITE_STORE = StoreConfig()


def mask_password(url: str) -> str:
    """``url`` with the password of its ``user:password@`` part replaced by ``***``; a URL
    that cannot be split is not shown at all."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "(a malformed URL, not shown: it may hold a password)"
    if parts.password is None and "password=" not in parts.query:
        return url
    user = parts.username or ""
    host = parts.netloc.rpartition("@")[2]
    netloc = f"{user}:***@{host}" if parts.password is not None else parts.netloc
    query = "&".join(
        "password=***" if item.startswith("password=") else item for item in parts.query.split("&")
    )
    return parts._replace(netloc=netloc, query=query).geturl()


def read_store(data: dict[str, Any], path: Path) -> StoreConfig:
    """The ``[store]`` table of ``hub.toml`` (absent: :data:`SQLITE_STORE`); errors name
    the file and the field, and never show the URL's password."""
    given = table(data, "store", path, {})
    check_keys(given, _KEYS, path, "store")
    url = given.get("url")
    if url is not None:
        if not isinstance(url, str) or not is_postgres(url):
            raise ConfigError(
                f"{path}: field 'store.url': expected postgresql://USER@HOST[:PORT]/DATABASE "
                "(leave [store] out to keep the SQLite files)"
            )
        try:
            parts = urlsplit(url)
            parts.port  # noqa: B018 — raises ValueError for a port outside 0..65535
        except ValueError:
            raise ConfigError(
                f"{path}: field 'store.url': not a URL with a valid port (not shown: it may "
                "hold a password)"
            ) from None
        if not parts.path.strip("/"):
            raise ConfigError(
                f"{path}: field 'store.url': {mask_password(url)} names no database "
                "(expected postgresql://USER@HOST[:PORT]/DATABASE)"
            )
    schemas = {}
    for key in ("ledger_schema", "queue_schema"):
        if key not in given:
            continue
        value = given[key]
        if not isinstance(value, str) or not SCHEMA_NAME.fullmatch(value):
            raise ConfigError(
                f"{path}: field 'store.{key}': expected a lower-case SQL name "
                "([a-z_][a-z0-9_]*, at most 63 characters)"
            )
        schemas[key] = value
    config = StoreConfig(url=url, **schemas)
    if config.ledger_schema == config.queue_schema:
        raise ConfigError(
            f"{path}: field 'store.queue_schema': expected a schema other than "
            "store.ledger_schema (the ledger and the queue each need their own)"
        )
    return config


def copy_ledger(source: LedgerStore, target: LedgerStore, page: int = 1000) -> int:
    """Copy every entry, checkpoint and co-signature of ``source`` into the empty
    ``target``; returns the number of entries. The target recomputes the tree as it
    appends, so a checkpoint whose root it does not reach is refused there."""
    if target.size():
        raise LedgerError(
            f"the target ledger already holds {target.size()} entries; copy into an empty one"
        )
    size = source.size()
    for start in range(0, size, page):
        target.append(list(source.read(start, min(start + page, size))))
    for checkpoint in source.checkpoints():
        target.put_checkpoint(checkpoint)
    for cosignature in source.cosignatures():
        target.put_cosignature(cosignature)
    if target.root() != source.root():
        raise LedgerError("the copied ledger's root differs from the source's")
    return size

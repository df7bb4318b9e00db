"""Ledger fixtures: a small signed log with two authors, a rotation and a checkpoint."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from accord.crypto import Identity, new_identity
from accord.ledger import HubLedger, SQLiteLedgerStore, genesis_payload
from tests.ledger.stores import Backend, PostgresBackend, SQLiteBackend


@dataclass
class Log:
    path: Path
    ledger: HubLedger
    hub: Identity
    site: Identity
    other: Identity


def build_log(folder: Path, n: int = 20) -> Log:
    hub, site, other = new_identity("hub"), new_identity("hospital_a"), new_identity("hospital_b")
    orgs = [i.public.to_dict() for i in (hub, site, other)]
    store = SQLiteLedgerStore(folder / "ledger.sqlite")
    ledger = HubLedger.create(store, hub, "log-test", genesis_payload("test", "hub", orgs))
    for i in range(n - 1):
        author = site if i % 2 else hub
        payload = {"plan": "plan-1", "task": f"task-{i}", "value": f"0.{i:04d}"}
        ledger.record(author, "task.completed" if i % 2 else "task.dispatched", payload)
        if i == n // 2:
            ledger.checkpoint()
    ledger.checkpoint()
    return Log(folder / "ledger.sqlite", ledger, hub, site, other)


@pytest.fixture
def log(tmp_path: Path) -> Log:
    return build_log(tmp_path)


BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.pg)]


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    """Each ledger store under test: SQLite, and PostgreSQL where a server runs."""
    if request.param == "sqlite":
        yield SQLiteBackend(tmp_path / "ledger.db")
        return
    dsn, schema = request.getfixturevalue("pg_dsn"), request.getfixturevalue("pg_schema")
    with PostgresBackend(dsn, schema) as pg:
        yield pg

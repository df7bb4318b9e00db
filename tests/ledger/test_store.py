"""SQLiteLedgerStore only: its SQLite settings, a file that is not SQLite, and speed.

What every store does is tested in test_store_contract.py; crash recovery is in
test_store_crash.py.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from accord.core import LedgerError
from accord.ledger import SQLiteLedgerStore
from tests.ledger.stores import make_entries


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "ledger.db"


@pytest.fixture
def store(path: Path) -> Iterator[SQLiteLedgerStore]:
    with SQLiteLedgerStore(path) as s:
        yield s


def test_sqlite_settings(store: SQLiteLedgerStore, path: Path) -> None:
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    db.close()
    assert store._db.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL


def test_a_file_that_is_not_sqlite_raises_naming_path(tmp_path: Path) -> None:
    text = tmp_path / "notes.txt"
    text.write_bytes(b"this is not a database at all" * 100)
    with pytest.raises(LedgerError, match=r"notes\.txt: not an accord ledger"):
        SQLiteLedgerStore(text)


@pytest.mark.slow
def test_performance(tmp_path: Path) -> None:
    """>= 2,000 durable appends/s in batches of 100; read >= 100k/s; proofs < 1 ms at 1e5."""
    n = 100_000
    with SQLiteLedgerStore(tmp_path / "perf.db") as store:
        start = time.perf_counter()
        for first in range(0, n, 100):
            store.append(make_entries(first, 100, size=330))
        appends_per_s = n / (time.perf_counter() - start)
        start = time.perf_counter()
        count = sum(1 for _ in store.read())
        reads_per_s = count / (time.perf_counter() - start)
        start = time.perf_counter()
        for i in range(100):
            store.inclusion_proof(i * 997, n)
            store.consistency_proof(i * 997 + 1, n)
            store.root(n - i)
        proof_ms = (time.perf_counter() - start) / 100 * 1e3
    print(
        f"appends/s {appends_per_s:.0f}, reads/s {reads_per_s:.0f}, proofs+root {proof_ms:.3f} ms"
    )
    assert appends_per_s >= 2_000
    assert reads_per_s >= 100_000
    assert proof_ms < 1.0

"""PostgresLedgerStore only: session settings, agreement with the SQLite store, what
PostgreSQL refuses, passwords in errors, racing hubs, schema names and tampering.

What every store does is tested in test_store_contract.py. Each test gets a fresh
schema (tests/pg.py); ``raw`` is a second, plain connection that plays the part of
another writer (or of someone trying to rewrite history).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg.conninfo import make_conninfo
from psycopg.rows import TupleRow

from accord.core import LedgerError, MissingFileError
from accord.crypto import new_identity
from accord.ledger import HubLedger, SQLiteLedgerStore, StoredEntry, genesis_payload, verify_log
from accord.ledger._open import open_store
from accord.ledger._pg_store import PostgresLedgerStore
from tests.ledger.stores import make_entries

pytestmark = pytest.mark.pg

Raw = psycopg.Connection[TupleRow]


@pytest.fixture
def store(pg_dsn: str, pg_schema: str) -> Iterator[PostgresLedgerStore]:
    with PostgresLedgerStore(pg_dsn, schema=pg_schema) as s:
        yield s


@pytest.fixture
def raw(pg_dsn: str, pg_schema: str) -> Iterator[Raw]:
    with psycopg.connect(pg_dsn, autocommit=True) as db:
        db.execute(f"SET search_path TO {pg_schema}")
        yield db


def test_session_settings(store: PostgresLedgerStore) -> None:
    """The test cluster runs with synchronous_commit off; the store's session turns it on."""
    assert store._db.execute("SHOW synchronous_commit").fetchone() == ("on",)
    assert store._db.isolation_level == psycopg.IsolationLevel.READ_COMMITTED


def test_roots_receipts_and_proofs_equal_the_sqlite_stores(
    store: PostgresLedgerStore, tmp_path: Path
) -> None:
    with SQLiteLedgerStore(tmp_path / "reference.db") as reference:
        seq = 0
        for batch in (1, 1, 2, 3, 5, 8, 13, 21, 1, 34, 7):
            entries = make_entries(seq, batch)
            assert store.append(entries) == reference.append(entries)
            seq += batch
            assert (store.root(), store.head()) == (reference.root(), reference.head())
        for size in range(seq + 1):
            assert store.root(size) == reference.root(size)
        for size in (1, 33, 64, seq):
            for i in range(0, size, 7):
                assert store.inclusion_proof(i, size) == reference.inclusion_proof(i, size)
                assert store.consistency_proof(i, size) == reference.consistency_proof(i, size)


@pytest.mark.parametrize(
    "entry",
    [
        StoredEntry(0, b"x", b"s", "hub", "PATIENT-4711\x00", None),  # NUL: refused by PG
        StoredEntry(0, b"x", b"s", "hub", "PATIENT-4711\udc80", None),  # not UTF-8
    ],
)
def test_errors_never_echo_text_the_server_refuses(
    store: PostgresLedgerStore, entry: StoredEntry
) -> None:
    with pytest.raises(LedgerError) as info:
        store.append([entry])
    assert "PATIENT" not in str(info.value) and "4711" not in str(info.value)
    assert info.value.__cause__ is None and store.size() == 0


def test_connection_errors_never_echo_the_password() -> None:
    dsn = "postgresql://someone:SECRET-PW@127.0.0.1:1/ledger?connect_timeout=2"
    with pytest.raises(LedgerError, match=r"127\.0\.0\.1:1/ledger .*: cannot connect") as info:
        PostgresLedgerStore(dsn)
    assert "SECRET" not in str(info.value)
    with pytest.raises(LedgerError, match="connection string is malformed") as info:
        PostgresLedgerStore("host=127.0.0.1 password=SECRET PW")
    assert "SECRET" not in str(info.value) and "PW" not in str(info.value)


@pytest.mark.parametrize("server_isolation", ["read committed", "serializable"])
def test_racing_appends_of_one_seq_let_exactly_one_win(
    pg_dsn: str, pg_schema: str, tmp_path: Path, server_isolation: str
) -> None:
    """Two hubs (threads, connections) append at the same seq at once, round after round.

    Whatever the server's default isolation, the loser sees the winner's entries and is
    told which seq was expected; no seq is written twice.
    """
    rounds, batch = 15, 3
    option = "-c default_transaction_isolation=" + server_isolation.replace(" ", "\\ ")
    dsn = make_conninfo(pg_dsn, options=option)
    stores = [PostgresLedgerStore(dsn, schema=pg_schema) for _ in range(2)]
    row = stores[0]._db.execute("SHOW default_transaction_isolation").fetchone()
    assert row == (server_isolation,)
    barrier = threading.Barrier(2)
    wins: list[list[int]] = [[], []]
    failures: list[list[str]] = [[], []]

    def hub(i: int) -> None:
        for _ in range(rounds):
            barrier.wait(timeout=30)
            seq = stores[i].size()
            barrier.wait(timeout=30)  # both have read the same size before either appends
            try:
                stores[i].append(make_entries(seq, batch))
                wins[i].append(seq)
            except LedgerError as exc:
                failures[i].append(str(exc))

    threads = [threading.Thread(target=hub, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    try:
        assert sorted(wins[0] + wins[1]) == list(range(0, rounds * batch, batch))
        assert len(failures[0]) + len(failures[1]) == rounds
        assert all("append expected seq" in f for f in failures[0] + failures[1])
        assert [e.seq for e in stores[0].read()] == list(range(rounds * batch))
        with SQLiteLedgerStore(tmp_path / "reference.db") as reference:
            reference.append(make_entries(0, rounds * batch))
            assert stores[1].root() == reference.root()
    finally:
        for s in stores:
            s.close()


def test_bad_schema_name_raises(pg_dsn: str) -> None:
    with pytest.raises(LedgerError, match="schema must be a lower-case SQL name"):
        PostgresLedgerStore(pg_dsn, schema="x; DROP TABLE entries")


def test_open_store_picks_the_backend(pg_dsn: str, pg_schema: str, tmp_path: Path) -> None:
    pg = open_store(pg_dsn, schema=pg_schema)
    assert isinstance(pg, PostgresLedgerStore)
    pg.append(make_entries(0, 2))
    pg.close()
    again = open_store(pg_dsn, schema=pg_schema, create=False)
    assert again.size() == 2
    again.close()
    for where in (tmp_path / "a.db", str(tmp_path / "b.db")):
        lite = open_store(where)
        assert isinstance(lite, SQLiteLedgerStore)
        lite.close()
    with pytest.raises(MissingFileError, match="no such ledger store"):
        open_store(tmp_path / "c.db", create=False)


def test_tampering_by_the_schema_owner_is_caught_by_verify(
    pg_dsn: str, pg_schema: str, raw: Raw
) -> None:
    hub, site = new_identity("hub"), new_identity("hospital_a")
    orgs = [i.public.to_dict() for i in (hub, site)]
    with PostgresLedgerStore(pg_dsn, schema=pg_schema) as store:
        ledger = HubLedger.create(store, hub, "log-pg", genesis_payload("test", "hub", orgs))
        for i in range(6):
            ledger.record(site, "task.completed", {"plan": "p", "task": f"task-{i}"})
        raw.execute("ALTER TABLE entries DISABLE TRIGGER entries_append_only")
        raw.execute(
            "UPDATE entries SET entry = convert_to(replace(convert_from(entry, 'UTF8'), "
            "'task-3', 'task-9'), 'UTF8') WHERE seq = 4"
        )
        report = verify_log(store.read(), store.checkpoints(), store.cosignatures())
    assert report.first_bad == 4 and "bad signature" in report.reason

"""PostgresLedgerStore: the SQLite store's behaviour, plus what sharing a database brings.

Each test gets a fresh schema (tests/pg.py); ``raw`` is a second, plain connection that
plays the part of another writer (or of someone trying to rewrite history).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg.conninfo import make_conninfo
from psycopg.rows import TupleRow

from accord.core.errors import EquivocationError, LedgerError
from accord.crypto import new_identity
from accord.ledger import merkle
from accord.ledger.bundle import export_bundle, open_source
from accord.ledger.log import HubLedger, genesis_payload
from accord.ledger.open import open_store
from accord.ledger.pg_store import PostgresLedgerStore
from accord.ledger.replica import SiteReplica
from accord.ledger.store import (
    LedgerStore,
    SQLiteLedgerStore,
    StoredCheckpoint,
    StoredCosignature,
    StoredEntry,
)
from accord.ledger.verify import verify_log
from tests.ledger.test_store import make_entries, make_entry

pytestmark = pytest.mark.pg

Raw = psycopg.Connection[TupleRow]
HASH_LITERAL = "decode(repeat('00', 32), 'hex')"


@pytest.fixture
def store(pg_dsn: str, pg_schema: str) -> Iterator[PostgresLedgerStore]:
    with PostgresLedgerStore(pg_dsn, schema=pg_schema) as s:
        yield s


@pytest.fixture
def raw(pg_dsn: str, pg_schema: str) -> Iterator[Raw]:
    with psycopg.connect(pg_dsn, autocommit=True) as db:
        db.execute(f"SET search_path TO {pg_schema}")
        yield db


def _checkpoint(size: int, root: bytes, body: bytes = b"cp") -> StoredCheckpoint:
    return StoredCheckpoint(size, root, body + str(size).encode(), b"s" * 64, "hub", "k1")


def _count(raw: Raw, table: str) -> int:
    row = raw.execute(f"SELECT COUNT(*) FROM {table}").fetchone()
    assert row is not None
    return int(row[0])


def test_is_a_ledger_store(store: PostgresLedgerStore) -> None:
    typed: LedgerStore = store
    assert typed.size() == 0
    assert store.head() == bytes(32)
    assert store.root() == merkle.EMPTY_ROOT
    assert list(store.read()) == [] and list(store.find()) == []
    assert store.append([]) == []
    assert store.checkpoints() == [] and store.cosignatures() == []


def test_session_settings(store: PostgresLedgerStore) -> None:
    """The test cluster runs with synchronous_commit off; the store's session turns it on."""
    assert store._db.execute("SHOW synchronous_commit").fetchone() == ("on",)
    assert store._db.isolation_level == psycopg.IsolationLevel.READ_COMMITTED


def test_round_trip_and_receipts(store: PostgresLedgerStore) -> None:
    entries = [*make_entries(0, 10), StoredEntry(10, b"", b"", "", "", "")]
    receipts = store.append(entries[:4]) + store.append(entries[4:])
    assert list(store.read()) == entries
    assert list(store.read(3, 7)) == entries[3:7]
    assert list(store.read(8)) == entries[8:]
    assert store.size() == 11
    assert store.head() == entries[-1].leaf
    for r, e in zip(receipts, entries, strict=True):
        assert (r.seq, r.leaf, r.size) == (e.seq, e.leaf, e.seq + 1)
        assert r.root == store.root(r.size)


def test_reads_page_through_long_logs(store: PostgresLedgerStore) -> None:
    entries = make_entries(0, 2500, size=8)
    store.append(entries)
    assert list(store.read()) == entries
    assert list(store.read(1000, 2049)) == entries[1000:2049]
    assert list(store.find(org="hub")) == [e for e in entries if e.org == "hub"]


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


def test_proofs_verify(store: PostgresLedgerStore) -> None:
    entries = make_entries(0, 77)
    store.append(entries)
    for size in (1, 2, 31, 32, 33, 64, 77):
        root = store.root(size)
        for seq in range(0, size, 5):
            proof = store.inclusion_proof(seq, size)
            assert merkle.verify_inclusion(entries[seq].leaf, seq, size, proof, root)
        for old in range(0, size + 1, 3):
            proof = store.consistency_proof(old, size)
            assert merkle.verify_consistency(old, size, store.root(old), root, proof)
    last = store.inclusion_proof(76)
    assert merkle.verify_inclusion(entries[76].leaf, 76, 77, last, store.root())


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda s: s.root(11), r"size 11 is outside the log \(0..10\)"),
        (lambda s: s.root(-1), "size -1 is outside"),
        (lambda s: s.inclusion_proof(10), "seq 10 is not in a tree of size 10"),
        (lambda s: s.inclusion_proof(2, 2), "seq 2 is not in a tree of size 2"),
        (lambda s: s.consistency_proof(5, 4), "old_size 5 is larger than new_size 4"),
        (lambda s: s.consistency_proof(3, 12), "new_size 12 is outside"),
    ],
)
def test_bad_tree_queries_raise(
    store: PostgresLedgerStore, call: Callable[[PostgresLedgerStore], object], match: str
) -> None:
    store.append(make_entries(0, 10))
    with pytest.raises(LedgerError, match=match):
        call(store)


def test_append_is_atomic(store: PostgresLedgerStore, raw: Raw) -> None:
    store.append(make_entries(0, 5))
    root = store.root()
    batch = make_entries(5, 4)
    batch[2] = make_entry(99)
    with pytest.raises(
        LedgerError, match=r"\(schema test_\w+\): append expected seq 7, got seq 99"
    ):
        store.append(batch)
    assert store.size() == 5 and store.root() == root and _count(raw, "entries") == 5
    store.append(make_entries(5, 4))
    assert store.size() == 9


def test_append_failing_inside_the_database_leaves_nothing(
    store: PostgresLedgerStore, raw: Raw
) -> None:
    store.append(make_entries(0, 5))
    root, nodes = store.root(), _count(raw, "nodes")
    raw.execute(
        "CREATE FUNCTION boom() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
        "IF NEW.seq = 7 THEN RAISE EXCEPTION 'disk on fire'; END IF; RETURN NEW; END $$"
    )
    raw.execute("CREATE TRIGGER boom BEFORE INSERT ON entries FOR EACH ROW EXECUTE FUNCTION boom()")
    with pytest.raises(LedgerError, match=r"append of 4 entries failed \(disk on fire\)"):
        store.append(make_entries(5, 4))
    raw.execute("DROP TRIGGER boom ON entries")
    assert store.size() == 5 and store.root() == root
    assert (_count(raw, "entries"), _count(raw, "nodes")) == (5, nodes)
    assert store.append(make_entries(5, 4))[-1].root == store.root(9)


@pytest.mark.parametrize(("first", "expected"), [(3, 5), (7, 5), (-1, 5)])
def test_seq_gap_or_overlap_names_expected_seq(
    store: PostgresLedgerStore, first: int, expected: int
) -> None:
    store.append(make_entries(0, 5))
    with pytest.raises(LedgerError, match=f"expected seq {expected}, got seq {first}"):
        store.append(make_entries(first, 2))


@pytest.mark.parametrize(
    "entry",
    [
        StoredEntry(3, b"PATIENT-4711", b"\x00" * 64, "hub", "plan", None),
        StoredEntry(0, "PATIENT-4711", b"", "hub", "plan", None),  # type: ignore[arg-type]
        StoredEntry(0, b"x", b"s", "hub", "PATIENT-4711\x00", None),  # NUL: refused by PG
        StoredEntry(0, b"x", b"s", "hub", "PATIENT-4711\udc80", None),  # not UTF-8
    ],
)
def test_errors_never_echo_entry_contents(store: PostgresLedgerStore, entry: StoredEntry) -> None:
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


@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE entries SET entry = '\\x00' WHERE seq = 1",
        "DELETE FROM entries WHERE seq = 3",
        "DELETE FROM entries WHERE seq = 999",  # even when no row matches
        "TRUNCATE entries",
        "UPDATE nodes SET hash = " + HASH_LITERAL + " WHERE level = 1",
        "DELETE FROM nodes",
        "TRUNCATE nodes",
        "UPDATE checkpoints SET root = '\\x00'",
        "DELETE FROM checkpoints",
        "UPDATE cosignatures SET signature = '\\x00'",
        "TRUNCATE cosignatures",
        "INSERT INTO entries VALUES (1, " + HASH_LITERAL + ", '\\x00', '\\x00', 'o', 'k', NULL) "
        "ON CONFLICT (seq) DO UPDATE SET entry = EXCLUDED.entry",
        "INSERT INTO entries VALUES (9, " + HASH_LITERAL + ", '\\x00', '\\x00', 'o', 'k', NULL)",
        "INSERT INTO nodes VALUES (1, 0, " + HASH_LITERAL + ") ON CONFLICT DO NOTHING",
    ],
)
def test_triggers_make_tables_append_only(store: PostgresLedgerStore, raw: Raw, sql: str) -> None:
    store.append(make_entries(0, 4))
    store.put_checkpoint(_checkpoint(4, store.root()))
    store.put_cosignature(StoredCosignature(4, store.root(), "site-a", "k2", b"c" * 64))
    before = (list(store.read()), store.root(), store.checkpoints(), store.cosignatures())
    with pytest.raises(psycopg.errors.RaiseException, match="accord ledger"):
        raw.execute(sql)
    after = (list(store.read()), store.root(), store.checkpoints(), store.cosignatures())
    assert after == before


def test_reopen_keeps_state_and_appends(pg_dsn: str, pg_schema: str) -> None:
    with PostgresLedgerStore(pg_dsn, schema=pg_schema) as store:
        store.append(make_entries(0, 37))
        size, root, head = store.size(), store.root(), store.head()
    with PostgresLedgerStore(pg_dsn, schema=pg_schema, create=False) as store:
        assert (store.size(), store.root(), store.head()) == (size, root, head)
        store.append(make_entries(37, 30))
        assert store.root() == merkle.root_of(67, store._node)
        assert [e.seq for e in store.read()] == list(range(67))


def test_two_handles_see_each_others_appends(pg_dsn: str, pg_schema: str) -> None:
    with (
        PostgresLedgerStore(pg_dsn, schema=pg_schema) as first,
        PostgresLedgerStore(pg_dsn, schema=pg_schema) as second,
    ):
        first.append(make_entries(0, 3))
        second.append(make_entries(3, 3))
        assert first.size() == 6 and first.root() == second.root()
        first.append(make_entries(6, 1))
        assert second.head() == make_entry(6).leaf
        with pytest.raises(LedgerError, match="expected seq 7, got seq 6"):
            second.append(make_entries(6, 1))


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


def test_find_filters(store: PostgresLedgerStore) -> None:
    entries = make_entries(0, 40)
    store.append(entries)
    assert list(store.find()) == entries
    assert list(store.find(kind="update")) == [e for e in entries if e.kind == "update"]
    assert list(store.find(org="site-a", plan="plan-1")) == [
        e for e in entries if e.org == "site-a" and e.plan == "plan-1"
    ]
    got = list(store.find(kind="metric", org="site-a", plan="plan-1"))
    assert got == [e for e in entries if (e.kind, e.org, e.plan) == ("metric", "site-a", "plan-1")]
    assert got and list(store.find(kind="nope")) == []


def test_checkpoints_and_cosignatures(store: PostgresLedgerStore, tmp_path: Path) -> None:
    store.append(make_entries(0, 8))
    cp4, cp8 = _checkpoint(4, store.root(4)), _checkpoint(8, store.root())
    for cp in (cp8, cp4, cp8, cp4):
        store.put_checkpoint(cp)
    later = _checkpoint(8, store.root(), body=b"later")
    store.put_checkpoint(later)
    assert store.checkpoints() == [cp4, cp8, later]
    sigs = [
        StoredCosignature(cp.size, cp.root, org, key_id, org.encode() * 8)
        for cp in (cp4, cp8)
        for org in ("site-b", "site-a", "Site-c")  # ordered by bytes, as in SQLite
        for key_id in ("k", "K")
    ]
    with SQLiteLedgerStore(tmp_path / "reference.db") as reference:
        reference.append(make_entries(0, 8))
        for cs in sigs + sigs:
            store.put_cosignature(cs)
            reference.put_cosignature(cs)
        assert store.cosignatures() == reference.cosignatures() and len(sigs) == 12
        assert store.cosignatures(8) == reference.cosignatures(8)
    assert [cs.org for cs in store.cosignatures(8)][:2] == ["Site-c", "Site-c"]
    assert store.cosignatures(5) == []


def test_checkpoint_with_a_second_root_is_equivocation(pg_dsn: str, pg_schema: str) -> None:
    with (
        PostgresLedgerStore(pg_dsn, schema=pg_schema) as store,
        PostgresLedgerStore(pg_dsn, schema=pg_schema) as other,
    ):
        store.append(make_entries(0, 8))
        with pytest.raises(EquivocationError, match="size 6"):
            store.put_checkpoint(_checkpoint(6, store.root(5)))
        ahead = _checkpoint(20, b"\x01" * 32)
        store.put_checkpoint(ahead)
        with pytest.raises(EquivocationError, match="size 20"):
            other.put_checkpoint(_checkpoint(20, b"\x02" * 32, body=b"other"))
        assert other.checkpoints() == [ahead]


def test_missing_store_is_not_created(pg_dsn: str, pg_schema: str, raw: Raw) -> None:
    with pytest.raises(LedgerError, match=r"\(schema test_\w+\): no such ledger store"):
        PostgresLedgerStore(pg_dsn, schema=pg_schema, create=False)
    row = raw.execute("SELECT COUNT(*) FROM pg_namespace WHERE nspname = %s", (pg_schema,))
    assert row.fetchone() == (0,)


def test_not_a_ledger_or_bad_schema_name_raises(pg_dsn: str, pg_schema: str, raw: Raw) -> None:
    raw.execute(f"CREATE SCHEMA {pg_schema}")
    raw.execute(f"CREATE TABLE {pg_schema}.t (x int)")
    with pytest.raises(LedgerError, match="not an accord ledger store"):
        PostgresLedgerStore(pg_dsn, schema=pg_schema)
    with pytest.raises(LedgerError, match="schema must be a lower-case SQL name"):
        PostgresLedgerStore(pg_dsn, schema="x; DROP TABLE entries")


def test_wrong_schema_version_raises(pg_dsn: str, pg_schema: str, raw: Raw) -> None:
    PostgresLedgerStore(pg_dsn, schema=pg_schema).close()
    raw.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    with pytest.raises(LedgerError, match="schema version '99'; expected 1"):
        PostgresLedgerStore(pg_dsn, schema=pg_schema)


def test_missing_node_is_reported(pg_dsn: str, pg_schema: str, raw: Raw) -> None:
    with PostgresLedgerStore(pg_dsn, schema=pg_schema) as store:
        store.append(make_entries(0, 8))
    raw.execute("ALTER TABLE nodes DISABLE TRIGGER nodes_append_only")
    raw.execute("DELETE FROM nodes WHERE level = 3")
    with pytest.raises(LedgerError, match=r"tree node \(level 3, index 0\) is missing"):
        PostgresLedgerStore(pg_dsn, schema=pg_schema)


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
    with pytest.raises(LedgerError, match="no such ledger store"):
        open_store(tmp_path / "c.db", create=False)


def test_hub_ledger_and_verify_end_to_end(pg_dsn: str, pg_schema: str, tmp_path: Path) -> None:
    """A hub on PostgreSQL, a site replica on SQLite: the log verifies, as a bundle too."""
    hub, site, other = new_identity("hub"), new_identity("hospital_a"), new_identity("hospital_b")
    orgs = [i.public.to_dict() for i in (hub, site, other)]
    store = PostgresLedgerStore(pg_dsn, schema=pg_schema)
    ledger = HubLedger.create(store, hub, "log-pg", genesis_payload("test", "hub", orgs))
    for i in range(19):
        author = site if i % 2 else hub
        payload = {"plan": "plan-1", "task": f"task-{i}", "value": f"0.{i:04d}"}
        ledger.record(author, "task.completed" if i % 2 else "task.dispatched", payload)
        if i == 10:
            ledger.checkpoint()
    ledger.checkpoint()
    with SQLiteLedgerStore(tmp_path / "site.sqlite") as site_store:
        assert SiteReplica(site_store, site).sync(ledger) is not None
        assert site_store.root() == store.root()

    report = verify_log(store.read(), store.checkpoints(), store.cosignatures())
    assert report.ok, report.reason
    assert (report.size, report.checkpoints, report.cosignatures) == (20, 2, 1)
    assert report.root == store.root()
    assert len(list(store.find(plan="plan-1", org="hospital_a"))) == 9

    bundle = tmp_path / "bundle.jsonl"
    assert export_bundle(store, bundle) == 20
    source = open_source(bundle)
    try:
        assert verify_log(source.entries(), source.checkpoints, source.cosignatures).ok
    finally:
        source.close()

    store.close()
    resumed = HubLedger(PostgresLedgerStore(pg_dsn, schema=pg_schema, create=False), hub)
    assert resumed.slot()[0] == 20
    resumed.record(site, "task.completed", {"plan": "p"})
    assert resumed.store.size() == 21
    resumed.store.close()


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

"""SQLiteLedgerStore: round trips, tree agreement with pymerkle, atomicity, triggers, reopen."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from pymerkle import InmemoryTree  # type: ignore[import-untyped]

from accord.core.errors import EquivocationError, LedgerError
from accord.ledger import merkle
from accord.ledger.store import (
    LedgerStore,
    SQLiteLedgerStore,
    StoredCheckpoint,
    StoredCosignature,
    StoredEntry,
)

ORGS = ("hub", "site-a", "site-b")
KINDS = ("genesis", "plan", "update", "metric")


def make_entry(seq: int, size: int = 120) -> StoredEntry:
    body = f'{{"seq":{seq},"pad":"'.encode() + b"x" * size + b'"}'
    plan = None if seq % 3 == 0 else f"plan-{seq % 2}"
    sig = (seq.to_bytes(8, "big", signed=True) * 8)[:64]
    return StoredEntry(seq, body, sig, ORGS[seq % 3], KINDS[seq % 4], plan)


def make_entries(start: int, count: int, size: int = 120) -> list[StoredEntry]:
    return [make_entry(seq, size) for seq in range(start, start + count)]


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "ledger.db"


@pytest.fixture
def store(path: Path) -> Iterator[SQLiteLedgerStore]:
    with SQLiteLedgerStore(path) as s:
        yield s


def _checkpoint(size: int, root: bytes, body: bytes = b"cp") -> StoredCheckpoint:
    return StoredCheckpoint(size, root, body + str(size).encode(), b"s" * 64, "hub", "k1")


def test_is_a_ledger_store(store: SQLiteLedgerStore) -> None:
    typed: LedgerStore = store
    assert typed.size() == 0
    assert store.head() == bytes(32)
    assert store.root() == merkle.EMPTY_ROOT
    assert list(store.read()) == []
    assert store.append([]) == []


def test_sqlite_settings(store: SQLiteLedgerStore, path: Path) -> None:
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    db.close()
    assert store._db.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL


def test_round_trip_and_receipts(store: SQLiteLedgerStore) -> None:
    entries = make_entries(0, 10)
    receipts = store.append(entries[:4]) + store.append(entries[4:])
    assert list(store.read()) == entries
    assert list(store.read(3, 7)) == entries[3:7]
    assert list(store.read(8)) == entries[8:]
    assert store.size() == 10
    assert store.head() == entries[-1].leaf
    for r, e in zip(receipts, entries, strict=True):
        assert (r.seq, r.leaf, r.size) == (e.seq, e.leaf, e.seq + 1)
        assert r.root == store.root(r.size)
        assert e.leaf == merkle.leaf_hash(e.entry + e.signature)


def test_roots_match_root_of_and_pymerkle_after_each_append(store: SQLiteLedgerStore) -> None:
    reference = InmemoryTree(algorithm="sha256")
    seq = 0
    for batch in (1, 1, 2, 3, 5, 8, 13, 21, 1, 34, 7):
        entries = make_entries(seq, batch)
        receipts = store.append(entries)
        for e, r in zip(entries, receipts, strict=True):
            reference.append_entry(e.entry + e.signature)
            assert r.root == reference.get_root(r.size)
        seq += batch
        assert store.root() == merkle.root_of(seq, store._node) == reference.get_root()
    for size in range(seq + 1):
        assert store.root(size) == reference.get_root(size)


def test_proofs_verify(store: SQLiteLedgerStore) -> None:
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
    assert merkle.verify_consistency(
        10, 77, store.root(10), store.root(), store.consistency_proof(10)
    )


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
def test_bad_tree_queries_raise(store: SQLiteLedgerStore, call: object, match: str) -> None:
    store.append(make_entries(0, 10))
    with pytest.raises(LedgerError, match=match):
        call(store)  # type: ignore[operator]


def test_append_is_atomic(store: SQLiteLedgerStore) -> None:
    store.append(make_entries(0, 5))
    root = store.root()
    batch = make_entries(5, 4)
    batch[2] = make_entry(99)
    with pytest.raises(LedgerError, match="append expected seq 7, got seq 99"):
        store.append(batch)
    assert store.size() == 5 and store.root() == root
    store.append(make_entries(5, 4))
    assert store.size() == 9


def test_append_failing_inside_the_database_leaves_nothing(store: SQLiteLedgerStore) -> None:
    store.append(make_entries(0, 5))
    root, nodes = store.root(), store._db.execute("SELECT COUNT(*) FROM nodes").fetchone()
    store._db.execute(
        "CREATE TEMP TRIGGER boom BEFORE INSERT ON main.entries WHEN NEW.seq = 7 "
        "BEGIN SELECT RAISE(ABORT, 'disk on fire'); END"
    )
    with pytest.raises(LedgerError, match=r"append of 4 entries failed \(disk on fire\)"):
        store.append(make_entries(5, 4))
    store._db.execute("DROP TRIGGER boom")
    assert store.size() == 5 and store.root() == root
    assert store._db.execute("SELECT COUNT(*) FROM nodes").fetchone() == nodes
    assert store.append(make_entries(5, 4))[-1].root == store.root(9)


@pytest.mark.parametrize(("first", "expected"), [(3, 5), (7, 5), (-1, 5)])
def test_seq_gap_or_overlap_names_expected_seq(
    store: SQLiteLedgerStore, first: int, expected: int
) -> None:
    store.append(make_entries(0, 5))
    with pytest.raises(LedgerError, match=f"expected seq {expected}, got seq {first}"):
        store.append(make_entries(first, 2))


def test_errors_never_echo_entry_contents(store: SQLiteLedgerStore) -> None:
    secret = StoredEntry(3, b"PATIENT-4711", b"\x00" * 64, "hub", "plan", None)
    with pytest.raises(LedgerError) as info:
        store.append([secret])
    assert "PATIENT" not in str(info.value)
    bad_type = StoredEntry(0, "PATIENT-4711", b"", "hub", "plan", None)  # type: ignore[arg-type]
    with pytest.raises(LedgerError, match="must be bytes") as info:
        store.append([bad_type])
    assert "PATIENT" not in str(info.value)


@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE entries SET entry = x'00' WHERE seq = 1",
        "DELETE FROM entries WHERE seq = 3",
        "UPDATE nodes SET hash = x'00' WHERE level = 1",
        "DELETE FROM nodes",
        "UPDATE checkpoints SET root = x'00'",
        "DELETE FROM checkpoints",
        "UPDATE cosignatures SET signature = x'00'",
        "DELETE FROM cosignatures",
        "INSERT OR REPLACE INTO entries VALUES (1, x'00', x'00', x'00', 'o', 'k', NULL)",
        "INSERT INTO entries VALUES (9, x'00', x'00', x'00', 'o', 'k', NULL)",
        "INSERT OR REPLACE INTO nodes VALUES (1, 0, x'00')",
    ],
)
def test_triggers_make_tables_append_only(store: SQLiteLedgerStore, path: Path, sql: str) -> None:
    store.append(make_entries(0, 4))
    store.put_checkpoint(_checkpoint(4, store.root()))
    store.put_cosignature(StoredCosignature(4, store.root(), "site-a", "k2", b"c" * 64))
    before = (store.size(), store.root(), store.checkpoints(), store.cosignatures())
    raw = sqlite3.connect(path)
    with pytest.raises(sqlite3.DatabaseError, match="accord ledger"):
        raw.execute(sql)
    raw.close()
    after = (store.size(), store.root(), store.checkpoints(), store.cosignatures())
    assert after == before


def test_reopen_keeps_state_and_appends(path: Path) -> None:
    with SQLiteLedgerStore(path) as store:
        store.append(make_entries(0, 37))
        size, root, head = store.size(), store.root(), store.head()
    with SQLiteLedgerStore(path, create=False) as store:
        assert (store.size(), store.root(), store.head()) == (size, root, head)
        store.append(make_entries(37, 30))
        assert store.root() == merkle.root_of(67, store._node)
        assert [e.seq for e in store.read()] == list(range(67))


def test_two_handles_see_each_others_appends(path: Path) -> None:
    with SQLiteLedgerStore(path) as first, SQLiteLedgerStore(path) as second:
        first.append(make_entries(0, 3))
        second.append(make_entries(3, 3))
        assert first.size() == 6 and first.root() == second.root()
        first.append(make_entries(6, 1))
        assert second.head() == make_entry(6).leaf


def test_find_filters(store: SQLiteLedgerStore) -> None:
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


def test_checkpoints_and_cosignatures(store: SQLiteLedgerStore) -> None:
    store.append(make_entries(0, 8))
    cp4, cp8 = _checkpoint(4, store.root(4)), _checkpoint(8, store.root())
    for cp in (cp8, cp4, cp8, cp4):
        store.put_checkpoint(cp)
    later = _checkpoint(8, store.root(), body=b"later")
    store.put_checkpoint(later)
    assert store.checkpoints() == [cp4, cp8, later]
    sigs = [
        StoredCosignature(cp.size, cp.root, org, "k", org.encode() * 8)
        for cp in (cp4, cp8)
        for org in ("site-b", "site-a")
    ]
    for cs in sigs + sigs:
        store.put_cosignature(cs)
    assert len(store.cosignatures()) == 4
    assert [cs.org for cs in store.cosignatures(8)] == ["site-a", "site-b"]
    assert store.cosignatures(5) == []


def test_checkpoint_with_a_second_root_is_equivocation(store: SQLiteLedgerStore) -> None:
    store.append(make_entries(0, 8))
    with pytest.raises(EquivocationError, match="size 6"):
        store.put_checkpoint(_checkpoint(6, store.root(5)))
    ahead = _checkpoint(20, b"\x01" * 32)
    store.put_checkpoint(ahead)
    with pytest.raises(EquivocationError, match="size 20"):
        store.put_checkpoint(_checkpoint(20, b"\x02" * 32, body=b"other"))
    assert store.checkpoints() == [ahead]


def test_not_a_ledger_raises_naming_path(tmp_path: Path) -> None:
    text = tmp_path / "notes.txt"
    text.write_bytes(b"this is not a database at all" * 100)
    with pytest.raises(LedgerError, match=r"notes\.txt: not an accord ledger"):
        SQLiteLedgerStore(text)
    other = tmp_path / "other.db"
    sqlite3.connect(other).execute("CREATE TABLE t (x)").connection.close()
    with pytest.raises(LedgerError, match=r"other\.db: not an accord ledger"):
        SQLiteLedgerStore(other)
    missing = tmp_path / "missing.db"
    with pytest.raises(LedgerError, match=r"missing\.db: no such ledger store"):
        SQLiteLedgerStore(missing, create=False)
    assert not missing.exists()


def test_wrong_schema_version_raises(path: Path) -> None:
    SQLiteLedgerStore(path).close()
    raw = sqlite3.connect(path)
    raw.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    raw.commit()
    raw.close()
    with pytest.raises(LedgerError, match="schema version '99'; expected 1"):
        SQLiteLedgerStore(path)


def test_missing_node_is_reported(path: Path) -> None:
    with SQLiteLedgerStore(path) as store:
        store.append(make_entries(0, 8))
    raw = sqlite3.connect(path)
    raw.execute("DROP TRIGGER nodes_no_delete")
    raw.execute("DELETE FROM nodes WHERE level = 3")
    raw.commit()
    raw.close()
    with pytest.raises(LedgerError, match=r"tree node \(level 3, index 0\) is missing"):
        SQLiteLedgerStore(path)


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

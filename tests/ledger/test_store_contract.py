"""Every ledger store, same tests: round trips, tree agreement with pymerkle, atomicity,
triggers, reopening, checkpoints and their equivocation check, errors.

``backend`` is parametrised over SQLite (a file) and PostgreSQL (a fresh schema of the
throwaway server in tests/pg.py, marked ``pg``); ``store`` is a store opened there.
What only one store does lives in test_store.py (SQLite) and test_pg_store.py.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from pymerkle import InmemoryTree  # type: ignore[import-untyped]

from accord.core import EquivocationError, LedgerError, MissingFileError
from accord.crypto import new_identity
from accord.ledger import (
    HubLedger,
    LedgerStore,
    SiteReplica,
    SQLiteLedgerStore,
    StoredCosignature,
    StoredEntry,
    export_bundle,
    genesis_payload,
    open_source,
    verify_log,
)
from accord.ledger import _merkle as merkle
from tests.ledger.stores import (
    Backend,
    PostgresBackend,
    SQLiteBackend,
    Store,
    make_checkpoint,
    make_entries,
    make_entry,
)


@pytest.fixture
def store(backend: Backend) -> Iterator[Store]:
    with backend.open() as s:
        yield s


def test_is_a_ledger_store(store: Store) -> None:
    typed: LedgerStore = store
    assert typed.size() == 0
    assert store.head() == bytes(32)
    assert store.root() == merkle.EMPTY_ROOT
    assert list(store.read()) == [] and list(store.find()) == []
    assert store.append([]) == []
    assert store.checkpoints() == [] and store.cosignatures() == []


def test_round_trip_and_receipts(store: Store) -> None:
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
        assert e.leaf == merkle.leaf_hash(e.entry + e.signature)


def test_reads_page_through_long_logs(store: Store) -> None:
    entries = make_entries(0, 2500, size=8)
    store.append(entries)
    assert list(store.read()) == entries
    assert list(store.read(1000, 2049)) == entries[1000:2049]
    assert list(store.find(org="hub")) == [e for e in entries if e.org == "hub"]


def test_roots_match_root_of_and_pymerkle_after_each_append(store: Store) -> None:
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


def test_proofs_verify(store: Store) -> None:
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
def test_bad_tree_queries_raise(
    store: Store, backend: Backend, call: Callable[[Store], object], match: str
) -> None:
    store.append(make_entries(0, 10))
    with pytest.raises(LedgerError, match=f"^{backend.where}: .*{match}"):
        call(store)


def test_append_is_atomic(store: Store, backend: Backend) -> None:
    store.append(make_entries(0, 5))
    root = store.root()
    batch = make_entries(5, 4)
    batch[2] = make_entry(99)
    with pytest.raises(LedgerError, match=f"^{backend.where}: append expected seq 7, got seq 99"):
        store.append(batch)
    assert store.size() == 5 and store.root() == root and backend.count("entries") == 5
    store.append(make_entries(5, 4))
    assert store.size() == 9


def test_append_failing_inside_the_database_leaves_nothing(store: Store, backend: Backend) -> None:
    store.append(make_entries(0, 5))
    root, nodes = store.root(), backend.count("nodes")
    with (
        backend.failing_at_seq(store, 7),
        pytest.raises(LedgerError, match=r"append of 4 entries failed \(disk on fire\)"),
    ):
        store.append(make_entries(5, 4))
    assert store.size() == 5 and store.root() == root
    assert (backend.count("entries"), backend.count("nodes")) == (5, nodes)
    assert store.append(make_entries(5, 4))[-1].root == store.root(9)


@pytest.mark.parametrize(("first", "expected"), [(3, 5), (7, 5), (-1, 5)])
def test_seq_gap_or_overlap_names_expected_seq(store: Store, first: int, expected: int) -> None:
    store.append(make_entries(0, 5))
    with pytest.raises(LedgerError, match=f"expected seq {expected}, got seq {first}"):
        store.append(make_entries(first, 2))


@pytest.mark.parametrize(
    ("entry", "match"),
    [
        (StoredEntry(3, b"PATIENT-4711", b"\x00" * 64, "hub", "plan", None), "expected seq 0"),
        (StoredEntry(0, "PATIENT-4711", b"", "hub", "plan", None), "must be bytes"),  # type: ignore[arg-type]
    ],
)
def test_errors_never_echo_entry_contents(store: Store, entry: StoredEntry, match: str) -> None:
    with pytest.raises(LedgerError, match=match) as info:
        store.append([entry])
    assert "PATIENT" not in str(info.value) and "4711" not in str(info.value)
    assert info.value.__cause__ is None and store.size() == 0


REWRITES = [
    *(pytest.param("sqlite", sql) for sql in SQLiteBackend.rewrites),
    *(pytest.param("postgres", sql, marks=pytest.mark.pg) for sql in PostgresBackend.rewrites),
]


@pytest.mark.parametrize(("backend", "sql"), REWRITES, indirect=["backend"])
def test_triggers_make_tables_append_only(store: Store, backend: Backend, sql: str) -> None:
    store.append(make_entries(0, 4))
    store.put_checkpoint(make_checkpoint(4, store.root()))
    store.put_cosignature(StoredCosignature(4, store.root(), "site-a", "k2", b"c" * 64))

    def state() -> object:
        return (
            store.size(),
            list(store.read()),
            store.root(),
            store.checkpoints(),
            store.cosignatures(),
        )

    before = state()
    with pytest.raises(backend.raw_error, match="accord ledger"):
        backend.raw(sql)
    assert state() == before


def test_reopen_keeps_state_and_appends(backend: Backend) -> None:
    with backend.open() as store:
        store.append(make_entries(0, 37))
        size, root, head = store.size(), store.root(), store.head()
    with backend.open(create=False) as store:
        assert (store.size(), store.root(), store.head()) == (size, root, head)
        store.append(make_entries(37, 30))
        assert store.root() == merkle.root_of(67, store._node)
        assert [e.seq for e in store.read()] == list(range(67))


def test_two_handles_see_each_others_appends(backend: Backend) -> None:
    with backend.open() as first, backend.open() as second:
        first.append(make_entries(0, 3))
        second.append(make_entries(3, 3))
        assert first.size() == 6 and first.root() == second.root()
        first.append(make_entries(6, 1))
        assert second.head() == make_entry(6).leaf
        with pytest.raises(LedgerError, match="expected seq 7, got seq 6"):
            second.append(make_entries(6, 1))


def test_find_filters(store: Store) -> None:
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


def test_checkpoints_and_cosignatures(store: Store, tmp_path: Path) -> None:
    store.append(make_entries(0, 8))
    cp4, cp8 = make_checkpoint(4, store.root(4)), make_checkpoint(8, store.root())
    for cp in (cp8, cp4, cp8, cp4):
        store.put_checkpoint(cp)
    later = make_checkpoint(8, store.root(), body=b"later")
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
    assert store.cosignatures() == sorted(sigs, key=lambda cs: (cs.size, cs.org, cs.key_id))
    orgs = [cs.org for cs in store.cosignatures(8)]
    assert orgs == ["Site-c", "Site-c", "site-a", "site-a", "site-b", "site-b"]
    assert store.cosignatures(5) == []


def test_checkpoint_with_a_second_root_is_equivocation(backend: Backend) -> None:
    with backend.open() as store, backend.open() as other:
        store.append(make_entries(0, 8))
        with pytest.raises(EquivocationError, match=f"^{backend.where}: .*size 6"):
            store.put_checkpoint(make_checkpoint(6, store.root(5)))
        ahead = make_checkpoint(20, b"\x01" * 32)
        store.put_checkpoint(ahead)
        for handle in (store, other):
            with pytest.raises(EquivocationError, match="size 20"):
                handle.put_checkpoint(make_checkpoint(20, b"\x02" * 32, body=b"other"))
        assert store.checkpoints() == other.checkpoints() == [ahead]


def test_missing_store_is_not_created(backend: Backend) -> None:
    # a SQLite file is a file the user named (MissingFileError); a PostgreSQL database is not
    with pytest.raises(
        (LedgerError, MissingFileError), match=f"^{backend.where}: no such ledger store"
    ):
        backend.open(create=False)
    assert not backend.exists()


def test_a_database_without_a_ledger_raises(backend: Backend) -> None:
    backend.make_foreign()
    with pytest.raises(LedgerError, match=f"^{backend.where}: not an accord ledger store"):
        backend.open()


def test_wrong_schema_version_raises(backend: Backend) -> None:
    backend.open().close()
    backend.raw("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    with pytest.raises(LedgerError, match="schema version '99'; expected 1"):
        backend.open()


def test_missing_node_is_reported(backend: Backend) -> None:
    with backend.open() as store:
        store.append(make_entries(0, 8))
    backend.unguard_deletes("nodes")
    backend.raw("DELETE FROM nodes WHERE level = 3")
    with pytest.raises(LedgerError, match=r"tree node \(level 3, index 0\) is missing"):
        backend.open()


def test_hub_ledger_and_verify_end_to_end(backend: Backend, tmp_path: Path) -> None:
    """A hub on this store, a site replica on SQLite: the log verifies, as a bundle too."""
    hub, site, other = new_identity("hub"), new_identity("hospital_a"), new_identity("hospital_b")
    orgs = [i.public.to_dict() for i in (hub, site, other)]
    store = backend.open()
    ledger = HubLedger.create(store, hub, "log-e2e", genesis_payload("test", "hub", orgs))
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
    resumed = HubLedger(backend.open(create=False), hub)
    assert resumed.slot()[0] == 20
    resumed.record(site, "task.completed", {"plan": "p"})
    assert resumed.store.size() == 21
    resumed.store.close()

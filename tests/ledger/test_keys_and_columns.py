"""Key rules and derived columns (#14), on every store.

Rotation tricks (re-adding a revoked key, rotating to another organisation's key or to a
key used before, revocations by someone not entitled) are refused by the hub when
appending and by verify when replaying a log that holds them. Editing a store's unsigned
columns (``plan``, ``leaf``, ``org``) or a Merkle node, as someone with the database file
would, is found by verify at the entry that the edited value belongs to, naming it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from accord.core import LedgerError
from accord.crypto import Identity, new_identity
from accord.ledger import (
    KEY_REVOKE,
    KEY_ROTATE,
    Entry,
    HubLedger,
    genesis_payload,
    sign_entry,
    verify_log,
)
from accord.ledger._log import _stored
from accord.ledger._registry import CERT_REVOKE
from accord.ledger._verify import VerifyReport
from tests.ledger.stores import Backend, SQLiteBackend, Store

EXAMPLES = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)


@pytest.fixture
def keys(backend: Backend) -> Iterator[Keys]:
    """A signed log with rotations and revocations, 25 entries, on ``backend``."""
    with backend.open() as store:
        yield _keys_log(store, fillers=20)


@dataclass
class Keys:
    """A log where hospital_a rotated a1 -> a2 and revoked a1; the hub revoked b1."""

    store: Store
    ledger: HubLedger
    hub: Identity
    a1: Identity
    a2: Identity
    b1: Identity
    b2: Identity
    revoked_a1: int
    revoked_b1: int


def _keys_log(store: Store, fillers: int = 7) -> Keys:
    hub, a1, b1 = new_identity("hub"), new_identity("hospital_a"), new_identity("hospital_b")
    a2, b2 = new_identity("hospital_a"), new_identity("hospital_b")
    orgs = [i.public.to_dict() for i in (hub, a1, b1)]
    ledger = HubLedger.create(store, hub, "log-keys", genesis_payload("test", "hub", orgs))
    ledger.record(a1, KEY_ROTATE, a2.public.to_dict())
    ledger.record(b1, KEY_ROTATE, b2.public.to_dict())
    revoked_a1 = ledger.record(a2, KEY_REVOKE, {"org": a1.org, "key_id": a1.key_id}).seq
    revoked_b1 = ledger.record(hub, KEY_REVOKE, {"org": b1.org, "key_id": b1.key_id}).seq
    for i in range(fillers):
        author = (hub, a2, b2)[i % 3]
        ledger.record(author, "task.completed", {"plan": f"plan-{i % 2}", "task": f"t{i}"})
    ledger.checkpoint()
    return Keys(store, ledger, hub, a1, a2, b1, b2, revoked_a1, revoked_b1)


# (name, signer, kind, payload, reason) for each trick, from the log's keys.
Trick = tuple[str, Identity, str, dict[str, str], str]


def _tricks(k: Keys) -> list[Trick]:
    a, b = k.a2.org, k.b2.org
    return [
        ("re-add a revoked key (own)", k.a2, KEY_ROTATE, k.a1.public.to_dict(),
         rf"key {k.a1.key_id} was revoked at entry {k.revoked_a1} and never becomes valid"),
        ("re-add a key the hub revoked", k.b2, KEY_ROTATE, k.b1.public.to_dict(),
         rf"key {k.b1.key_id} was revoked at entry {k.revoked_b1} and never becomes valid"),
        ("rotate to the hub's key", k.a2, KEY_ROTATE, {**k.hub.public.to_dict(), "org": a},
         rf"key {k.hub.key_id} was already introduced for hub at entry 0"),
        ("rotate to another member's key", k.a2, KEY_ROTATE, {**k.b2.public.to_dict(), "org": a},
         rf"key {k.b2.key_id} was already introduced for {b} at entry 2"),
        ("rotate in another member's name", k.a2, KEY_ROTATE, new_identity(b).public.to_dict(),
         "a key rotation must be signed by the same organisation"),
        ("rotate to the current key", k.a2, KEY_ROTATE, k.a2.public.to_dict(),
         rf"key {k.a2.key_id} was already introduced for {a} at entry 1"),
        ("revoke another member's key", k.b2, KEY_REVOKE, {"org": a, "key_id": k.a2.key_id},
         "a key may be revoked by its organisation or the hub only"),
        ("revoke the hub's key", k.a2, KEY_REVOKE, {"org": "hub", "key_id": k.hub.key_id},
         "a key may be revoked by its organisation or the hub only"),
        ("revoke with a revoked key", k.b1, KEY_REVOKE, {"org": a, "key_id": k.a2.key_id},
         rf"key {b}/{k.b1.key_id} was revoked at entry {k.revoked_b1}"),
        ("revoke another member's certificate", k.b2, CERT_REVOKE, _cert(a),
         "a certificate may be revoked by the hub, an operator or its own organisation only"),
        ("revoke a bare serial as a member", k.a2, CERT_REVOKE, _cert(""),
         "a certificate may be revoked by the hub, an operator or its own organisation only"),
    ]  # fmt: skip


def _cert(org: str) -> dict[str, str]:
    return {"serial": "4242", "org": org, "fingerprint": "", "reason": "key lost"}


def _forge(k: Keys, signer: Identity, kind: str, payload: dict[str, str]) -> Entry:
    seq, prev = k.ledger.slot()
    return Entry(
        k.ledger.log_id, seq, signer.org, signer.key_id, kind, payload, prev,
        "2026-12-07T00:00:00.000000Z",
    )  # fmt: skip


def _verify(store: Store) -> VerifyReport:
    entries = store.read()
    return verify_log(
        entries, store.checkpoints(), store.cosignatures(), read_node=store.stored_node
    )


@given(data=st.data())
@EXAMPLES
def test_rotation_tricks_are_refused_by_the_hub_and_by_verify(
    keys: Keys, data: st.DataObject
) -> None:
    k, store = keys, keys.store
    assert _verify(store).ok
    size = store.size()
    tricks = _tricks(k)
    name, signer, kind, payload, reason = data.draw(st.sampled_from(tricks), label="trick")
    with pytest.raises(LedgerError, match=reason):
        k.ledger.record(signer, kind, payload)
    assert store.size() == size, name  # nothing appended
    # The same entry, slipped past the hub: verify (and every replica) refuses it.
    forged = _stored(sign_entry(_forge(k, signer, kind, payload), signer))
    report = verify_log([*store.read(), forged])
    assert not report.ok and report.first_bad == size, name
    assert re.search(reason, report.reason), (name, report.reason)


def test_a_refusal_names_the_entry_and_the_kind(backend: Backend) -> None:
    with backend.open() as store:
        k = _keys_log(store, fillers=0)
        seq = store.size()
        with pytest.raises(
            LedgerError, match=rf"^entry {seq} \(key.rotate\) by hospital_a refused"
        ):
            k.ledger.record(k.a2, KEY_ROTATE, k.a1.public.to_dict())


def test_honest_rotations_and_revocations_still_verify(backend: Backend) -> None:
    with backend.open() as store:
        k = _keys_log(store)
        a3 = new_identity("hospital_a")
        k.ledger.record(k.a2, KEY_ROTATE, a3.public.to_dict())  # a fresh key
        k.ledger.record(k.hub, CERT_REVOKE, _cert("hospital_b"))  # the hub (the CA)
        k.ledger.record(a3, CERT_REVOKE, _cert("hospital_a"))  # its own certificate
        k.ledger.checkpoint()
        report = _verify(store)
        assert report.ok, report.reason


# --- column edits ---------------------------------------------------------------------------


def _blob(backend: Backend, data: bytes) -> str:
    return f"x'{data.hex()}'" if isinstance(backend, SQLiteBackend) else f"'\\x{data.hex()}'"


def _unguard(backend: Backend) -> None:
    """Lift the append-only triggers, as the database's owner could."""
    if isinstance(backend, SQLiteBackend):
        import sqlite3

        with sqlite3.connect(backend.path) as db:
            names = [
                r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='trigger'")
            ]
        for name in names:
            backend.raw(f"DROP TRIGGER {name}")
        return
    for table in ("entries", "nodes"):
        backend.raw(f"ALTER TABLE {table} DISABLE TRIGGER USER")


def _text(value: str | None) -> str:
    return "NULL" if value is None else "'" + value.replace("'", "''") + "'"


Edit = tuple[str, str, int, str]  # (forge, restore, first bad seq, reason)


def _column_edit(backend: Backend, store: Store, column: str, seq: int) -> Edit:
    stored = next(iter(store.read(seq, seq + 1)))
    if column == "plan":
        forged, old = _text("forged" if stored.plan != "forged" else "other"), _text(stored.plan)
    elif column == "org":
        forged, old = "'intruder'", _text(stored.org)
    else:
        forged, old = _blob(backend, bytes(32)), _blob(backend, stored.leaf)
    where = f" WHERE seq = {seq}"
    return (
        f"UPDATE entries SET {column} = {forged}{where}",
        f"UPDATE entries SET {column} = {old}{where}",
        seq,
        f"stored column '{column}'",
    )


def _node_edit(backend: Backend, store: Store, level: int, index: int) -> Edit:
    old = store.stored_node(level, index)
    assert old is not None
    where = f" WHERE level = {level} AND idx = {index}"
    last = (index + 1) * 2**level - 1  # the entry that completes this subtree
    return (f"UPDATE nodes SET hash = {_blob(backend, bytes(32))}{where}",
            f"UPDATE nodes SET hash = {_blob(backend, old)}{where}", last,
            rf"stored Merkle node \({level}, {index}\)")  # fmt: skip


@given(data=st.data())
@EXAMPLES
def test_every_column_edit_is_found_at_its_entry(
    backend: Backend, keys: Keys, data: st.DataObject
) -> None:
    store = keys.store
    size = store.size()
    _unguard(backend)
    what = data.draw(st.sampled_from(["plan", "org", "leaf", "node"]), label="column")
    if what == "node":
        level = data.draw(st.integers(1, size.bit_length() - 1), label="level")
        index = data.draw(st.integers(0, size // 2**level - 1), label="index")
        forge, restore, bad, reason = _node_edit(backend, store, level, index)
    else:
        seq = data.draw(st.integers(0, size - 1), label="seq")
        forge, restore, bad, reason = _column_edit(backend, store, what, seq)
    backend.raw(forge)
    try:
        report = _verify(store)
    finally:
        backend.raw(restore)
    assert not report.ok and report.first_bad == bad, (what, report.summary())
    assert re.search(rf"^entry {bad}: {reason}", report.reason), report.reason
    assert _verify(store).ok  # restored


def test_an_edited_plan_column_fails_verify_of_the_sqlite_file(tmp_path: Path) -> None:
    from accord.ledger import open_source

    backend = SQLiteBackend(tmp_path / "ledger.db")
    with backend.open() as store:
        _keys_log(store)
    _unguard(backend)
    backend.raw("UPDATE entries SET plan = 'plan-1' WHERE plan = 'plan-0'")
    source = open_source(backend.path)
    try:
        report = verify_log(
            source.entries(), source.checkpoints, source.cosignatures, read_node=source.read_node
        )
    finally:
        source.close()
    assert report.first_bad == 5 and "stored column 'plan'" in report.reason


def test_an_operator_named_in_genesis_may_revoke_any_certificate(tmp_path: Path) -> None:
    from accord.ledger import SQLiteLedgerStore

    hub, ops, site = new_identity("hub"), new_identity("ops"), new_identity("hospital_a")
    orgs = [i.public.to_dict() for i in (hub, ops, site)]
    genesis = genesis_payload("test", "hub", orgs, operators=["ops"])
    with SQLiteLedgerStore(tmp_path / "ledger.db") as store:
        ledger = HubLedger.create(store, hub, "log-ops", genesis)
        ledger.record(ops, CERT_REVOKE, _cert("hospital_a"))
        with pytest.raises(LedgerError, match="by the hub, an operator or its own organisation"):
            ledger.record(site, CERT_REVOKE, _cert("ops"))
        ledger.checkpoint()
        assert _verify(store).ok
    with pytest.raises(LedgerError, match="'operators' must be a list"):
        HubLedger.create(
            SQLiteLedgerStore(tmp_path / "bad.db"), hub, "x", {**genesis, "operators": "ops"}
        )


def test_ledger_verify_names_an_edited_node_of_a_sqlite_file(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from accord.cli import app

    backend = SQLiteBackend(tmp_path / "ledger.db")
    with backend.open() as store:
        _keys_log(store)
    _unguard(backend)
    backend.raw(f"UPDATE nodes SET hash = {_blob(backend, bytes(32))} WHERE level = 2 AND idx = 1")
    result = CliRunner().invoke(app, ["ledger", "verify", str(backend.path)])
    assert result.exit_code == 9, result.output
    assert "FAILED at entry 7: entry 7: stored Merkle node (2, 1) disagrees" in result.output

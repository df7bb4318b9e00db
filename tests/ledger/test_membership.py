"""Admission and removal by signed entries (#15): the registry applies them, keeps roles,
and the hub and verify refuse forged ones, naming the entry."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from accord.core import LedgerError
from accord.crypto import Identity, new_identity
from accord.ledger import (
    KEY_ROTATE,
    MEMBER_ADMITTED,
    MEMBER_REMOVED,
    Entry,
    HubLedger,
    SQLiteLedgerStore,
    genesis_payload,
    sign_entry,
    verify_log,
)
from accord.ledger._log import _stored


@dataclass
class Members:
    ledger: HubLedger
    store: SQLiteLedgerStore
    hub: Identity
    operator: Identity
    site: Identity
    researcher: Identity


def _record(identity: Identity, role: str | None) -> dict[str, str]:
    record = identity.public.to_dict()
    return record if role is None else {**record, "role": role}


def _admission(identity: Identity, role: str = "site") -> dict[str, str]:
    return {**identity.public.to_dict(), "role": role}


@pytest.fixture
def members(tmp_path: Path) -> Members:
    hub, operator = new_identity("hub"), new_identity("ca-office")
    site, researcher = new_identity("hospital-a"), new_identity("lab")
    roles = {hub: "hub", operator: "operator", site: "site", researcher: "researcher"}
    orgs = [_record(i, role) for i, role in roles.items()]
    store = SQLiteLedgerStore(tmp_path / "ledger.sqlite")
    genesis = genesis_payload("test", "hub", orgs, operators=["ca-office"])
    ledger = HubLedger.create(store, hub, "log-members", genesis)
    return Members(ledger, store, hub, operator, site, researcher)


def _verify(store: SQLiteLedgerStore) -> Any:
    return verify_log(store.read(), store.checkpoints(), read_node=store.stored_node)


def test_genesis_roles_are_kept(members: Members) -> None:
    registry = members.ledger.verifier.registry
    assert registry.members() == {
        "ca-office": "operator",
        "hospital-a": "site",
        "hub": "hub",
        "lab": "researcher",
    }
    assert registry.role("hospital-a") == "site" and registry.role("nobody") is None


def test_a_genesis_without_roles_still_verifies_and_reads_hub_and_operators(
    tmp_path: Path,
) -> None:
    hub, op, site = new_identity("hub"), new_identity("op"), new_identity("site")
    orgs = [i.public.to_dict() for i in (hub, op, site)]
    store = SQLiteLedgerStore(tmp_path / "old.sqlite")
    ledger = HubLedger.create(store, hub, "log-old", genesis_payload("t", "hub", orgs, ["op"]))
    ledger.checkpoint()
    assert _verify(store).ok
    assert ledger.verifier.registry.members() == {"hub": "hub", "op": "operator", "site": None}


def test_admission_and_removal_by_the_hub_and_an_operator_verify(members: Members) -> None:
    m = members
    newcomer = new_identity("hospital-b")
    admitted = m.ledger.record(m.hub, MEMBER_ADMITTED, _admission(newcomer)).seq
    m.ledger.record(newcomer, "dataset.registered", {"dataset": "d-b"})
    before = m.ledger.record(m.site, "task.completed", {"plan": "p", "task": "t"}).seq
    removed = m.ledger.record(
        m.operator, MEMBER_REMOVED, {"org": "hospital-a", "reason": "left"}
    ).seq
    m.ledger.checkpoint()
    report = _verify(m.store)
    assert report.ok, report.reason
    assert report.kinds[MEMBER_ADMITTED] == 1 and report.kinds[MEMBER_REMOVED] == 1
    registry = m.ledger.verifier.registry
    assert "hospital-a" not in registry.members() and registry.role("hospital-a") == "site"
    assert registry.members()["hospital-b"] == "site"
    assert registry.keys[("hospital-b", newcomer.key_id)].added_seq == admitted
    assert registry.keys[("hospital-a", m.site.key_id)].revoked_seq == removed > before
    # the removed member's old signatures stay verifiable; new ones are refused
    with pytest.raises(LedgerError, match=rf"was revoked at entry {removed}"):
        m.ledger.record(m.site, "task.completed", {"plan": "p", "task": "t2"})


def test_removal_revokes_every_key_of_the_org(members: Members) -> None:
    m = members
    rotated = new_identity("hospital-a")
    m.ledger.record(m.site, KEY_ROTATE, rotated.public.to_dict())
    m.ledger.record(m.hub, MEMBER_REMOVED, {"org": "hospital-a", "reason": "breach"})
    for key in (m.site, rotated):
        with pytest.raises(LedgerError, match="was revoked at entry"):
            m.ledger.record(key, "task.completed", {"plan": "p", "task": "t"})


def test_a_removed_org_may_be_admitted_again_with_a_fresh_key(members: Members) -> None:
    m = members
    m.ledger.record(m.hub, MEMBER_REMOVED, {"org": "lab", "reason": "paused"})
    again = new_identity("lab")
    m.ledger.record(m.hub, MEMBER_ADMITTED, _admission(again, "researcher"))
    m.ledger.record(again, "function.registered", {"function": "f"})
    assert m.ledger.verifier.registry.members()["lab"] == "researcher"
    assert _verify(m.store).ok


def _tricks(m: Members) -> list[tuple[str, Identity, str, dict[str, str], str]]:
    fresh = new_identity("hospital-b")
    return [
        ("a site admits a member", m.site, MEMBER_ADMITTED, _admission(fresh),
         "an admission must be signed by the hub or a genesis operator"),
        ("a researcher removes a site", m.researcher, MEMBER_REMOVED,
         {"org": "hospital-a", "reason": "x"},
         "a removal must be signed by the hub or a genesis operator"),
        ("admit a current member", m.hub, MEMBER_ADMITTED,
         _admission(new_identity("hospital-a")), "hospital-a is already a member"),
        ("admit with a key the log knows", m.hub, MEMBER_ADMITTED,
         {**_admission(m.site), "org": "hospital-b"},
         rf"key {m.site.key_id} was already introduced for hospital-a at entry 0"),
        ("admit a second hub", m.hub, MEMBER_ADMITTED, _admission(fresh, "hub"),
         "role is not one of site, researcher"),
        ("admit an operator", m.hub, MEMBER_ADMITTED, _admission(fresh, "operator"),
         "role is not one of site, researcher"),
        ("admit with a wrong key id", m.hub, MEMBER_ADMITTED,
         {**_admission(fresh), "key_id": "0" * 16}, "key_id does not match the public key"),
        ("remove the hub", m.operator, MEMBER_REMOVED, {"org": "hub", "reason": "x"},
         "the hub cannot be removed"),
        ("remove a stranger", m.hub, MEMBER_REMOVED, {"org": "nobody", "reason": "x"},
         "nobody is not a member"),
        ("remove without a reason", m.hub, MEMBER_REMOVED, {"org": "lab"},
         "a removal names the organisation"),
    ]  # fmt: skip


def _forged(m: Members, signer: Identity, kind: str, payload: dict[str, str]) -> Any:
    seq, prev = m.ledger.slot()
    entry = Entry(
        m.ledger.log_id, seq, signer.org, signer.key_id, kind, payload, prev,
        "2026-12-07T00:00:00.000000Z",
    )  # fmt: skip
    return _stored(sign_entry(entry, signer))


@pytest.mark.parametrize("index", range(10))
def test_forged_membership_entries_are_refused_by_the_hub_and_by_verify(
    members: Members, index: int
) -> None:
    m = members
    name, signer, kind, payload, reason = _tricks(m)[index]
    size = m.store.size()
    with pytest.raises(LedgerError, match=rf"^entry {size} \({re.escape(kind)}\) by"):
        m.ledger.record(signer, kind, payload)
    assert m.store.size() == size, name
    report = verify_log([*m.store.read(), _forged(m, signer, kind, payload)])
    assert not report.ok and report.first_bad == size, name
    assert reason in report.reason or re.search(reason, report.reason), (name, report.reason)


def test_re_admitting_a_revoked_key_is_refused(members: Members) -> None:
    m = members
    removed = m.ledger.record(m.hub, MEMBER_REMOVED, {"org": "hospital-a", "reason": "x"}).seq
    size = m.store.size()
    payload = _admission(m.site)
    with pytest.raises(LedgerError, match=rf"was revoked at entry {removed} and never"):
        m.ledger.record(m.hub, MEMBER_ADMITTED, payload)
    report = verify_log([*m.store.read(), _forged(m, m.hub, MEMBER_ADMITTED, payload)])
    assert report.first_bad == size and "never becomes valid again" in report.reason


def test_a_genesis_with_an_unknown_role_is_refused(tmp_path: Path) -> None:
    hub = new_identity("hub")
    genesis = genesis_payload("t", "hub", [_record(hub, "king")])
    store = SQLiteLedgerStore(tmp_path / "l.sqlite")
    with pytest.raises(LedgerError, match="genesis record for hub: role is not one of"):
        HubLedger.create(store, hub, "log-x", genesis)

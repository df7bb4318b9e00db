"""A hub that forks its log is caught by a site's replica, which keeps verifiable evidence.

Two hub logs share a genesis and 20 entries, then diverge (one different entry each) and
are both checkpointed by the same hub key: a site that co-signed one and is then shown the
other writes an evidence file, refuses to co-sign and stops working for the hub. The
evidence verifies with the hub's public key alone, and with no other key or a changed
root. An honest hub never produces any.
"""

from __future__ import annotations

import base64
import json
import logging
from dataclasses import replace
from pathlib import Path

import pytest

from accord.core import EquivocationError, LedgerError
from accord.ledger import (
    EquivocationEvidence,
    HubLedger,
    SiteReplica,
    SQLiteLedgerStore,
    StoredCheckpoint,
    StoredEntry,
    anchor_of,
    compare_logs,
    find_evidence,
    load_evidence,
)
from accord.ledger._checkpoint import sign_checkpoint
from tests.ledger.conftest import Log, build_log


def fork(log: Log, folder: Path, extra: int = 0) -> HubLedger:
    """A second hub log with ``log``'s entries, then one other entry (``extra`` more),
    checkpointed; ``log`` gets one entry of its own and a checkpoint (size 21)."""
    store = SQLiteLedgerStore(folder / "fork.sqlite")
    store.append(list(log.ledger.store.read()))
    other = HubLedger(store, log.hub)
    log.ledger.record(log.site, "task.completed", {"plan": "plan-1", "task": "honest"})
    for i in range(1 + extra):
        other.record(log.site, "task.completed", {"plan": "plan-1", "task": f"fork-{i}"})
    log.ledger.checkpoint()
    other.checkpoint()
    return other


def replica(log: Log, folder: Path, name: str = "replica") -> SiteReplica:
    store = SQLiteLedgerStore(folder / f"{name}.sqlite")
    return SiteReplica(store, log.site, evidence_dir=folder / name / "evidence")


def hub_key(log: Log) -> bytes:
    return log.hub.public.public_key


def test_two_roots_for_one_size_leave_evidence_and_no_cosignature(
    log: Log, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    forked = fork(log, tmp_path)
    site = replica(log, tmp_path)
    site.sync(log.ledger)
    with (
        caplog.at_level(logging.INFO, logger="accord.ledger"),
        pytest.raises(EquivocationError, match="two different roots for size 21"),
    ):
        site.sync(forked)
    [line] = [r.getMessage() for r in caplog.records if r.name == "accord.ledger"]
    assert "refuses the hub" in line and "equivocation-21-fork.json" in line
    assert forked.store.cosignatures(21) == []
    [path] = site.evidence()
    assert path.name == "equivocation-21-fork.json"
    evidence = load_evidence(path)
    assert evidence.kind == "fork" and evidence.sizes == (21, 21) and evidence.site == "hospital_a"
    evidence.check(hub_key(log))


def test_a_site_holding_evidence_stops_working_for_the_hub(log: Log, tmp_path: Path) -> None:
    forked = fork(log, tmp_path)
    site = replica(log, tmp_path)
    site.sync(log.ledger)
    with pytest.raises(EquivocationError):
        site.sync(forked)
    log.ledger.record(log.other, "task.completed", {"plan": "p"})
    log.ledger.checkpoint()
    for attempt in (site.sync, site.pull):
        with pytest.raises(EquivocationError, match="holds equivocation evidence"):
            attempt(log.ledger)
    assert site.size == 21 and log.ledger.store.cosignatures(22) == []
    site.store.close()
    restarted = replica(log, tmp_path)  # a restart does not lift it
    with pytest.raises(EquivocationError, match="holds equivocation evidence"):
        restarted.sync(log.ledger)


def test_a_longer_fork_is_inconsistent_with_the_cosigned_checkpoint(
    log: Log, tmp_path: Path
) -> None:
    forked = fork(log, tmp_path, extra=2)  # the fork is at size 23
    site = replica(log, tmp_path)
    site.sync(log.ledger)
    with pytest.raises(EquivocationError, match="size 23 is not consistent with size 21"):
        site.sync(forked)
    evidence = load_evidence(site.evidence()[0])
    assert evidence.kind == "inconsistent" and evidence.sizes == (21, 23)
    evidence.check(hub_key(log))
    assert site.size == 21  # nothing of the fork was kept


def test_a_signed_root_other_than_the_entries_is_kept_as_evidence(log: Log, tmp_path: Path) -> None:
    site = replica(log, tmp_path)
    site.pull(log.ledger)
    forged = sign_checkpoint(log.ledger.log_id, 15, b"\x09" * 32, log.hub)
    with pytest.raises(EquivocationError, match="root mismatch"):
        site.check(log.ledger, forged)
    evidence = load_evidence(site.evidence()[0])
    assert evidence.kind == "root-mismatch" and evidence.site_root == log.ledger.store.root(15)
    evidence.check(hub_key(log))


def test_a_checkpoint_the_hub_did_not_sign_is_no_evidence(log: Log, tmp_path: Path) -> None:
    site = replica(log, tmp_path)
    site.sync(log.ledger)
    by_other = sign_checkpoint(log.ledger.log_id, 20, b"\x07" * 32, log.other)
    by_other = replace(by_other, org="hub", key_id=log.hub.key_id)  # claims to be the hub's
    with pytest.raises(LedgerError, match="not signed by that hub key") as caught:
        site.check(log.ledger, by_other)
    assert not isinstance(caught.value, EquivocationError)
    assert site.evidence() == []
    site.sync(log.ledger)  # the site still works for the hub


def _fork_evidence(log: Log, tmp_path: Path) -> EquivocationEvidence:
    forked = fork(log, tmp_path)
    site = replica(log, tmp_path)
    site.sync(log.ledger)
    with pytest.raises(EquivocationError):
        site.sync(forked)
    return load_evidence(site.evidence()[0])


def test_evidence_fails_with_another_key_or_a_tampered_root(log: Log, tmp_path: Path) -> None:
    evidence = _fork_evidence(log, tmp_path)
    with pytest.raises(LedgerError, match=r"evidence invalid: .* not signed by that hub key"):
        evidence.check(log.other.public.public_key)
    old, new = evidence.checkpoints
    doc = json.loads(new.body)
    doc["root"] = old.root.hex()
    body = json.dumps(doc, separators=(",", ":"), sort_keys=True).encode()
    tampered = replace(new, root=old.root, body=body)
    with pytest.raises(LedgerError, match="not signed by that hub key"):
        replace(evidence, checkpoints=(old, tampered)).check(hub_key(log))
    with pytest.raises(LedgerError, match="not canonical"):
        replace(evidence, checkpoints=(old, replace(new, root=old.root))).check(hub_key(log))
    with pytest.raises(LedgerError, match="not two roots for one size"):
        replace(evidence, checkpoints=(old, old)).check(hub_key(log))
    with pytest.raises(LedgerError, match="needs 2 checkpoints"):
        replace(evidence, checkpoints=(old,)).check(hub_key(log))


def test_inconsistent_evidence_fails_when_the_proof_holds(log: Log, tmp_path: Path) -> None:
    old = log.ledger.latest_checkpoint()
    assert old is not None
    log.ledger.record(log.other, "task.completed", {"plan": "p"})
    new = log.ledger.checkpoint()
    proof = tuple(log.ledger.store.consistency_proof(old.size, new.size))
    honest = EquivocationEvidence("inconsistent", "hospital_a", (old, new), proof)
    with pytest.raises(LedgerError, match="size 21 is consistent with size 20"):
        honest.check(hub_key(log))
    mine = EquivocationEvidence("root-mismatch", "hospital_a", (new,), site_root=new.root)
    with pytest.raises(LedgerError, match="site's root equals the signed root"):
        mine.check(hub_key(log))


def test_evidence_round_trips_and_holds_checkpoints_only(log: Log, tmp_path: Path) -> None:
    evidence = _fork_evidence(log, tmp_path)
    doc = evidence.to_json()
    assert EquivocationEvidence.from_json(json.loads(json.dumps(doc)), "x") == evidence
    assert {json.loads(c["body"])["type"] for c in doc["checkpoints"]} == {"checkpoint"}
    assert "task" not in json.dumps(doc)  # no entry, so no payload, is in it
    with pytest.raises(LedgerError, match="x: field 'kind'"):
        EquivocationEvidence.from_json({**doc, "kind": "other"}, "x")
    with pytest.raises(LedgerError, match="x: field 'format'"):
        EquivocationEvidence.from_json({**doc, "format": "nope"}, "x")
    bad = {**doc, "checkpoints": [{**doc["checkpoints"][0], "signature": "!!"}]}
    with pytest.raises(LedgerError, match="x: a checkpoint, 'proof' or 'site_root'"):
        EquivocationEvidence.from_json(bad, "x")
    (tmp_path / "junk.json").write_text("{")
    with pytest.raises(LedgerError, match=r"junk\.json: not a readable JSON evidence file"):
        load_evidence(tmp_path / "junk.json")


def test_an_honest_hub_never_produces_evidence(log: Log, tmp_path: Path) -> None:
    sites = [replica(log, tmp_path, name) for name in ("a", "b", "c")]
    for round_ in range(6):
        for i in range(round_ + 1):
            log.ledger.record(log.other, "task.completed", {"plan": "p", "task": f"{round_}.{i}"})
        log.ledger.checkpoint()
        for k, site in enumerate(sites):
            if (round_ + k) % 2 == 0:  # sites skip syncs: proofs span several checkpoints
                assert site.sync(log.ledger) is not None
    for site in sites:
        site.sync(log.ledger)
        site.sync(log.ledger)  # the same checkpoint twice is no conflict
        assert site.evidence() == [] and site.size == log.ledger.store.size()
    assert find_evidence(tmp_path / "a" / "evidence") == []


def test_a_replica_pins_the_consortium_anchor(log: Log, tmp_path: Path) -> None:
    anchor = anchor_of(next(iter(log.ledger.store.read(0, 1))))
    (tmp_path / "other").mkdir()
    stranger = build_log(tmp_path / "other", n=3)
    foreign = SiteReplica(SQLiteLedgerStore(tmp_path / "f.sqlite"), log.site, anchor=anchor)
    with pytest.raises(LedgerError, match="anchor mismatch: field 'genesis'"):
        foreign.sync(stranger.ledger)
    assert foreign.size == 0
    pinned = SiteReplica(SQLiteLedgerStore(tmp_path / "p.sqlite"), log.site, anchor=anchor)
    assert pinned.sync(log.ledger) is not None
    pinned.store.close()
    other = anchor_of(next(iter(stranger.ledger.store.read(0, 1))))
    with pytest.raises(LedgerError, match="anchor mismatch"):
        SiteReplica(SQLiteLedgerStore(tmp_path / "p.sqlite"), log.site, anchor=other)
    hub_key_changed = replace(anchor, hub_public_key=base64.b64encode(b"\x01" * 32).decode())
    with pytest.raises(LedgerError, match="field 'hub_public_key'"):
        SiteReplica(
            SQLiteLedgerStore(tmp_path / "q.sqlite"), log.site, anchor=hub_key_changed
        ).pull(log.ledger)


def _log_of(ledger: HubLedger) -> tuple[list[StoredEntry], list[StoredCheckpoint]]:
    return list(ledger.store.read()), ledger.store.checkpoints()


def test_comparing_two_copies_finds_a_fork_neither_shows_alone(log: Log, tmp_path: Path) -> None:
    forked = fork(log, tmp_path)
    found = compare_logs(_log_of(log.ledger), _log_of(forked), hub_key(log), "auditor")
    assert [(e.kind, e.sizes) for e in found] == [("fork", (21, 21))]
    found[0].check(hub_key(log))
    (tmp_path / "b").mkdir()
    second = build_log(tmp_path / "b")
    longer = fork(second, tmp_path / "b", extra=2)
    key = hub_key(second)
    [inconsistent] = compare_logs(_log_of(second.ledger), _log_of(longer), key, "auditor")
    assert inconsistent.kind == "inconsistent" and inconsistent.sizes == (21, 23)
    inconsistent.check(key)


def test_comparing_an_honest_hub_with_a_replica_finds_nothing(log: Log, tmp_path: Path) -> None:
    site = replica(log, tmp_path)
    site.sync(log.ledger)
    for i in range(5):
        log.ledger.record(log.other, "task.completed", {"plan": "p", "task": str(i)})
        log.ledger.checkpoint()
        if i % 2:
            site.sync(log.ledger)
    ours = (list(site.store.read()), site.store.checkpoints())
    assert compare_logs(_log_of(log.ledger), ours, hub_key(log), "auditor") == []
    assert compare_logs(ours, _log_of(log.ledger), hub_key(log), "auditor") == []
    # checkpoints another key signed do not count as the hub's word
    assert compare_logs(_log_of(log.ledger), ours, log.other.public.public_key, "x") == []

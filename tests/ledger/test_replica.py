"""Site replicas pull, verify, co-sign, and catch a hub that equivocates or rewrites."""

from __future__ import annotations

from pathlib import Path

import pytest

from accord.core import EquivocationError, LedgerError
from accord.ledger import SiteReplica, SQLiteLedgerStore
from accord.ledger._checkpoint import sign_checkpoint
from tests.ledger.conftest import Log


def _replica(log: Log, tmp_path: Path) -> SiteReplica:
    return SiteReplica(SQLiteLedgerStore(tmp_path / "replica.sqlite"), log.site)


def test_replica_syncs_verifies_and_cosigns(log: Log, tmp_path: Path) -> None:
    replica = _replica(log, tmp_path)
    cs = replica.sync(log.ledger)
    assert cs is not None and cs.size == 20
    assert replica.store.root() == log.ledger.store.root()
    assert any(c.org == "hospital_a" for c in log.ledger.store.cosignatures(20))
    log.ledger.record(log.other, "task.completed", {"plan": "p"})
    log.ledger.checkpoint()
    assert replica.sync(log.ledger) is not None and replica.size == 21


def test_a_second_root_for_the_same_size_is_equivocation(log: Log, tmp_path: Path) -> None:
    replica = _replica(log, tmp_path)
    replica.sync(log.ledger)
    forged = sign_checkpoint(log.ledger.log_id, 20, b"\x07" * 32, log.hub)
    with pytest.raises(EquivocationError, match="two different roots for size 20"):
        replica.check(log.ledger, forged)


def test_a_checkpoint_that_does_not_match_the_entries_is_refused(log: Log, tmp_path: Path) -> None:
    replica = _replica(log, tmp_path)
    replica.pull(log.ledger)
    forged = sign_checkpoint(log.ledger.log_id, 15, b"\x09" * 32, log.hub)
    with pytest.raises(LedgerError, match="root mismatch"):
        replica.check(log.ledger, forged)


def test_a_forged_entry_on_the_hub_is_refused_by_the_replica(log: Log, tmp_path: Path) -> None:
    from accord.ledger import Entry, sign_entry
    from accord.ledger._log import _stored

    seq, _ = log.ledger.slot()
    bad = Entry(
        log.ledger.log_id,
        seq,
        "hospital_a",
        log.site.key_id,
        "task.completed",
        {"plan": "p"},
        "f" * 64,
        "2026-11-28T00:00:00.000000Z",
    )
    log.ledger.store.append([_stored(sign_entry(bad, log.site))])  # a hub bypassing checks
    replica = _replica(log, tmp_path)
    with pytest.raises(LedgerError, match="broken chain"):
        replica.pull(log.ledger)
    assert replica.size == 0 or replica.size <= seq  # nothing unverified was kept

"""verify finds every tampering, at the right entry, and names the reason."""

from __future__ import annotations

import base64
import json
import sqlite3
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from accord.core import EquivocationError, LedgerError
from accord.crypto import new_identity
from accord.ledger import (
    KEY_REVOKE,
    KEY_ROTATE,
    Entry,
    HubLedger,
    SQLiteLedgerStore,
    export_bundle,
    open_source,
    sign_entry,
)
from accord.ledger._checkpoint import check_equivocation, sign_checkpoint
from accord.ledger._verify import VerifyReport, verify_log
from tests.ledger.conftest import Log, build_log


def _verify(path: Path) -> VerifyReport:
    source = open_source(path)
    try:
        return verify_log(source.entries(), source.checkpoints, source.cosignatures)
    finally:
        source.close()


def _bundle_lines(log: Log, tmp: Path) -> list[str]:
    out = tmp / "bundle.jsonl"
    export_bundle(log.ledger.store, out)
    return out.read_text().splitlines()


def _write(tmp: Path, lines: list[str]) -> Path:
    path = tmp / "tampered.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return path


def _entry_line_index(lines: list[str], seq: int) -> int:
    for i, line in enumerate(lines):
        record = json.loads(line)
        if record["type"] == "entry" and record["seq"] == seq:
            return i
    raise AssertionError(seq)


def test_an_honest_log_verifies_with_its_checkpoints(log: Log, tmp_path: Path) -> None:
    report = _verify(log.path)
    assert report.ok, report.reason
    assert report.size == 20 and report.checkpoints == 2
    assert report.root == log.ledger.store.root()
    bundle = _write(tmp_path, _bundle_lines(log, tmp_path))
    assert _verify(bundle).ok


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    seq=st.integers(0, 19),
    position=st.integers(0, 10_000),
    field=st.sampled_from(["entry", "signature"]),
)
def test_flipping_any_byte_is_caught_at_that_entry(
    log: Log, tmp_path: Path, seq: int, position: int, field: str
) -> None:
    lines = _bundle_lines(log, tmp_path)
    i = _entry_line_index(lines, seq)
    record = json.loads(lines[i])
    data = bytearray(base64.b64decode(record[field]))
    data[position % len(data)] ^= 0x01
    record[field] = base64.b64encode(bytes(data)).decode()
    lines[i] = json.dumps(record)
    report = _verify(_write(tmp_path, lines))
    assert not report.ok
    assert report.first_bad == seq, report.reason


@pytest.mark.parametrize("seq", [0, 5, 19])
def test_dropping_an_entry_is_a_sequence_gap(log: Log, tmp_path: Path, seq: int) -> None:
    lines = _bundle_lines(log, tmp_path)
    del lines[_entry_line_index(lines, seq)]
    report = _verify(_write(tmp_path, lines))
    assert not report.ok
    if seq == 19:  # the last entry: the log is shorter than its checkpoint says
        assert "beyond the log" in report.reason
    else:
        assert report.first_bad == seq and "sequence gap" in report.reason


def test_reordering_entries_is_caught(log: Log, tmp_path: Path) -> None:
    lines = _bundle_lines(log, tmp_path)
    a, b = _entry_line_index(lines, 7), _entry_line_index(lines, 8)
    lines[a], lines[b] = lines[b], lines[a]
    report = _verify(_write(tmp_path, lines))
    assert report.first_bad == 7 and "sequence gap" in report.reason


def test_inserting_a_validly_signed_entry_breaks_the_chain(log: Log, tmp_path: Path) -> None:
    lines = _bundle_lines(log, tmp_path)
    i = _entry_line_index(lines, 6)
    old = Entry.parse(base64.b64decode(json.loads(lines[i])["entry"]))
    forged = Entry(
        old.log_id,
        6,
        log.site.org,
        log.site.key_id,
        "task.completed",
        {"plan": "plan-1", "forged": True},
        "0" * 64,
        old.time,
    )
    signed = sign_entry(forged, log.site)
    record = {
        "type": "entry",
        "seq": 6,
        "org": forged.org,
        "kind": forged.kind,
        "plan": "plan-1",
        "entry": base64.b64encode(signed.raw).decode(),
        "signature": base64.b64encode(signed.signature).decode(),
    }
    lines[i] = json.dumps(record)
    report = _verify(_write(tmp_path, lines))
    assert report.first_bad == 6 and "broken chain" in report.reason


def test_tampering_inside_the_store_is_caught(log: Log) -> None:
    log.ledger.store.close()
    db = sqlite3.connect(log.path)
    triggers = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='trigger'")]
    for name in triggers:
        db.execute(f"DROP TRIGGER {name}")
    raw = db.execute("SELECT entry FROM entries WHERE seq = 4").fetchone()[0]
    db.execute("UPDATE entries SET entry = ? WHERE seq = 4", (raw.replace(b"task-3", b"task-9"),))
    db.commit()
    db.close()
    report = _verify(log.path)
    assert report.first_bad == 4 and "bad signature" in report.reason


def test_non_canonical_encoding_is_refused() -> None:
    raw = b'{"v": 1}'
    with pytest.raises(LedgerError, match="non-canonical"):
        Entry.parse(raw)


def test_floats_are_refused_in_payloads(log: Log) -> None:
    with pytest.raises(LedgerError, match="not canonical JSON"):
        log.ledger.record(log.hub, "metric", {"value": 0.5})


def test_unknown_key_is_refused_by_the_hub(log: Log) -> None:
    stranger = new_identity("intruder")
    with pytest.raises(LedgerError, match="unknown key intruder"):
        log.ledger.record(stranger, "task.completed", {"plan": "p"})
    assert log.ledger.store.size() == 20  # nothing appended


def test_rotation_and_revocation(tmp_path: Path) -> None:
    log = build_log(tmp_path, n=4)
    new_key = new_identity("hospital_a")
    log.ledger.record(log.site, KEY_ROTATE, new_key.public.to_dict())
    seq = log.ledger.record(new_key, "task.completed", {"plan": "p"}).seq
    log.ledger.record(new_key, KEY_REVOKE, {"org": "hospital_a", "key_id": log.site.key_id})
    with pytest.raises(LedgerError, match="revoked"):
        log.ledger.record(log.site, "task.completed", {"plan": "p"})
    log.ledger.checkpoint()
    report = _verify(log.path)
    assert report.ok, report.reason  # old signatures stay verifiable
    assert seq > 0


def test_an_entry_signed_after_revocation_is_rejected_by_verify(tmp_path: Path) -> None:
    log = build_log(tmp_path, n=4)
    log.ledger.record(log.hub, KEY_REVOKE, {"org": "hospital_a", "key_id": log.site.key_id})
    seq, prev = log.ledger.slot()
    late = Entry(
        log.ledger.log_id,
        seq,
        log.site.org,
        log.site.key_id,
        "task.completed",
        {"plan": "p"},
        prev,
        "2026-11-28T00:00:00.000000Z",
    )
    signed = sign_entry(late, log.site)
    store = log.ledger.store
    from accord.ledger._log import _stored  # the raw append path, bypassing the hub's checks

    store.append([_stored(signed)])
    report = _verify(log.path)
    assert report.first_bad == seq and "revoked" in report.reason


def test_equivocation_is_reported_with_evidence(log: Log) -> None:
    store = log.ledger.store
    honest = sign_checkpoint("log-test", 10, store.root(10), log.hub)
    lying = sign_checkpoint("log-test", 10, b"\x01" * 32, log.hub)
    with pytest.raises(EquivocationError, match="two different roots for size 10") as info:
        check_equivocation([honest], lying)
    assert "evidence" in str(info.value)


def test_a_checkpoint_with_a_wrong_root_fails_verify(log: Log, tmp_path: Path) -> None:
    lines = _bundle_lines(log, tmp_path)
    for i, line in enumerate(lines):
        record = json.loads(line)
        if record["type"] == "checkpoint" and record["size"] == 20:
            forged = sign_checkpoint("log-test", 20, b"\x02" * 32, log.hub)
            record.update(
                root=forged.root.hex(),
                body=base64.b64encode(forged.body).decode(),
                signature=base64.b64encode(forged.signature).decode(),
            )
            lines[i] = json.dumps(record)
    report = _verify(_write(tmp_path, lines))
    assert not report.ok and "root mismatch" in report.reason


def test_hub_ledger_resumes_from_an_existing_store(log: Log) -> None:
    log.ledger.store.close()
    store = SQLiteLedgerStore(log.path, create=False)
    ledger = HubLedger(store, log.hub)
    assert ledger.slot()[0] == 20
    ledger.record(log.site, "task.completed", {"plan": "p"})
    assert store.size() == 21

"""A log must end in a checkpoint co-signed by every site, and match its anchor.

Truncation with and without the checkpoints above the cut, removed checkpoints or
co-signatures, a re-forged genesis: each is found with its reason, on every store
(SQLite; PostgreSQL marked ``pg``) and on bundles, whose sections may come in any order.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from accord.core import LedgerError
from accord.crypto import new_identity
from accord.ledger import (
    HubLedger,
    StoredCheckpoint,
    StoredCosignature,
    StoredEntry,
    anchor_of,
    export_bundle,
    genesis_payload,
    load_anchor,
    open_source,
    verify_log,
    write_anchor,
)
from accord.ledger._checkpoint import cosign
from accord.ledger._verify import VerifyReport
from tests.ledger.stores import Backend, SQLiteBackend, Store

SITES = ("hospital_a", "hospital_b")


@dataclass
class Parts:
    entries: list[StoredEntry]
    checkpoints: list[StoredCheckpoint]
    cosignatures: list[StoredCosignature]

    def verify(self) -> VerifyReport:
        return verify_log(iter(self.entries), self.checkpoints, self.cosignatures)

    def cut(self, size: int, *, keep_checkpoints: bool) -> Parts:
        """The first ``size`` entries; with or without the checkpoints above the cut."""
        cps = [c for c in self.checkpoints if keep_checkpoints or c.size <= size]
        css = [c for c in self.cosignatures if keep_checkpoints or c.size <= size]
        return Parts(self.entries[:size], cps, css)


def build(store: Store, n: int = 12) -> Parts:
    """A signed log: genesis, two sites' datasets, n entries, checkpoints every 4, and the
    final one co-signed by both sites."""
    hub = new_identity("hub")
    sites = [new_identity(name) for name in SITES]
    orgs = [i.public.to_dict() for i in (hub, *sites)]
    ledger = HubLedger.create(store, hub, "log-c", genesis_payload("c", "hub", orgs))
    for site in sites:
        ledger.record(site, "dataset.registered", {"dataset": f"{site.org}.c"})
    for i in range(n):
        ledger.record(sites[i % 2], "task.completed", {"task": f"t{i}"})
        if i % 4 == 3:
            cp = ledger.checkpoint()
            for site in sites:
                ledger.add_cosignature(cosign(cp, site))
    return Parts(list(store.read()), store.checkpoints(), store.cosignatures())


@pytest.fixture
def parts(backend: Backend) -> Iterator[Parts]:
    with backend.open() as store:
        yield build(store)


def test_an_honest_log_ends_cosigned(parts: Parts) -> None:
    report = parts.verify()
    assert report.ok and report.uncovered == 0 and report.missing_cosigners() == []
    assert report.tail() == f"final size {report.size}, covered by the last checkpoint"


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_a_cut_with_the_checkpoints_above_it_is_refused(parts: Parts, data: st.DataObject) -> None:
    size = data.draw(st.integers(1, len(parts.entries) - 1))
    report = parts.cut(size, keep_checkpoints=True).verify()
    assert not report.ok and "is beyond the log" in report.reason


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_a_cut_without_the_checkpoints_above_shows_its_size(
    parts: Parts, data: st.DataObject
) -> None:
    """Undetectable from the log alone: the report says the final size for the auditor to
    compare with a replica; an uncovered tail is listed."""
    size = data.draw(st.integers(1, len(parts.entries) - 1))
    report = parts.cut(size, keep_checkpoints=False).verify()
    assert report.ok and report.size == size
    assert f"final size {size}" in report.tail()
    if report.uncovered:
        assert f"(seq {report.covered}..{size - 1})" in report.tail()
        registered = list(SITES)[: max(0, size - 1)]  # entries 1 and 2 register the datasets
        assert report.missing_cosigners() == registered


def test_removing_the_last_checkpoint_leaves_an_uncovered_tail(parts: Parts) -> None:
    last = max(c.size for c in parts.checkpoints)
    cps = [c for c in parts.checkpoints if c.size < last]
    css = [c for c in parts.cosignatures if c.size < last]
    report = Parts(parts.entries, cps, css).verify()
    assert report.ok and report.uncovered == len(parts.entries) - report.covered > 0
    assert report.missing_cosigners() == list(SITES)


@pytest.mark.parametrize("dropped", [(), ("hospital_a",), SITES])
def test_removed_cosignatures_are_named(parts: Parts, dropped: tuple[str, ...]) -> None:
    css = [c for c in parts.cosignatures if c.org not in dropped]
    report = Parts(parts.entries, parts.checkpoints, css).verify()
    assert report.ok and report.missing_cosigners() == sorted(dropped)


def test_all_checkpoints_removed(parts: Parts) -> None:
    report = Parts(parts.entries, [], []).verify()
    assert report.ok and report.covered == 0 and report.uncovered == len(parts.entries)
    assert report.missing_cosigners() == list(SITES)


def test_a_reforged_genesis_mismatches_the_anchor(backend: Backend, tmp_path: Path) -> None:
    with backend.open() as store:
        honest = build(store)
    forged = SQLiteBackend(tmp_path / "forged.db")
    with forged.open() as store:
        other = build(store)  # same organisation names, the attacker's keys
    assert other.verify().ok
    pinned = anchor_of(honest.entries[0])
    write_anchor(tmp_path / "anchor.json", pinned)
    assert load_anchor(tmp_path / "anchor.json") == pinned
    assert pinned.mismatch(anchor_of(honest.entries[0])) is None
    assert pinned.mismatch(anchor_of(other.entries[0])) == "genesis"


# --- bundles ------------------------------------------------------------------------------


def _bundle(backend: Backend, tmp_path: Path) -> list[str]:
    out = tmp_path / "b.jsonl"
    with backend.open() as store:
        build(store)
        export_bundle(store, out)
    return out.read_text().splitlines()


def _verify_lines(tmp_path: Path, lines: list[str]) -> VerifyReport:
    path = tmp_path / "t.jsonl"
    path.write_text("\n".join(lines) + "\n")
    source = open_source(path)
    try:
        return verify_log(source.entries(), source.checkpoints, source.cosignatures)
    finally:
        source.close()


def test_bundle_sections_in_any_order_are_read(backend: Backend, tmp_path: Path) -> None:
    lines = _bundle(backend, tmp_path)
    entries = [x for x in lines[1:] if json.loads(x)["type"] == "entry"]
    rest = [x for x in lines[1:] if json.loads(x)["type"] != "entry"]
    report = _verify_lines(tmp_path, [lines[0], *entries, *reversed(rest)])
    assert report.ok and report.uncovered == 0 and report.missing_cosigners() == []
    assert report.checkpoints == len([x for x in rest if '"checkpoint"' in x])


def test_bundle_without_checkpoints_or_cosignatures(backend: Backend, tmp_path: Path) -> None:
    lines = _bundle(backend, tmp_path)
    for drop in ("cosignature", "checkpoint"):
        kept = [x for x in lines if json.loads(x)["type"] not in (drop, "cosignature")]
        report = _verify_lines(tmp_path, kept)
        assert report.ok and report.missing_cosigners() == list(SITES)


@pytest.mark.parametrize(
    ("tail", "match"),
    [
        ([], "empty ledger"),
        (['{"type": "mystery"}'], "line 2: field 'type' is not a known record type"),
    ],
)
def test_bundles_refused(tmp_path: Path, tail: list[str], match: str) -> None:
    header = json.dumps({"type": "header", "format": "accord-ledger-bundle", "version": 1})
    path = tmp_path / "h.jsonl"
    path.write_text("\n".join([header, *tail]) + "\n")
    with pytest.raises(LedgerError, match=f"h.jsonl: {match}" if not tail else match):
        open_source(path)


def test_a_non_utf8_line_names_file_and_line(backend: Backend, tmp_path: Path) -> None:
    lines = _bundle(backend, tmp_path)
    path = tmp_path / "bad.jsonl"
    path.write_bytes(("\n".join(lines[:3]) + "\n").encode() + b"\xff\xfe\n")
    with pytest.raises(LedgerError, match=r"bad\.jsonl: line 4: not UTF-8 text"):
        open_source(path)

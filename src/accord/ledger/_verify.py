"""Offline verification of a whole log, streaming (memory flat in the log's size).

Checks, entry by entry: sequence numbers without gap, canonical encoding, the hash chain,
that the signing key is known and not revoked, the Ed25519 signature; then that every
checkpoint's root equals the Merkle root recomputed at its size, that the hub signed it,
and every co-signature. The unsigned columns a store derives (``org``, ``kind``, ``plan``)
must equal the signed entry; given the store's node reader, so must its ``leaf`` column and
every stored Merkle node (what proofs are cut from). The first failure is reported with
the entry and the reason.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from accord.core import EquivocationError, LedgerError
from accord.ledger._checkpoint import check_equivocation, parse_checkpoint
from accord.ledger._entry import ZERO_HASH, Entry
from accord.ledger._merkle import CompactRange
from accord.ledger._registry import GENESIS, KeyRegistry
from accord.ledger._signing import verify_signature
from accord.ledger._store import StoredCheckpoint, StoredCosignature, StoredEntry

# Organisations that register a dataset hold data: they are the sites that must co-sign.
DATASET_REGISTERED = "dataset.registered"

__all__ = ["NodeReader", "Verifier", "VerifyReport", "verify_log"]

NodeReader = Callable[[int, int], bytes | None]
"""``(level, index) -> hash``: a store's leaf (level 0) or inner node, None if absent."""


@dataclass
class VerifyReport:
    ok: bool
    size: int
    root: bytes
    checkpoints: int = 0
    cosignatures: int = 0
    first_bad: int | None = None
    reason: str = ""
    kinds: Counter[str] = field(default_factory=Counter)
    covered: int = 0
    final_cosigners: frozenset[str] = frozenset()
    data_holders: frozenset[str] = frozenset()
    genesis: StoredEntry | None = None

    @property
    def uncovered(self) -> int:
        """Entries after the last verified checkpoint (0: the log ends in a checkpoint)."""
        return self.size - self.covered

    def tail(self) -> str:
        """Where the log's end stands against its last checkpoint, in words."""
        if self.size == 0:
            return "empty ledger"
        if self.uncovered == 0:
            return f"final size {self.size}, covered by the last checkpoint"
        return (
            f"final size {self.size}; {self.uncovered} entries (seq {self.covered}.."
            f"{self.size - 1}) are not covered by any checkpoint"
        )

    def missing_cosigners(self) -> list[str]:
        """Sites (organisations that registered a dataset) that did not co-sign the last
        checkpoint, or every such site when the log has no checkpoint over its end."""
        if self.uncovered:
            return sorted(self.data_holders)
        return sorted(self.data_holders - self.final_cosigners)

    def summary(self) -> str:
        if self.ok:
            return (
                f"OK: {self.size} entries, root {self.root.hex()}, {self.checkpoints} "
                f"checkpoints, {self.cosignatures} co-signatures verified"
            )
        where = f"entry {self.first_bad}" if self.first_bad is not None else "log"
        return f"FAILED at {where}: {self.reason}"


class Verifier:
    """Incremental verifier: feed entries in order; check checkpoints as sizes are reached."""

    def __init__(self, read_node: NodeReader | None = None) -> None:
        self.read_node = read_node
        self.registry = KeyRegistry()
        self.range = CompactRange()
        self.prev = ZERO_HASH
        self.log_id: str | None = None
        self.kinds: Counter[str] = Counter()

    @property
    def size(self) -> int:
        return self.range.size

    def feed(self, stored: StoredEntry) -> None:
        """Verify one entry at position ``self.size``; raise LedgerError with the reason."""
        if stored.seq != self.size:
            raise LedgerError(f"sequence gap: expected entry {self.size}, found {stored.seq}")
        entry = Entry.parse(stored.entry)
        self._check_envelope(stored, entry)
        if entry.prev != self.prev:
            raise LedgerError("broken chain: prev is not the hash of the previous entry")
        if entry.kind == GENESIS:
            public = self.registry.genesis_key(entry)
        elif self.size == 0:
            raise LedgerError("the first entry must be the genesis entry")
        else:
            public = self.registry.key_for(entry).public_key
        if not verify_signature(public, stored.signature, stored.entry):
            raise LedgerError(f"bad signature (author {entry.org}, key {entry.key_id})")
        self.registry.apply(entry)
        leaf = stored.leaf
        if self.read_node is not None:
            _check_nodes(self.read_node, stored.seq, self.range.copy().append(leaf))
        self.range.append(leaf)
        self.prev = leaf.hex()
        self.kinds[entry.kind] += 1

    def _check_envelope(self, stored: StoredEntry, entry: Entry) -> None:
        if entry.seq != stored.seq:
            raise LedgerError(f"sequence mismatch: stored at {stored.seq}, entry says {entry.seq}")
        if self.log_id is None:
            self.log_id = entry.log_id
        elif entry.log_id != self.log_id:
            raise LedgerError("entry belongs to another log (log_id differs)")
        plan = entry.payload.get("plan")
        derived = {
            "org": entry.org,
            "kind": entry.kind,
            "plan": None if plan is None else str(plan),
        }
        for column, value in derived.items():
            if getattr(stored, column) != value:
                raise LedgerError(
                    f"entry {stored.seq}: stored column '{column}' disagrees with the signed entry"
                )

    def check_checkpoint(self, cp: StoredCheckpoint) -> None:
        """The log so far (exactly ``cp.size`` entries) has the signed root."""
        body = parse_checkpoint(cp)
        if cp.size != self.size:
            raise LedgerError(f"checkpoint for size {cp.size} checked at size {self.size}")
        if body.log_id != self.log_id:
            raise LedgerError(f"checkpoint at size {cp.size} belongs to another log")
        if cp.root != self.range.root():
            raise LedgerError(f"root mismatch: checkpoint at size {cp.size} signs another root")
        if cp.org != self.registry.hub:
            raise LedgerError(f"checkpoint at size {cp.size} is not signed by the hub")
        public = self.registry.public_key(cp.org, cp.key_id, max(cp.size - 1, 0))
        if not verify_signature(public, cp.signature, cp.body):
            raise LedgerError(f"bad checkpoint signature at size {cp.size}")

    def check_cosignature_any(
        self, cs: StoredCosignature, checkpoints: Sequence[StoredCheckpoint]
    ) -> None:
        """The co-signature signs one of the (verified) checkpoints of its size."""
        for cp in checkpoints:
            try:
                self.check_cosignature(cs, cp)
                return
            except LedgerError:
                continue
        raise LedgerError(f"bad co-signature by {cs.org} at size {cs.size}")

    def check_cosignature(self, cs: StoredCosignature, cp: StoredCheckpoint) -> None:
        public = self.registry.public_key(cs.org, cs.key_id, max(cp.size - 1, 0))
        if cs.root != cp.root or not verify_signature(public, cs.signature, cp.body):
            raise LedgerError(f"bad co-signature by {cs.org} at size {cp.size}")


def _check_nodes(read_node: NodeReader, seq: int, completed: list[tuple[int, int, bytes]]) -> None:
    """The store's leaf column and the subtrees entry ``seq`` completes are as recomputed."""
    for level, index, node in completed:
        found = read_node(level, index)
        if found == node:
            continue
        what = "stored column 'leaf'" if level == 0 else f"stored Merkle node ({level}, {index})"
        state = "is missing" if found is None else "disagrees with the signed entry"
        raise LedgerError(f"entry {seq}: {what} {state}")


Checks = tuple[list[StoredCheckpoint], list[StoredCosignature]]


def _plan_checks(
    checkpoints: Sequence[StoredCheckpoint], cosignatures: Sequence[StoredCosignature]
) -> dict[int, Checks]:
    """Checkpoints and co-signatures grouped by size (the hub may re-sign one size)."""
    by_size: dict[int, Checks] = {}
    seen: list[StoredCheckpoint] = []
    for cp in sorted(checkpoints, key=lambda c: c.size):
        check_equivocation(seen, cp)
        seen.append(cp)
        by_size.setdefault(cp.size, ([], []))[0].append(cp)
    for cs in cosignatures:
        if cs.size not in by_size:
            raise LedgerError(
                f"co-signature by {cs.org} for size {cs.size}, which has no checkpoint"
            )
        by_size[cs.size][1].append(cs)
    return by_size


def verify_log(
    entries: Iterable[StoredEntry],
    checkpoints: Sequence[StoredCheckpoint] = (),
    cosignatures: Sequence[StoredCosignature] = (),
    *,
    read_node: NodeReader | None = None,
) -> VerifyReport:
    """Verify everything; never raises for a bad log, reports the first failure instead.

    ``read_node`` (a store's :meth:`~accord.ledger._tree.TreeStore.stored_node`) also checks
    the store's leaf column and Merkle nodes; a bundle has none.
    """
    verifier = Verifier(read_node)
    report = VerifyReport(ok=True, size=0, root=b"")
    holders: set[str] = set()
    try:
        pending = _plan_checks(checkpoints, cosignatures)
        for stored in entries:
            try:
                verifier.feed(stored)
            except LedgerError:
                report.first_bad = verifier.size
                raise
            if report.genesis is None:
                report.genesis = stored
            if stored.kind == DATASET_REGISTERED:
                holders.add(stored.org)
            _run_checks(verifier, pending.pop(verifier.size, ([], [])), report)
        if 0 in pending:
            _run_checks(verifier, pending.pop(0), report)
        if pending:
            raise LedgerError(f"checkpoint for size {max(pending)} is beyond the log")
    except (LedgerError, EquivocationError) as exc:
        report.ok, report.reason = False, str(exc)
    report.size, report.root, report.kinds = verifier.size, verifier.range.root(), verifier.kinds
    report.data_holders = frozenset(holders)
    return report


def _run_checks(verifier: Verifier, checks: Checks, report: VerifyReport) -> None:
    checkpoints, cosignatures = checks
    for cp in checkpoints:
        verifier.check_checkpoint(cp)
        report.checkpoints += 1
    for cs in cosignatures:
        verifier.check_cosignature_any(cs, checkpoints)
        report.cosignatures += 1
    if checkpoints:
        report.covered = verifier.size
        report.final_cosigners = frozenset(cs.org for cs in cosignatures)

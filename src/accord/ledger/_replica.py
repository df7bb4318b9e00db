"""A site's replica of the consortium ledger: pull, verify, co-sign.

The replica never trusts the hub: it verifies every entry it pulls (signature, chain, key
registry, canonical encoding), checks that the hub's new checkpoint is consistent with the
last one it co-signed (RFC 6962 consistency proof) and equals its own recomputed root, and
keeps every checkpoint it was shown, so that two roots for one size are caught as
equivocation with both signed checkpoints as evidence.
"""

from __future__ import annotations

from accord.core import LedgerError
from accord.ledger._checkpoint import check_equivocation, cosign
from accord.ledger._entry import Signer
from accord.ledger._merkle import verify_consistency
from accord.ledger._seams import LogSource
from accord.ledger._store import LedgerStore, StoredCheckpoint, StoredCosignature
from accord.ledger._verify import Verifier

__all__ = ["SiteReplica"]

PULL_BATCH = 1000


class SiteReplica:
    def __init__(self, store: LedgerStore, site: Signer) -> None:
        self.store = store
        self.site = site
        self.verifier = Verifier()
        for stored in store.read():
            self.verifier.feed(stored)

    @property
    def size(self) -> int:
        return self.verifier.size

    def pull(self, hub: LogSource) -> int:
        """Fetch and verify the entries the replica lacks; returns how many were added."""
        added = 0
        while self.size < hub.store.size():
            batch = list(hub.store.read(self.size, self.size + PULL_BATCH))
            for stored in batch:
                self.verifier.feed(stored)
            self.store.append(batch)
            added += len(batch)
        return added

    def sync(self, hub: LogSource) -> StoredCosignature | None:
        """Pull, then verify and co-sign the hub's latest checkpoint (None if there is none)."""
        cp = hub.latest_checkpoint()  # first: a live hub may sign a newer one meanwhile
        self.pull(hub)
        if cp is None:
            return None
        self.check(hub, cp)
        cs = cosign(cp, self.site)
        self.store.put_checkpoint(cp)
        self.store.put_cosignature(cs)
        hub.add_cosignature(cs)
        return cs

    def check(self, hub: LogSource, cp: StoredCheckpoint) -> None:
        """Equivocation, consistency with our last checkpoint, and our own root at cp.size."""
        known = self.store.checkpoints()
        check_equivocation(known, cp)
        if cp.size > self.size:
            raise LedgerError(f"checkpoint for size {cp.size} is ahead of the log ({self.size})")
        previous = [c for c in known if c.size <= cp.size]
        if previous:
            last = max(previous, key=lambda c: c.size)
            proof = hub.store.consistency_proof(last.size, cp.size)
            if not verify_consistency(last.size, cp.size, last.root, cp.root, proof):
                raise LedgerError(
                    f"checkpoint for size {cp.size} is not consistent with size {last.size}"
                )
        if self.store.root(cp.size) != cp.root:
            raise LedgerError(f"root mismatch: hub checkpoint for size {cp.size}")
        if cp.size == self.size:
            self.verifier.check_checkpoint(cp)

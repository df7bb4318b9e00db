"""A site's replica of the consortium ledger: pull, verify, co-sign — or keep evidence.

The replica never trusts the hub: it verifies every entry it pulls (signature, chain, key
registry, canonical encoding), checks that the hub's new checkpoint is signed by the hub,
is consistent with the last one it co-signed (RFC 6962 consistency proof) and equals its
own recomputed root, and keeps every checkpoint it was shown, so that two roots for one
size are caught as equivocation.

Given a pinned :class:`~accord.ledger._anchor.Anchor`, it refuses a log whose genesis, log
id or hub key differ from it. Given an ``evidence_dir``, a conflict is *kept*, not only
raised: the replica writes an :class:`~accord.ledger._evidence.EquivocationEvidence` file
there, logs one line, raises :class:`~accord.core.EquivocationError` and from then on
refuses to pull or co-sign (a site does not keep computing for a hub proven dishonest,
restarted or not); only removing the evidence file lifts that, a deliberate human act.
"""

from __future__ import annotations

import base64
import json
import logging
from pathlib import Path

from accord.core import EquivocationError, LedgerError
from accord.ledger._anchor import Anchor, anchor_of
from accord.ledger._checkpoint import cosign, parse_checkpoint
from accord.ledger._entry import Signer
from accord.ledger._evidence import EquivocationEvidence, find_evidence, write_evidence
from accord.ledger._merkle import verify_consistency
from accord.ledger._seams import LogSource
from accord.ledger._signing import verify_signature
from accord.ledger._store import LedgerStore, StoredCheckpoint, StoredCosignature, StoredEntry
from accord.ledger._verify import Verifier

__all__ = ["SiteReplica"]

PULL_BATCH = 1000
log = logging.getLogger("accord.ledger")


class SiteReplica:
    def __init__(
        self,
        store: LedgerStore,
        site: Signer,
        *,
        anchor: Anchor | None = None,
        evidence_dir: Path | None = None,
    ) -> None:
        self.store = store
        self.site = site
        self.anchor = anchor
        self.evidence_dir = evidence_dir
        self.verifier = Verifier()
        for stored in store.read():
            if stored.seq == 0:
                self._check_anchor(stored)
            self.verifier.feed(stored)

    @property
    def size(self) -> int:
        return self.verifier.size

    def evidence(self) -> list[Path]:
        """The evidence files this site holds against its hub (empty: none, or no folder)."""
        return find_evidence(self.evidence_dir) if self.evidence_dir is not None else []

    def refuse_if_halted(self) -> None:
        """EquivocationError once the site holds evidence against the hub."""
        held = self.evidence()
        if held:
            raise EquivocationError(
                f"{held[0]}: this site holds equivocation evidence against the hub; it no "
                "longer pulls, co-signs or computes for it"
            )

    def _check_anchor(self, genesis: StoredEntry) -> None:
        if self.anchor is None:
            return
        field = self.anchor.mismatch(anchor_of(genesis))
        if field is not None:
            raise LedgerError(
                f"anchor mismatch: field '{field}' of the hub's genesis differs from the "
                "pinned anchor; this is not the consortium's log"
            )

    def pull(self, hub: LogSource) -> int:
        """Fetch and verify the entries the replica lacks; returns how many were added."""
        self.refuse_if_halted()
        added = 0
        while self.size < hub.store.size():
            batch = list(hub.store.read(self.size, self.size + PULL_BATCH))
            for stored in batch:
                if stored.seq == 0:
                    self._check_anchor(stored)
                self.verifier.feed(stored)
            self.store.append(batch)
            added += len(batch)
        return added

    def sync(self, hub: LogSource) -> StoredCosignature | None:
        """Pull, then verify and co-sign the hub's latest checkpoint (None if there is none)."""
        self.refuse_if_halted()
        cp = hub.latest_checkpoint()  # first: a live hub may sign a newer one meanwhile
        try:
            self.pull(hub)
        except LedgerError:
            if cp is not None:  # entries that do not extend ours: does the hub's word conflict?
                self._check_history(hub, cp)
            raise
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
        self._check_history(hub, cp)
        if cp.size > self.size:
            raise LedgerError(f"checkpoint for size {cp.size} is ahead of the log ({self.size})")
        own = self.store.root(cp.size)
        if own != cp.root:
            found = EquivocationEvidence("root-mismatch", self.site.org, (cp,), site_root=own)
            self._conflict(found, f"root mismatch: hub checkpoint for size {cp.size}")
        if cp.size == self.size:
            self.verifier.check_checkpoint(cp)
        elif parse_checkpoint(cp).log_id != self.verifier.log_id or not verify_signature(
            self._hub_key(cp), cp.signature, cp.body
        ):  # an older size: the hub's signature over it still has to hold
            raise LedgerError(f"bad checkpoint signature at size {cp.size}")

    def _check_history(self, hub: LogSource, cp: StoredCheckpoint) -> None:
        """``cp`` against the checkpoints we hold: one root per size, and consistent with
        the last one below its size."""
        known = self.store.checkpoints()
        for old in known:
            if old.size == cp.size and old.root != cp.root:
                found = EquivocationEvidence("fork", self.site.org, (old, cp))
                self._conflict(found, f"hub signed two different roots for size {cp.size}")
        previous = [c for c in known if c.size < cp.size]
        if not previous:
            return
        last = max(previous, key=lambda c: c.size)
        proof = hub.store.consistency_proof(last.size, cp.size)
        if not verify_consistency(last.size, cp.size, last.root, cp.root, proof):
            found = EquivocationEvidence("inconsistent", self.site.org, (last, cp), tuple(proof))
            self._conflict(
                found, f"checkpoint for size {cp.size} is not consistent with size {last.size}"
            )

    def _conflict(self, evidence: EquivocationEvidence, what: str) -> None:
        """Keep ``evidence`` if the hub really signed it, log one line, and raise."""
        cp = evidence.checkpoints[-1]
        evidence.check(self._hub_key(cp))  # LedgerError: not the hub's word, no evidence
        if self.evidence_dir is None:
            where = "evidence: " + json.dumps(evidence.to_json()["checkpoints"])
            log.error("site %s refuses the hub: %s (evidence in the error)", self.site.org, what)
        else:
            where = f"evidence written to {write_evidence(self.evidence_dir, evidence)}"
            log.error("site %s refuses the hub: %s (%s)", self.site.org, what, where)
        raise EquivocationError(f"{what}: {cp.root.hex()[:16]}; {where}")

    def _hub_key(self, cp: StoredCheckpoint) -> bytes:
        """The hub key ``cp`` claims: the pinned anchor's, else the replica's registry's."""
        if self.anchor is not None and (cp.org, cp.key_id) == (
            self.anchor.hub,
            self.anchor.hub_key_id,
        ):
            return base64.b64decode(self.anchor.hub_public_key)
        registry = self.verifier.registry
        if cp.org != registry.hub:
            raise LedgerError(f"checkpoint at size {cp.size} is not signed by the hub")
        return registry.public_key(cp.org, cp.key_id, max(min(cp.size, self.size) - 1, 0))

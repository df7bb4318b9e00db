"""The hub's side of the ledger: sequence entries, sign receipts and checkpoints.

Authors (the hub itself, sites, researchers) sign entries that name their position
(``seq``) and the previous leaf hash (``prev``); :meth:`HubLedger.submit` checks the entry
against the log and the key registry before appending it, and returns a receipt signed by
the hub. An author whose slot was taken by a concurrent submission simply re-signs.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from accord.core import LedgerError, canonical_json
from accord.ledger._checkpoint import sign_checkpoint
from accord.ledger._entry import ZERO_HASH, Entry, SignedEntry, Signer, sign_entry, utc_now
from accord.ledger._registry import GENESIS
from accord.ledger._store import LedgerStore, StoredCheckpoint, StoredCosignature, StoredEntry
from accord.ledger._verify import Verifier

__all__ = ["HubLedger", "SignedReceipt", "genesis_payload"]


@dataclass(frozen=True)
class SignedReceipt:
    """The hub's signed acknowledgement that an entry sits at ``seq`` in a tree of ``size``."""

    body: bytes
    signature: bytes
    seq: int


def genesis_payload(
    consortium: str,
    hub: str,
    organisations: Sequence[Mapping[str, str]],
    operators: Sequence[str] = (),
) -> dict[str, Any]:
    """The founding record: the consortium, its hub and every organisation's public key.

    ``operators``: organisations that run the consortium CA and may revoke any member's
    certificate (besides the hub); left out of the payload when empty.
    """
    payload: dict[str, Any] = {
        "consortium": consortium,
        "hub": hub,
        "organisations": [dict(o) for o in organisations],
    }
    if operators:
        payload["operators"] = list(operators)
    return payload


class HubLedger:
    """A log held by the hub in a :class:`LedgerStore`; verifies what it appends."""

    def __init__(self, store: LedgerStore, hub: Signer) -> None:
        self.store = store
        self.hub = hub
        self.verifier = Verifier()
        for stored in store.read():
            self.verifier.feed(stored)
        self.log_id = self.verifier.log_id or ""

    @classmethod
    def create(
        cls, store: LedgerStore, hub: Signer, log_id: str, genesis: dict[str, Any]
    ) -> HubLedger:
        if store.size() != 0:
            raise LedgerError("cannot create a ledger in a store that already has entries")
        entry = Entry(log_id, 0, hub.org, hub.key_id, GENESIS, genesis, ZERO_HASH, utc_now())
        ledger = cls(store, hub)
        ledger.log_id = log_id
        ledger.submit(sign_entry(entry, hub))
        return ledger

    def slot(self) -> tuple[int, str]:
        """The (seq, prev) the next entry must carry."""
        return self.verifier.size, self.verifier.prev

    def draft(self, author: Signer, kind: str, payload: Mapping[str, Any]) -> Entry:
        seq, prev = self.slot()
        return Entry(self.log_id, seq, author.org, author.key_id, kind, payload, prev, utc_now())

    def record(self, author: Signer, kind: str, payload: Mapping[str, Any]) -> SignedReceipt:
        """Draft, sign (as ``author``) and submit one entry."""
        return self.submit(sign_entry(self.draft(author, kind, payload), author))

    def submit(self, signed: SignedEntry) -> SignedReceipt:
        return self.submit_batch([signed])[0]

    def submit_batch(self, batch: Sequence[SignedEntry]) -> list[SignedReceipt]:
        """Verify and append entries atomically (one durable commit for the batch)."""
        stored = [_stored(s) for s in batch]
        saved = copy.deepcopy(self.verifier)  # O(log n): the frontier and the key registry
        try:
            for s in stored:
                self.verifier.feed(s)
            receipts = self.store.append(stored)
        except BaseException:
            self.verifier = saved  # nothing was appended: the store's append is atomic
            raise
        return [self._receipt(r.seq, r.leaf, r.size, r.root) for r in receipts]

    def record_batch(
        self, author: Signer, items: Sequence[tuple[str, Mapping[str, Any]]]
    ) -> list[SignedReceipt]:
        """Sign a run of consecutive entries by one author and append them in one commit."""
        seq, prev = self.slot()
        signed: list[SignedEntry] = []
        for offset, (kind, payload) in enumerate(items):
            entry = Entry(
                self.log_id, seq + offset, author.org, author.key_id, kind, payload, prev, utc_now()
            )
            signed.append(sign_entry(entry, author))
            prev = signed[-1].leaf.hex()
        return self.submit_batch(signed)

    def _receipt(self, seq: int, leaf: bytes, size: int, root: bytes) -> SignedReceipt:
        body = canonical_json(
            {
                "type": "receipt",
                "log_id": self.log_id,
                "seq": seq,
                "leaf": leaf.hex(),
                "size": size,
                "root": root.hex(),
                "org": self.hub.org,
                "key_id": self.hub.key_id,
            }
        )
        return SignedReceipt(body, self.hub.sign(body), seq)

    def checkpoint(self) -> StoredCheckpoint:
        """Sign (size, root) of the log as it stands and store the checkpoint.

        If the latest checkpoint already covers the whole log, it is returned as is.
        """
        latest = self.latest_checkpoint()
        if latest is not None and latest.size == self.store.size():
            return latest
        cp = sign_checkpoint(self.log_id, self.store.size(), self.store.root(), self.hub)
        self.store.put_checkpoint(cp)
        return cp

    def latest_checkpoint(self) -> StoredCheckpoint | None:
        cps = self.store.checkpoints()
        return max(cps, key=lambda c: c.size) if cps else None

    def add_cosignature(self, cs: StoredCosignature) -> None:
        cps = [c for c in self.store.checkpoints() if c.size == cs.size and c.root == cs.root]
        if not cps:
            raise LedgerError(f"co-signature by {cs.org} for an unknown checkpoint")
        self.verifier.check_cosignature(cs, cps[0])
        self.store.put_cosignature(cs)

    def close(self) -> None:
        self.store.close()


def _stored(signed: SignedEntry) -> StoredEntry:
    plan = signed.entry.payload.get("plan")
    return StoredEntry(
        seq=signed.entry.seq,
        entry=signed.raw,
        signature=signed.signature,
        org=signed.entry.org,
        kind=signed.entry.kind,
        plan=str(plan) if plan is not None else None,
    )

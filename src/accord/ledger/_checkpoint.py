"""Checkpoints: the hub's signed statement of (size, root); sites verify and co-sign them.

A checkpoint body is canonical JSON ``{type, log_id, size, root, time, org, key_id}``. The
hub signs it; every site that has verified the log up to ``size`` (and the consistency
proof from its previous checkpoint) signs the same bytes. Two validly signed checkpoints
for one size with different roots prove that the hub equivocated.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass

from accord.core import EquivocationError, LedgerError, canonical_json
from accord.ledger._entry import Signer, utc_now
from accord.ledger._store import StoredCheckpoint, StoredCosignature

__all__ = ["Checkpoint", "check_equivocation", "cosign", "parse_checkpoint", "sign_checkpoint"]


@dataclass(frozen=True)
class Checkpoint:
    log_id: str
    size: int
    root: bytes
    time: str
    org: str
    key_id: str

    def canonical(self) -> bytes:
        return canonical_json(
            {
                "type": "checkpoint",
                "log_id": self.log_id,
                "size": self.size,
                "root": self.root.hex(),
                "time": self.time,
                "org": self.org,
                "key_id": self.key_id,
            }
        )


def sign_checkpoint(log_id: str, size: int, root: bytes, hub: Signer) -> StoredCheckpoint:
    body = Checkpoint(log_id, size, root, utc_now(), hub.org, hub.key_id).canonical()
    return StoredCheckpoint(size, root, body, hub.sign(body), hub.org, hub.key_id)


def parse_checkpoint(stored: StoredCheckpoint) -> Checkpoint:
    """Decode a stored checkpoint and check that its body agrees with its columns."""
    try:
        data = json.loads(stored.body)
        cp = Checkpoint(
            str(data["log_id"]),
            int(data["size"]),
            bytes.fromhex(data["root"]),
            str(data["time"]),
            str(data["org"]),
            str(data["key_id"]),
        )
    except (ValueError, KeyError, TypeError):
        raise LedgerError(f"checkpoint at size {stored.size} is malformed") from None
    if cp.canonical() != stored.body or (cp.size, cp.root) != (stored.size, stored.root):
        raise LedgerError(f"checkpoint at size {stored.size} is not canonical")
    return cp


def cosign(checkpoint: StoredCheckpoint, site: Signer) -> StoredCosignature:
    """A site's signature over the same checkpoint bytes, after it verified the log."""
    return StoredCosignature(
        checkpoint.size, checkpoint.root, site.org, site.key_id, site.sign(checkpoint.body)
    )


def check_equivocation(known: list[StoredCheckpoint], new: StoredCheckpoint) -> None:
    """Raise EquivocationError if ``new`` gives another root for a size already signed."""
    for old in known:
        if old.size == new.size and old.root != new.root:
            evidence = [
                {"body": cp.body.decode(), "signature": base64.b64encode(cp.signature).decode()}
                for cp in (old, new)
            ]
            raise EquivocationError(
                f"hub signed two different roots for size {new.size}: "
                f"{old.root.hex()[:16]} and {new.root.hex()[:16]}; evidence: "
                + json.dumps(evidence)
            )

"""What a ledger store keeps and hands back: entries, receipts, checkpoints, co-signatures.

The public home of these values is :mod:`accord.ledger._store`, which re-exports them;
they live here so that the tree shared by the stores (``_tree.py``) can use them too.
"""

from __future__ import annotations

from dataclasses import dataclass

from accord.ledger import _merkle as merkle

__all__ = ["Receipt", "StoredCheckpoint", "StoredCosignature", "StoredEntry"]


@dataclass(frozen=True, slots=True)
class StoredEntry:
    """One log entry as stored: position, canonical bytes, signature, filter columns."""

    seq: int  # 0-based position in the log
    entry: bytes  # canonical entry bytes (opaque to the store)
    signature: bytes  # the author's Ed25519 signature (64 bytes, opaque)
    org: str
    kind: str
    plan: str | None

    @property
    def leaf(self) -> bytes:
        """RFC 6962 leaf hash over ``entry || signature``."""
        return merkle.leaf_hash(self.entry + self.signature)


@dataclass(frozen=True, slots=True)
class Receipt:
    """Where an appended entry landed: its leaf and the tree (size, root) right after it."""

    seq: int
    leaf: bytes
    size: int
    root: bytes


@dataclass(frozen=True, slots=True)
class StoredCheckpoint:
    """A hub-signed (size, root) with the exact signed ``body`` bytes."""

    size: int
    root: bytes
    body: bytes
    signature: bytes
    org: str
    key_id: str


@dataclass(frozen=True, slots=True)
class StoredCosignature:
    """A site's signature over the checkpoint (size, root)."""

    size: int
    root: bytes
    org: str
    key_id: str
    signature: bytes

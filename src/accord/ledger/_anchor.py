"""The anchor: what an auditor must obtain out of band to trust a ledger.

A ledger verifies against itself: a hub that re-forges the whole log (a new genesis with
its own keys under the same organisation names) would produce a log that checks. The
anchor pins the consortium's founding entry (its leaf hash, so its whole member list and
keys) and the hub's public key. Every member writes it as ``anchor.json`` when the
ledger is created; an auditor compares the members' copies (by phone, email or a pinned
``site.toml``) and verifies with ``accord ledger verify LEDGER --anchor anchor.json``.

The anchor carries nothing about the log's size: a tail cut together with the
checkpoints above it is detectable only against a replica or a later checkpoint.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from accord.core import LedgerError, load_json_file, write_bytes_atomic
from accord.ledger._entry import Entry
from accord.ledger._registry import GENESIS
from accord.ledger._store import StoredEntry

__all__ = ["ANCHOR_FORMAT", "Anchor", "anchor_of", "load_anchor", "write_anchor"]

ANCHOR_FORMAT = "accord-ledger-anchor"


@dataclass(frozen=True)
class Anchor:
    """Genesis leaf hash (hex), log id, the hub's organisation, key id and key (base64)."""

    log_id: str
    genesis: str
    hub: str
    hub_key_id: str
    hub_public_key: str
    members: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "format": ANCHOR_FORMAT,
            "version": 1,
            "log_id": self.log_id,
            "genesis": self.genesis,
            "hub": {"org": self.hub, "key_id": self.hub_key_id, "public_key": self.hub_public_key},
            "members": list(self.members),
        }

    def mismatch(self, other: Anchor) -> str | None:
        """Which field of ``other`` (the ledger's) differs from this (the pinned) anchor."""
        for name in ("genesis", "log_id", "hub", "hub_key_id", "hub_public_key"):
            if getattr(self, name) != getattr(other, name):
                return name
        return None


def anchor_of(genesis: StoredEntry) -> Anchor:
    """The anchor of the log whose first entry is ``genesis``."""
    entry = Entry.parse(genesis.entry)
    if genesis.seq != 0 or entry.kind != GENESIS:
        raise LedgerError("the first entry must be the genesis entry")
    hub = str(entry.payload.get("hub", entry.org))
    orgs = entry.payload.get("organisations")
    records = [o for o in orgs if isinstance(o, dict)] if isinstance(orgs, list) else []
    keys = [o for o in records if o.get("org") == hub]
    if not keys:
        raise LedgerError(f"genesis lists no key for its hub {hub}")
    return Anchor(
        log_id=entry.log_id,
        genesis=genesis.leaf.hex(),
        hub=hub,
        hub_key_id=str(keys[0].get("key_id")),
        hub_public_key=str(keys[0].get("public_key")),
        members=tuple(str(o.get("org")) for o in records),
    )


def write_anchor(path: Path, anchor: Anchor) -> None:
    """Write ``anchor`` as JSON at ``path`` (a temporary file, then a rename)."""
    write_bytes_atomic(path, (json.dumps(anchor.to_json(), indent=2) + "\n").encode("utf-8"))


def load_anchor(path: Path) -> Anchor:
    """Read an anchor file; LedgerError naming the file and the bad field."""
    doc = load_json_file(path, LedgerError, "a JSON anchor file")
    if not isinstance(doc, dict) or doc.get("format") != ANCHOR_FORMAT:
        raise LedgerError(f"{path}: field 'format' is not {ANCHOR_FORMAT!r}")
    hub = doc.get("hub")
    if not isinstance(hub, dict):
        raise LedgerError(f"{path}: field 'hub' is missing or not an object")
    fields = {
        "log_id": doc.get("log_id"),
        "genesis": doc.get("genesis"),
        "hub.org": hub.get("org"),
        "hub.key_id": hub.get("key_id"),
        "hub.public_key": hub.get("public_key"),
    }
    for name, value in fields.items():
        if not isinstance(value, str) or not value:
            raise LedgerError(f"{path}: field '{name}' is missing or not a string")
    members = doc.get("members", [])
    if not isinstance(members, list) or not all(isinstance(m, str) for m in members):
        raise LedgerError(f"{path}: field 'members' is not a list of organisation names")
    return Anchor(
        log_id=str(fields["log_id"]),
        genesis=str(fields["genesis"]),
        hub=str(fields["hub.org"]),
        hub_key_id=str(fields["hub.key_id"]),
        hub_public_key=str(fields["hub.public_key"]),
        members=tuple(members),
    )

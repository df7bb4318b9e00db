"""Ledger entries: canonical bytes, signed by their author organisation.

An entry is the JSON object ``{v, log_id, seq, org, key_id, kind, payload, prev, time}``
encoded canonically (sorted keys, no whitespace, UTF-8, no floats: metric values are
decimal strings). Its author signs those exact bytes with Ed25519; the leaf hash of the
Merkle tree is ``SHA-256(0x00 || entry || signature)``. ``seq`` (position in the log) and
``prev`` (the previous entry's leaf hash) are inside the signed bytes, so nobody — the hub
included — can reorder, drop or insert entries without breaking a signature or the chain.

The canonical form is RFC 8785 (JCS) for the values we allow (strings, integers, booleans,
null, arrays, objects with ASCII keys); floats are refused outright.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from accord.core import LedgerError, Signer, canonical_json, load_json
from accord.ledger._merkle import leaf_hash

__all__ = [
    "LEDGER_VERSION",
    "ZERO_HASH",
    "Entry",
    "SignedEntry",
    "Signer",
    "decimal",
    "sign_entry",
    "utc_now",
]

LEDGER_VERSION = 1
ZERO_HASH = "0" * 64
_FIELDS = {"v", "log_id", "seq", "org", "key_id", "kind", "payload", "prev", "time"}
_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?Z$")


def utc_now() -> str:
    """RFC 3339 UTC timestamp with microseconds, e.g. ``2026-11-28T20:35:39.123456Z``."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def decimal(value: float | None, digits: int = 6) -> str | None:
    """A metric value as a decimal string (the ledger holds no floats)."""
    return None if value is None else f"{value:.{digits}f}"


@dataclass(frozen=True)
class Entry:
    log_id: str
    seq: int
    org: str
    key_id: str
    kind: str
    payload: Mapping[str, Any]
    prev: str
    time: str
    v: int = LEDGER_VERSION

    def to_dict(self) -> dict[str, Any]:
        return {
            "v": self.v,
            "log_id": self.log_id,
            "seq": self.seq,
            "org": self.org,
            "key_id": self.key_id,
            "kind": self.kind,
            "payload": dict(self.payload),
            "prev": self.prev,
            "time": self.time,
        }

    def canonical(self) -> bytes:
        try:
            return canonical_json(self.to_dict())
        except TypeError as exc:
            raise LedgerError(f"entry '{self.kind}' payload is not canonical JSON: {exc}") from None

    @classmethod
    def parse(cls, raw: bytes) -> Entry:
        """Decode stored bytes; refuse anything that is not the canonical encoding."""
        try:
            data = load_json(raw, floats=False)
        except ValueError as exc:
            raise LedgerError(f"non-canonical encoding ({exc})") from None
        entry = cls._from_dict(data)
        if canonical_json(entry.to_dict(), check_floats=False) != raw:
            raise LedgerError("non-canonical encoding (bytes differ from canonical form)")
        return entry

    @classmethod
    def _from_dict(cls, data: Any) -> Entry:
        if not isinstance(data, dict) or set(data) != _FIELDS:
            raise LedgerError("non-canonical encoding (fields are not exactly the entry fields)")
        problems = [
            name
            for name, ok in (
                ("v", data["v"] == LEDGER_VERSION),
                ("seq", isinstance(data["seq"], int) and data["seq"] >= 0),
                ("prev", isinstance(data["prev"], str) and bool(_HEX64.match(data["prev"]))),
                ("time", isinstance(data["time"], str) and bool(_TIME.match(data["time"]))),
                ("payload", isinstance(data["payload"], dict)),
            )
            if not ok
        ]
        strings = ("log_id", "org", "key_id", "kind")
        problems += [s for s in strings if not isinstance(data[s], str) or not data[s]]
        if problems:
            raise LedgerError(f"malformed entry fields: {', '.join(problems)}")
        return cls(**{k: data[k] for k in _FIELDS})


@dataclass(frozen=True)
class SignedEntry:
    entry: Entry
    raw: bytes
    signature: bytes

    @property
    def leaf(self) -> bytes:
        return leaf_hash(self.raw + self.signature)


def sign_entry(entry: Entry, signer: Signer) -> SignedEntry:
    """Sign the canonical bytes of ``entry`` with the author's key."""
    if (entry.org, entry.key_id) != (signer.org, signer.key_id):
        raise LedgerError(f"entry names {entry.org}/{entry.key_id}, signer is {signer.org}")
    raw = entry.canonical()
    return SignedEntry(entry, raw, signer.sign(raw))

"""JSON forms of ledger records for the network: bytes as base64, hashes as hex.

The field names are those of a ledger bundle's lines (:mod:`accord.ledger._bundle`),
without the ``type``. Decoding checks each field's kind and raises :class:`LedgerError`
naming the record and the field, never its value.

=====================  ========================================================
stored entry           ``{seq, entry, signature, org, kind, plan}``
checkpoint             ``{size, root, body, signature, org, key_id}``
co-signature           ``{size, root, org, key_id, signature}``
signed receipt         ``{seq, body, signature}``
=====================  ========================================================
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from accord.core import MAX_JSON_INT, LedgerError
from accord.ledger._log import SignedReceipt
from accord.ledger._store import StoredCheckpoint, StoredCosignature, StoredEntry

__all__ = [
    "checkpoint_from_json",
    "checkpoint_to_json",
    "cosignature_from_json",
    "cosignature_to_json",
    "entry_from_json",
    "entry_to_json",
    "receipt_from_json",
    "receipt_to_json",
]


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def entry_to_json(e: StoredEntry) -> dict[str, Any]:
    return {
        "seq": e.seq,
        "org": e.org,
        "kind": e.kind,
        "plan": e.plan,
        "entry": _b64(e.entry),
        "signature": _b64(e.signature),
    }


def entry_from_json(data: Any) -> StoredEntry:
    f = _Fields("stored entry", data)
    return StoredEntry(
        seq=f.count("seq"),
        entry=f.b64("entry"),
        signature=f.b64("signature"),
        org=f.text("org"),
        kind=f.text("kind"),
        plan=f.optional_text("plan"),
    )


def checkpoint_to_json(cp: StoredCheckpoint) -> dict[str, Any]:
    return {
        "size": cp.size,
        "root": cp.root.hex(),
        "body": _b64(cp.body),
        "signature": _b64(cp.signature),
        "org": cp.org,
        "key_id": cp.key_id,
    }


def checkpoint_from_json(data: Any) -> StoredCheckpoint:
    f = _Fields("checkpoint", data)
    return StoredCheckpoint(
        size=f.count("size"),
        root=f.hash("root"),
        body=f.b64("body"),
        signature=f.b64("signature"),
        org=f.text("org"),
        key_id=f.text("key_id"),
    )


def cosignature_to_json(cs: StoredCosignature) -> dict[str, Any]:
    return {
        "size": cs.size,
        "root": cs.root.hex(),
        "org": cs.org,
        "key_id": cs.key_id,
        "signature": _b64(cs.signature),
    }


def cosignature_from_json(data: Any) -> StoredCosignature:
    f = _Fields("co-signature", data)
    return StoredCosignature(
        size=f.count("size"),
        root=f.hash("root"),
        org=f.text("org"),
        key_id=f.text("key_id"),
        signature=f.b64("signature"),
    )


def receipt_to_json(r: SignedReceipt) -> dict[str, Any]:
    return {"seq": r.seq, "body": _b64(r.body), "signature": _b64(r.signature)}


def receipt_from_json(data: Any) -> SignedReceipt:
    f = _Fields("receipt", data)
    return SignedReceipt(body=f.b64("body"), signature=f.b64("signature"), seq=f.count("seq"))


class _Fields:
    """Typed access to the fields of one decoded JSON object."""

    def __init__(self, what: str, data: Any) -> None:
        if not isinstance(data, dict):
            raise LedgerError(f"malformed {what}: expected a JSON object")
        self.what = what
        self.data: dict[str, Any] = data

    def _bad(self, name: str) -> LedgerError:
        return LedgerError(f"malformed {self.what}: field '{name}' is missing or malformed")

    def _get(self, name: str) -> Any:
        if name not in self.data:
            raise self._bad(name)
        return self.data[name]

    def count(self, name: str) -> int:
        value = self._get(name)
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_JSON_INT:
            raise self._bad(name)
        return value

    def text(self, name: str) -> str:
        value = self._get(name)
        if not isinstance(value, str) or not value:
            raise self._bad(name)
        return value

    def optional_text(self, name: str) -> str | None:
        return None if self.data.get(name) is None else self.text(name)

    def b64(self, name: str) -> bytes:
        value = self._get(name)
        if not isinstance(value, str):
            raise self._bad(name)
        try:
            return base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            raise self._bad(name) from None

    def hash(self, name: str) -> bytes:
        """A 32-byte hash written as 64 hex digits."""
        value = self._get(name)
        if not (isinstance(value, str) and len(value) == 64):
            raise self._bad(name)
        try:
            raw = bytes.fromhex(value)
        except ValueError:
            raise self._bad(name) from None
        if len(raw) != 32:
            raise self._bad(name)
        return raw

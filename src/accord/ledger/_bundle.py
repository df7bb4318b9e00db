"""Ledger bundles: one self-contained JSON-lines file an auditor can verify offline.

Layout: a header line, then the checkpoints and co-signatures (small), then one line per
entry in order. Entries and signatures are base64 of the exact stored bytes. Export
writes to a temporary file and renames it, so a bundle is never half-written.
Reading accepts checkpoint and co-signature lines anywhere after the header, and refuses
an unknown record type, a line that is not UTF-8 JSON, and a bundle without entries.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from accord.core import MAX_JSON_INT, LedgerError, MissingFileError, load_json
from accord.ledger._store import (
    LedgerStore,
    SQLiteLedgerStore,
    StoredCheckpoint,
    StoredCosignature,
    StoredEntry,
)
from accord.ledger._verify import NodeReader
from accord.ledger._wire import checkpoint_to_json, cosignature_to_json, entry_to_json

__all__ = ["BUNDLE_FORMAT", "LedgerSource", "export_bundle", "open_source"]

BUNDLE_FORMAT = "accord-ledger-bundle"


def export_bundle(store: LedgerStore, out: Path) -> int:
    """Write ``store`` as a bundle at ``out``; returns the number of entries."""
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.", suffix=".tmp")
    count = 0
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(json.dumps({"type": "header", "format": BUNDLE_FORMAT, "version": 1}) + "\n")
            for cp in store.checkpoints():
                fh.write(json.dumps(_checkpoint_line(cp)) + "\n")
            for cs in store.cosignatures():
                fh.write(json.dumps(_cosignature_line(cs)) + "\n")
            for e in store.read():
                fh.write(json.dumps(_entry_line(e)) + "\n")
                count += 1
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return count


def _entry_line(e: StoredEntry) -> dict[str, Any]:
    return {"type": "entry", **entry_to_json(e)}


def _checkpoint_line(cp: StoredCheckpoint) -> dict[str, Any]:
    return {"type": "checkpoint", **checkpoint_to_json(cp)}


def _cosignature_line(cs: StoredCosignature) -> dict[str, Any]:
    return {"type": "cosignature", **cosignature_to_json(cs)}


@dataclass
class LedgerSource:
    """Entries (streamed), checkpoints and co-signatures from a store or a bundle."""

    path: Path
    checkpoints: list[StoredCheckpoint]
    cosignatures: list[StoredCosignature]
    _store: SQLiteLedgerStore | None = None

    def entries(self) -> Iterator[StoredEntry]:
        if self._store is not None:
            yield from self._store.read()
            return
        for number, record in _records(self.path):
            if record.get("type") == "entry":
                yield _parse_entry(self.path, number, record)

    @property
    def read_node(self) -> NodeReader | None:
        """The store's leaf and Merkle node reader for verify; None for a bundle."""
        return None if self._store is None else self._store.stored_node

    def close(self) -> None:
        if self._store is not None:
            self._store.close()


def open_source(path: Path) -> LedgerSource:
    """Open a SQLite ledger store or a bundle file, by content."""
    if not path.exists():
        raise MissingFileError(f"{path.absolute()}: no such ledger store or bundle")
    if not path.is_file():
        raise LedgerError(f"{path}: not a file (expected a ledger store or bundle)")
    try:
        with path.open("rb") as fh:
            magic = fh.read(16)
    except OSError as exc:
        raise LedgerError(f"{path}: cannot be read ({exc.strerror})") from None
    if magic.startswith(b"SQLite format 3"):
        store = SQLiteLedgerStore(path, create=False)
        return LedgerSource(path, store.checkpoints(), store.cosignatures(), store)
    return _open_bundle(path)


def _open_bundle(path: Path) -> LedgerSource:
    """Read the header, then every line: checkpoints and co-signatures wherever they
    stand; an unknown record type or a bundle without entries is refused."""
    checkpoints: list[StoredCheckpoint] = []
    cosignatures: list[StoredCosignature] = []
    entries = 0
    for number, record in _records(path):
        kind = record.get("type")
        if kind == "entry":
            entries += 1
        elif kind == "checkpoint":
            checkpoints.append(_parse_checkpoint(path, number, record))
        elif kind == "cosignature":
            cosignatures.append(_parse_cosignature(path, number, record))
        else:
            raise LedgerError(f"{path}: line {number}: field 'type' is not a known record type")
    if entries == 0:
        raise LedgerError(f"{path}: empty ledger: the bundle holds no entries")
    return LedgerSource(path, checkpoints, cosignatures)


def _records(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """The bundle's records after its header, with their line numbers (from 2)."""
    with path.open("rb") as fh:
        header = _json_line(path, 1, fh.readline())
        if header.get("type") != "header" or header.get("format") != BUNDLE_FORMAT:
            raise LedgerError(f"{path}: line 1: not an accord ledger bundle")
        for number, raw in enumerate(fh, start=2):
            if raw.strip():
                yield number, _json_line(path, number, raw)


def _json_line(path: Path, number: int, raw: bytes) -> dict[str, Any]:
    try:
        line = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise LedgerError(f"{path}: line {number}: not UTF-8 text (not a bundle line)") from None
    try:
        record = load_json(line)
    except ValueError as exc:
        raise LedgerError(f"{path}: line {number}: {exc}") from None
    if not isinstance(record, dict):
        raise LedgerError(f"{path}: line {number}: expected a JSON object")
    return record


def _field(path: Path, number: int, record: dict[str, Any], name: str, kind: str) -> Any:
    try:
        value = record[name]
        if kind == "b64":
            return base64.b64decode(value, validate=True)
        if kind == "hex":
            return bytes.fromhex(value)
        if kind == "int":
            if isinstance(value, bool) or not isinstance(value, int) or value > MAX_JSON_INT:
                raise TypeError
            return value
        return None if value is None and kind == "str?" else str(value)
    except (KeyError, TypeError, ValueError, binascii.Error):
        raise LedgerError(
            f"{path}: line {number}: field '{name}' is missing or malformed"
        ) from None


def _parse_entry(path: Path, n: int, r: dict[str, Any]) -> StoredEntry:
    return StoredEntry(
        seq=_field(path, n, r, "seq", "int"),
        entry=_field(path, n, r, "entry", "b64"),
        signature=_field(path, n, r, "signature", "b64"),
        org=_field(path, n, r, "org", "str"),
        kind=_field(path, n, r, "kind", "str"),
        plan=_field(path, n, r, "plan", "str?"),
    )


def _parse_checkpoint(path: Path, n: int, r: dict[str, Any]) -> StoredCheckpoint:
    return StoredCheckpoint(
        size=_field(path, n, r, "size", "int"),
        root=_field(path, n, r, "root", "hex"),
        body=_field(path, n, r, "body", "b64"),
        signature=_field(path, n, r, "signature", "b64"),
        org=_field(path, n, r, "org", "str"),
        key_id=_field(path, n, r, "key_id", "str"),
    )


def _parse_cosignature(path: Path, n: int, r: dict[str, Any]) -> StoredCosignature:
    return StoredCosignature(
        size=_field(path, n, r, "size", "int"),
        root=_field(path, n, r, "root", "hex"),
        org=_field(path, n, r, "org", "str"),
        key_id=_field(path, n, r, "key_id", "str"),
        signature=_field(path, n, r, "signature", "b64"),
    )

"""Inclusion-proof files as ``accord ledger check-proof`` reads them: typed before use.

A proof file comes from anyone (a colleague, an e-mail), so every field is checked for
its type and form before a byte is decoded: a wrong one is a :class:`LedgerError` naming
the file and the field, never a ``TypeError`` from deep inside ``base64``.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from accord.core import MAX_JSON_INT, LedgerError, load_json_file

__all__ = ["PROOF_FORMAT", "Proof", "load_proof"]

PROOF_FORMAT = "accord-inclusion-proof"
_Hex32 = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
_Count = Annotated[int, Field(ge=0, le=MAX_JSON_INT)]


class _Checkpoint(BaseModel):
    model_config = ConfigDict(frozen=True, strict=True)

    body: str
    signature: str


class _Document(BaseModel):
    model_config = ConfigDict(frozen=True, strict=True)

    format: Literal["accord-inclusion-proof"]
    seq: _Count
    size: _Count
    root: _Hex32
    entry: str
    signature: str
    proof: list[_Hex32]
    checkpoint: _Checkpoint


@dataclass(frozen=True)
class Proof:
    """A decoded proof: entry ``seq`` is leaf ``entry ‖ signature`` of the tree of ``size``."""

    seq: int
    size: int
    root: bytes
    entry: bytes
    signature: bytes
    path: list[bytes]
    checkpoint_body: bytes
    checkpoint_signature: bytes


def load_proof(path: Path) -> Proof:
    """Read and check a proof file; LedgerError naming the file and the bad field."""
    raw = load_json_file(path, LedgerError, "an accord inclusion proof")
    if not isinstance(raw, dict) or raw.get("format") != PROOF_FORMAT:
        raise LedgerError(f"{path}: not an accord inclusion proof (field 'format')")
    try:
        doc = _Document.model_validate(raw)
    except ValidationError as exc:
        field = ".".join(str(p) for p in exc.errors()[0]["loc"]) or "body"
        raise LedgerError(f"{path}: field '{field}' of the proof is missing or malformed") from None
    return Proof(
        seq=doc.seq,
        size=doc.size,
        root=bytes.fromhex(doc.root),
        entry=_b64(path, "entry", doc.entry),
        signature=_b64(path, "signature", doc.signature),
        path=[bytes.fromhex(h) for h in doc.proof],
        checkpoint_body=_b64(path, "checkpoint.body", doc.checkpoint.body),
        checkpoint_signature=_b64(path, "checkpoint.signature", doc.checkpoint.signature),
    )


def _b64(path: Path, field: str, text: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise LedgerError(f"{path}: field '{field}' of the proof is not base64") from None

"""Equivocation evidence: what a site keeps when the hub is caught showing two histories.

A site's replica refuses to co-sign, and stops working for the hub, when a hub-signed
checkpoint

- gives another root for a size the site already holds a signed checkpoint of (``fork``:
  the two checkpoints, both signed by the hub, are the whole proof);
- is not consistent with the last checkpoint the site co-signed (``inconsistent``: both
  signed checkpoints and the RFC 6962 consistency proof the hub served, which fails);
- signs a root other than the one the site recomputed from the entries the hub served
  (``root-mismatch``: the signed checkpoint and the site's own root; this one is the
  site's word, an auditor confirms it against the hub's log).

The evidence is written as one JSON file in the site's ``evidence/`` folder (a temporary
file, then a rename) and holds checkpoints only: sizes, roots, times, signer org and key
id. No entry, so no payload, ever goes into it. :meth:`EquivocationEvidence.check`
re-verifies it with the hub's public key alone (``accord ledger verify --evidence``).
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, cast

from accord.core import LedgerError, load_json_file, write_bytes_atomic
from accord.ledger._anchor import Anchor
from accord.ledger._checkpoint import parse_checkpoint
from accord.ledger._merkle import verify_consistency
from accord.ledger._signing import verify_signature
from accord.ledger._store import StoredCheckpoint

__all__ = [
    "EVIDENCE_DIR",
    "EVIDENCE_FORMAT",
    "EquivocationEvidence",
    "EvidenceKind",
    "find_evidence",
    "load_evidence",
    "write_evidence",
]

EVIDENCE_FORMAT = "accord-equivocation-evidence"
EVIDENCE_DIR = "evidence"  # a site folder's evidence files live in SITE/evidence/
EvidenceKind = Literal["fork", "inconsistent", "root-mismatch"]
KINDS: tuple[EvidenceKind, ...] = ("fork", "inconsistent", "root-mismatch")
CHECKPOINTS_OF: dict[EvidenceKind, int] = {"fork": 2, "inconsistent": 2, "root-mismatch": 1}


@dataclass(frozen=True)
class EquivocationEvidence:
    """Hub-signed checkpoints that do not describe one log.

    ``checkpoints`` is (held, new) for ``fork`` and ``inconsistent`` (held: the one the
    site already had), (new,) for ``root-mismatch``; ``proof`` is the consistency proof
    the hub served (``inconsistent``), ``site_root`` the root the site recomputed at the
    new checkpoint's size (``root-mismatch``); ``site`` is the organisation that found it.
    """

    kind: EvidenceKind
    site: str
    checkpoints: tuple[StoredCheckpoint, ...]
    proof: tuple[bytes, ...] = ()
    site_root: bytes | None = None

    @property
    def sizes(self) -> tuple[int, ...]:
        return tuple(cp.size for cp in self.checkpoints)

    def check(self, hub_public_key: bytes) -> None:
        """Re-verify: every checkpoint canonical and signed by ``hub_public_key``, one log,
        and the conflict its kind claims. LedgerError ("evidence invalid: ...") otherwise."""
        if len(self.checkpoints) != CHECKPOINTS_OF[self.kind]:
            raise LedgerError(
                f"evidence invalid: '{self.kind}' needs {CHECKPOINTS_OF[self.kind]} checkpoints"
            )
        bodies = []
        for cp in self.checkpoints:
            try:
                bodies.append(parse_checkpoint(cp))
            except LedgerError as exc:
                raise LedgerError(f"evidence invalid: {exc}") from None
            if not verify_signature(hub_public_key, cp.signature, cp.body):
                raise LedgerError(
                    f"evidence invalid: the checkpoint for size {cp.size} is not signed by "
                    "that hub key"
                )
        if len({b.log_id for b in bodies}) != 1:
            raise LedgerError("evidence invalid: the checkpoints belong to different logs")
        self._check_conflict()

    def check_anchored(self, anchor: Anchor) -> None:
        """:meth:`check` with the anchor's hub key, every checkpoint claiming that key
        (org and key id) and belonging to the anchor's log."""
        for cp in self.checkpoints:
            if (cp.org, cp.key_id) != (anchor.hub, anchor.hub_key_id):
                raise LedgerError(
                    f"evidence invalid: the checkpoint for size {cp.size} claims key "
                    f"{cp.org}/{cp.key_id}, not the anchor's hub key"
                )
        try:
            key = base64.b64decode(anchor.hub_public_key, validate=True)
        except binascii.Error:
            raise LedgerError("anchor: field 'hub.public_key' is not base64") from None
        self.check(key)
        if parse_checkpoint(self.checkpoints[0]).log_id != anchor.log_id:
            raise LedgerError("evidence invalid: the checkpoints are of another log")

    def _check_conflict(self) -> None:
        new = self.checkpoints[-1]
        if self.kind == "fork":
            old = self.checkpoints[0]
            if old.size != new.size or old.root == new.root:
                raise LedgerError("evidence invalid: not two roots for one size")
        elif self.kind == "inconsistent":
            old = self.checkpoints[0]
            if old.size >= new.size:
                raise LedgerError("evidence invalid: the held checkpoint is not the older one")
            if verify_consistency(old.size, new.size, old.root, new.root, list(self.proof)):
                raise LedgerError(
                    f"evidence invalid: size {new.size} is consistent with size {old.size}"
                )
        elif self.site_root is None or self.site_root == new.root:
            raise LedgerError("evidence invalid: the site's root equals the signed root")

    def file_name(self) -> str:
        return f"equivocation-{self.checkpoints[-1].size}-{self.kind}.json"

    def to_json(self) -> dict[str, Any]:
        return {
            "format": EVIDENCE_FORMAT,
            "version": 1,
            "kind": self.kind,
            "site": self.site,
            "checkpoints": [_checkpoint_json(cp) for cp in self.checkpoints],
            "proof": [h.hex() for h in self.proof],
            "site_root": self.site_root.hex() if self.site_root is not None else None,
        }

    @classmethod
    def from_json(cls, doc: Any, where: str) -> EquivocationEvidence:
        """Parse :meth:`to_json`'s document; LedgerError naming ``where`` and the field."""
        if not isinstance(doc, dict) or doc.get("format") != EVIDENCE_FORMAT:
            raise LedgerError(f"{where}: field 'format' is not {EVIDENCE_FORMAT!r}")
        kind = doc.get("kind")
        if kind not in KINDS:
            raise LedgerError(f"{where}: field 'kind' is not one of {', '.join(KINDS)}")
        items = doc.get("checkpoints")
        if not isinstance(items, list) or not items:
            raise LedgerError(f"{where}: field 'checkpoints' is not a list of checkpoints")
        try:
            checkpoints = tuple(_checkpoint_of(item) for item in items)
            proof = tuple(bytes.fromhex(h) for h in doc.get("proof") or [])
            root = doc.get("site_root")
            site_root = bytes.fromhex(root) if root is not None else None
        except (ValueError, KeyError, TypeError, AttributeError, binascii.Error):
            raise LedgerError(
                f"{where}: a checkpoint, 'proof' or 'site_root' is malformed"
            ) from None
        return cls(
            cast(EvidenceKind, kind), str(doc.get("site", "")), checkpoints, proof, site_root
        )


def _checkpoint_json(cp: StoredCheckpoint) -> dict[str, Any]:
    return {
        "size": cp.size,
        "root": cp.root.hex(),
        "body": cp.body.decode("utf-8"),
        "signature": base64.b64encode(cp.signature).decode("ascii"),
        "org": cp.org,
        "key_id": cp.key_id,
    }


def _checkpoint_of(item: Any) -> StoredCheckpoint:
    return StoredCheckpoint(
        int(item["size"]),
        bytes.fromhex(item["root"]),
        str(item["body"]).encode("utf-8"),
        base64.b64decode(item["signature"], validate=True),
        str(item["org"]),
        str(item["key_id"]),
    )


def write_evidence(folder: Path, evidence: EquivocationEvidence) -> Path:
    """Write ``evidence`` into ``folder`` (a temporary file, then a rename); an existing
    file of the same name is kept (the first evidence of a conflict suffices)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / evidence.file_name()
    if path.exists():
        return path
    write_bytes_atomic(path, (json.dumps(evidence.to_json(), indent=2) + "\n").encode("utf-8"))
    return path


def load_evidence(path: Path) -> EquivocationEvidence:
    """Read an evidence file; LedgerError naming the file and the bad field."""
    doc = load_json_file(path, LedgerError, "a readable JSON evidence file")
    return EquivocationEvidence.from_json(doc, str(path))


def find_evidence(folder: Path) -> list[Path]:
    """The evidence files in ``folder`` (none if it does not exist), sorted by name."""
    if not folder.is_dir():
        return []
    return sorted(folder.glob("equivocation-*.json"))

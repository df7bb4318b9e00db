"""Who may sign: organisation keys from the genesis entry, rotations and revocations.

Replaying the log builds the registry. A key is valid for entries after the one that
introduced it and up to (excluding) the entry that revoked it; old signatures stay
verifiable after a rotation or revocation. A rotation introduces a fresh key only (one the
log has never seen, for any organisation), so a revoked key never becomes valid again. A
``key.revoke`` is signed by the key's organisation or the hub; a ``certificate.revoke`` by
the hub, an operator named in genesis (who runs the CA) or the organisation the
certificate names.

Membership changes after genesis by two entries, each signed by the hub or a genesis
operator: ``member.admitted`` (payload ``org, role, key_id, public_key``, from the new
member's card) adds a fresh key for an organisation that holds no valid key, and
``member.removed`` (payload ``org, reason``) revokes every key of the organisation at that
entry, so its earlier signatures stay verifiable and nothing it signs later is. The
registry keeps each member's role (genesis records may carry ``"role"``; older logs
without it read the hub as ``hub`` and the operators as ``operator``). Refusals name the
entry and the reason.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from accord.core import MEMBER_ROLES, LedgerError
from accord.ledger._entry import Entry

__all__ = [
    "CERT_REVOKE",
    "GENESIS",
    "KEY_REVOKE",
    "KEY_ROTATE",
    "MEMBER_ADMITTED",
    "MEMBER_REMOVED",
    "KeyRegistry",
    "KeyState",
    "key_id_of",
]

GENESIS = "genesis"
KEY_ROTATE = "key.rotate"
KEY_REVOKE = "key.revoke"
# A TLS certificate revocation (payload: accord.crypto._revocation.revocation_payload); the
# registry checks who signed it, sites and the hub replay it into their refused serials.
CERT_REVOKE = "certificate.revoke"
MEMBER_ADMITTED = "member.admitted"
MEMBER_REMOVED = "member.removed"
# Roles a member may be admitted in after genesis: the hub and the operators (who may
# admit and remove members and revoke certificates) are named in genesis only.
_ADMITTED_ROLES = ("site", "researcher")


def key_id_of(public_key: bytes) -> str:
    """First 16 hex digits of SHA-256 of the raw public key."""
    return hashlib.sha256(public_key).hexdigest()[:16]


@dataclass
class KeyState:
    org: str
    public_key: bytes
    added_seq: int
    revoked_seq: int | None = None


@dataclass
class KeyRegistry:
    keys: dict[tuple[str, str], KeyState] = field(default_factory=dict)
    hub: str | None = None
    operators: frozenset[str] = frozenset()  # run the CA: may revoke any certificate
    seen: dict[bytes, tuple[str, int]] = field(default_factory=dict)  # key -> (org, added)
    roles: dict[str, str] = field(default_factory=dict)  # org -> role, as recorded

    def role(self, org: str) -> str | None:
        """``org``'s role (one of :data:`~accord.core.MEMBER_ROLES`), None if never a member.

        A genesis record without ``"role"`` reads as ``hub`` for the hub, ``operator`` for a
        genesis operator, and None otherwise; a removed member keeps its last role.
        """
        if org in self.roles:
            return self.roles[org]
        if org == self.hub:
            return "hub"
        if org in self.operators:
            return "operator"
        return None

    def is_member(self, org: str) -> bool:
        """Whether ``org`` holds at least one key that is not revoked."""
        return any(s.org == org and s.revoked_seq is None for s in self.keys.values())

    def members(self) -> dict[str, str | None]:
        """Current members (organisations with a valid key) and their roles, by name."""
        orgs = sorted({s.org for s in self.keys.values() if s.revoked_seq is None})
        return {org: self.role(org) for org in orgs}

    def key_for(self, entry: Entry) -> KeyState:
        """The key that must have signed ``entry``; LedgerError if unknown or revoked."""
        state = self.keys.get((entry.org, entry.key_id))
        if state is None:
            raise LedgerError(f"unknown key {entry.org}/{entry.key_id}")
        if state.revoked_seq is not None and entry.seq > state.revoked_seq:
            raise LedgerError(
                f"key {entry.org}/{entry.key_id} was revoked at entry {state.revoked_seq}"
            )
        return state

    def public_key(self, org: str, key_id: str, at_seq: int) -> bytes:
        """The public key of (org, key_id) if valid at log position ``at_seq``."""
        state = self.keys.get((org, key_id))
        if state is None or state.added_seq > at_seq:
            raise LedgerError(f"unknown key {org}/{key_id}")
        if state.revoked_seq is not None and at_seq > state.revoked_seq:
            raise LedgerError(f"key {org}/{key_id} was revoked at entry {state.revoked_seq}")
        return state.public_key

    def genesis_key(self, entry: Entry) -> bytes:
        """Load the founding organisations from a genesis entry; return its signer's key."""
        if entry.seq != 0 or entry.kind != GENESIS:
            raise LedgerError("the first entry must be the genesis entry")
        orgs = entry.payload.get("organisations")
        if not isinstance(orgs, list) or not orgs:
            raise LedgerError("genesis lists no organisations")
        for item in orgs:
            org, key_id, public = _parse_key(item)
            if public in self.seen:
                raise LedgerError(f"genesis lists key {key_id} twice")
            self.keys[(org, key_id)] = KeyState(org, public, added_seq=0)
            self.seen[public] = (org, 0)
            if "role" in item:
                self.roles[org] = _parse_role(item["role"], org, MEMBER_ROLES, "genesis")
        self.hub = str(entry.payload.get("hub", entry.org))
        operators = entry.payload.get("operators", [])
        if not isinstance(operators, list) or not all(isinstance(o, str) for o in operators):
            raise LedgerError("genesis: field 'operators' must be a list of organisations")
        self.operators = frozenset(operators)
        return self.key_for(entry).public_key

    def apply(self, entry: Entry) -> None:
        """Update the registry after a verified key.rotate / key.revoke entry.

        Refuses (LedgerError naming the entry and the reason) a rotation to a key the log
        has seen before or signed for another organisation, and a key or certificate
        revocation signed by an organisation not entitled to it.
        """
        if entry.kind == KEY_ROTATE:
            self._rotate(entry)
        elif entry.kind == KEY_REVOKE:
            self._revoke_key(entry)
        elif entry.kind == MEMBER_ADMITTED:
            self._admit(entry)
        elif entry.kind == MEMBER_REMOVED:
            self._remove(entry)
        elif entry.kind == CERT_REVOKE:
            named = entry.payload.get("org")
            entitled = entry.org == self.hub or entry.org in self.operators
            if not entitled and (not named or entry.org != named):
                raise _refused(
                    entry,
                    "a certificate may be revoked by the hub, an operator or its own "
                    "organisation only",
                )

    def _rotate(self, entry: Entry) -> None:
        org, key_id, public = _parse_key(entry.payload)
        if org != entry.org:
            raise _refused(entry, "a key rotation must be signed by the same organisation")
        self._introduce(entry, org, key_id, public, "a rotation")

    def _introduce(self, entry: Entry, org: str, key_id: str, public: bytes, what: str) -> None:
        """Add a key the log has never seen (refuse a reused or revoked one) at ``entry``."""
        if public in self.seen:
            owner, added = self.seen[public]
            state = self.keys.get((owner, key_id))
            if state is not None and state.revoked_seq is not None:
                why = f"was revoked at entry {state.revoked_seq} and never becomes valid again"
            else:
                why = f"was already introduced for {owner} at entry {added}"
            raise _refused(entry, f"key {key_id} {why}; {what} must introduce a fresh key")
        self.keys[(org, key_id)] = KeyState(org, public, added_seq=entry.seq)
        self.seen[public] = (org, entry.seq)

    def _revoke_key(self, entry: Entry) -> None:
        target = (str(entry.payload.get("org")), str(entry.payload.get("key_id")))
        if entry.org not in (target[0], self.hub):
            raise _refused(entry, "a key may be revoked by its organisation or the hub only")
        state = self.keys.get(target)
        if state is None:
            raise _refused(entry, f"revocation of unknown key {target[0]}/{target[1]}")
        if state.revoked_seq is None:
            state.revoked_seq = entry.seq

    def _check_governor(self, entry: Entry, what: str) -> None:
        if entry.org != self.hub and entry.org not in self.operators:
            raise _refused(entry, f"{what} must be signed by the hub or a genesis operator")

    def _admit(self, entry: Entry) -> None:
        self._check_governor(entry, "an admission")
        try:
            org, key_id, public = _parse_key(entry.payload)
            role = _parse_role(entry.payload.get("role"), org, _ADMITTED_ROLES, "admission")
        except LedgerError as exc:
            raise _refused(entry, str(exc)) from None
        if self.is_member(org):
            raise _refused(entry, f"{org} is already a member with a valid key")
        self._introduce(entry, org, key_id, public, "an admission")
        self.roles[org] = role

    def _remove(self, entry: Entry) -> None:
        self._check_governor(entry, "a removal")
        org, reason = entry.payload.get("org"), entry.payload.get("reason")
        if not isinstance(org, str) or not isinstance(reason, str) or not reason.strip():
            raise _refused(entry, "a removal names the organisation ('org') and a 'reason'")
        if org == self.hub:
            raise _refused(entry, "the hub cannot be removed from its own log")
        if not self.is_member(org):
            raise _refused(entry, f"{org} is not a member with a valid key")
        for state in self.keys.values():
            if state.org == org and state.revoked_seq is None:
                state.revoked_seq = entry.seq


def _parse_role(role: object, org: str, allowed: tuple[str, ...], where: str) -> str:
    if not isinstance(role, str) or role not in allowed:
        raise LedgerError(f"{where} record for {org}: role is not one of {', '.join(allowed)}")
    return role


def _refused(entry: Entry, reason: str) -> LedgerError:
    return LedgerError(f"entry {entry.seq} ({entry.kind}) by {entry.org} refused: {reason}")


def _parse_key(item: Mapping[str, Any] | Any) -> tuple[str, str, bytes]:
    if not isinstance(item, Mapping):
        raise LedgerError("malformed key record")
    try:
        org, key_id = str(item["org"]), str(item["key_id"])
        public = base64.b64decode(str(item["public_key"]), validate=True)
    except (KeyError, binascii.Error):
        raise LedgerError("malformed key record (org, key_id, public_key)") from None
    if len(public) != 32 or key_id_of(public) != key_id:
        raise LedgerError(f"key record for {org}: key_id does not match the public key")
    return org, key_id, public

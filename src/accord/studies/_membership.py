"""A consortium founded from its members' public cards, on the hub's machine.

Every organisation makes its own keys on its own machine (``accord member enroll``) and
hands over only its card (:class:`~accord.crypto.MemberCard`). The hub operator founds
the consortium from the cards alone, and later admits and removes members by entries
the hub signs::

    HUBDIR/{hub}.key          the hub's own signing key (made there by ``hub enroll``)
    HUBDIR/ledger.sqlite      the log: genesis from the cards, then member.admitted/removed
    HUBDIR/anchor.json        the anchor every member pins (handed over out of band)
    HUBDIR/consortium.json    {"name", "log_id", "hub", "members": {org: role}}

No other organisation's private key is ever here, and no dataset is registered: each site
registers its own. ``consortium.json`` is a convenience listing; the ledger's
:class:`~accord.ledger.KeyRegistry` is what decides who is a member.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from accord.core import ConfigError, load_json_file, new_id
from accord.crypto import Identity, MemberCard, load_identity
from accord.ledger import (
    MEMBER_ADMITTED,
    MEMBER_REMOVED,
    Anchor,
    HubLedger,
    SQLiteLedgerStore,
    anchor_of,
    genesis_payload,
    write_anchor,
)
from accord.studies._jsonio import write_json_atomic

__all__ = ["Founding", "admit_member", "found_consortium", "removal_payload", "remove_member"]

MANIFEST = "consortium.json"
LEDGER = "ledger.sqlite"
ANCHOR = "anchor.json"
_MAX_NAME = 60
_MAX_REASON = 200


@dataclass(frozen=True)
class Founding:
    """What :func:`found_consortium` wrote: the anchor and the files."""

    anchor: Anchor
    ledger: Path
    anchor_file: Path
    manifest: Path


def _check_name(name: str) -> None:
    if 0 < len(name) <= _MAX_NAME and name.isprintable() and name == name.strip():
        return
    raise ConfigError(
        f"--name: expected 1 to {_MAX_NAME} printable characters without leading or trailing spaces"
    )


def _check_cards(cards: Sequence[MemberCard]) -> MemberCard:
    """Refuse duplicate organisations or keys and anything but one hub; return the hub's."""
    orgs = Counter(c.org for c in cards)
    twice = sorted(org for org, n in orgs.items() if n > 1)
    if twice:
        raise ConfigError(f"--member: organisation {twice[0]} has more than one card")
    keys = Counter(c.public.public_key for c in cards)
    shared = [c.org for c in cards if keys[c.public.public_key] > 1]
    if shared:
        raise ConfigError(f"--member: {' and '.join(shared)} hand over the same signing key")
    hubs = [c for c in cards if c.role == "hub"]
    if len(hubs) != 1:
        raise ConfigError(
            f"--member: {len(hubs)} cards have role hub; expected exactly one (the hub's own, "
            "from `accord hub enroll --out HUBDIR`)"
        )
    return hubs[0]


def _hub_identity(folder: Path, org: str, key_id: str) -> Identity:
    """The hub's own key from ``folder/{org}.key``, matching the key ``key_id`` it claims."""
    path = folder / f"{org}.key"
    if not path.is_file():
        raise ConfigError(
            f"{path}: the hub's signing key is not here; run `accord hub enroll --org {org} "
            f"--out {folder}` on this machine"
        )
    identity = load_identity(path)
    if identity.org != org or identity.key_id != key_id:
        raise ConfigError(f"{path}: is not the key on the hub's card (key id {key_id})")
    return identity


def found_consortium(folder: Path, name: str, cards: Sequence[MemberCard]) -> Founding:
    """Write the genesis of consortium ``name`` from ``cards`` into ``folder``.

    Exactly one card has role hub and its private key is ``folder/{hub}.key``; the
    genesis lists every card's ``{org, key_id, public_key, role}``, the hub, and the
    organisations with role operator. Refuses (:class:`ConfigError`) a bad name, duplicate
    organisations or keys, no or two hub cards, a missing or other hub key, and a folder
    that already holds a ledger or a manifest.
    """
    _check_name(name)
    hub_card = _check_cards(cards)
    for existing in (folder / LEDGER, folder / MANIFEST):
        if existing.exists():
            raise ConfigError(f"{existing}: a consortium already exists in {folder}")
    hub = _hub_identity(folder, hub_card.org, hub_card.key_id)
    operators = [c.org for c in cards if c.role == "operator"]
    genesis = genesis_payload(name, hub.org, [c.organisation() for c in cards], operators)
    log_id = new_id("log")
    store = SQLiteLedgerStore(folder / LEDGER)
    try:
        ledger = HubLedger.create(store, hub, log_id, genesis)
        ledger.checkpoint()
        anchor = anchor_of(next(iter(store.read(0, 1))))
    finally:
        store.close()
    write_anchor(folder / ANCHOR, anchor)
    manifest = {
        "name": name,
        "log_id": log_id,
        "hub": hub.org,
        "members": {c.org: c.role for c in cards},
    }
    write_json_atomic(folder / MANIFEST, manifest)
    return Founding(anchor, folder / LEDGER, folder / ANCHOR, folder / MANIFEST)


def _read_manifest(folder: Path) -> dict[str, Any]:
    path = folder / MANIFEST
    if not path.is_file():
        raise ConfigError(
            f"{folder.absolute()}: not a hub folder (no {MANIFEST}; see `consortium init`)"
        )
    manifest = load_json_file(path, ConfigError, "a consortium manifest")
    members = manifest.get("members") if isinstance(manifest, dict) else None
    if not isinstance(members, dict) or not isinstance(manifest.get("hub"), str):
        raise ConfigError(f"{path}: fields 'hub' and 'members' are missing or malformed")
    return dict(manifest)


def _append(folder: Path, kind: str, payload: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    """Sign ``kind`` with the hub's key in ``folder``, append it and checkpoint."""
    manifest = _read_manifest(folder)
    hub = load_identity(folder / f"{manifest['hub']}.key")
    ledger = HubLedger(SQLiteLedgerStore(folder / LEDGER, create=False), hub)
    try:
        seq = ledger.record(hub, kind, payload).seq
        ledger.checkpoint()
        members = ledger.verifier.registry.members()
    finally:
        ledger.close()
    manifest["members"] = members
    write_json_atomic(folder / MANIFEST, manifest)
    return seq, manifest


def removal_payload(org: str, reason: str) -> dict[str, str]:
    """The payload of ``member.removed``; :class:`ConfigError` unless ``reason`` is one
    printable line of at most 200 characters."""
    if not reason.strip() or not reason.isprintable() or len(reason) > _MAX_REASON:
        raise ConfigError(
            f"--reason: expected one printable line of at most {_MAX_REASON} characters"
        )
    return {"org": org, "reason": reason}


def admit_member(folder: Path, card: MemberCard) -> int:
    """Append ``member.admitted`` for ``card`` (signed by the hub) and return its seq.

    The payload is the card's :meth:`~accord.crypto.MemberCard.organisation` record. The
    registry refuses (:class:`~accord.core.LedgerError` naming the entry) a current
    member, a key the log has seen, or a role other than site or researcher.
    """
    return _append(folder, MEMBER_ADMITTED, card.organisation())[0]


def remove_member(folder: Path, org: str, reason: str) -> int:
    """Append ``member.removed`` for ``org`` (signed by the hub) and return its seq.

    Every key of ``org`` is revoked at that entry; refused for the hub itself and for an
    organisation that is not a member.
    """
    return _append(folder, MEMBER_REMOVED, removal_payload(org, reason))[0]

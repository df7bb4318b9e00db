"""Member cards: what an organisation hands over to join a consortium, and nothing more.

Each organisation makes its keys on its own machine (``accord member enroll``) and hands
over one small public file, ``{org}.card.json``::

    {"card": 1, "org": "hospital-a", "role": "site",
     "key_id": "3f9c...", "public_key": "<base64 raw 32-byte Ed25519 key>",
     "csr": "-----BEGIN CERTIFICATE REQUEST-----\\n..."}

``key_id`` and ``public_key`` are its ledger signing key (:meth:`PublicIdentity.to_dict`),
``csr`` the PEM text of its TLS certificate request for the consortium CA. The hub
founds the consortium from the cards alone; the CA operator signs the ``csr``. Reading
is strict: exactly these fields, ``card`` 1, a known role, a key id that matches the key,
and a request that verifies and names the same organisation. Every error names the file
and the field, never a value.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from accord.core import MEMBER_ROLES, KeyFileError, load_json, write_bytes_atomic
from accord.crypto._identity import PublicIdentity, _org_problem
from accord.crypto._pem import read_bounded
from accord.crypto._request import parse_request

__all__ = ["CARD_VERSION", "MemberCard", "card_path", "load_card", "write_card"]

CARD_VERSION = 1
_FIELDS = ("card", "org", "role", "key_id", "public_key", "csr")
_KEY_FILE_FIELDS = frozenset({"private_key_pem", "format"})


def card_path(folder: Path, org: str) -> Path:
    """``folder/{org}.card.json``."""
    return folder / f"{org}.card.json"


@dataclass(frozen=True)
class MemberCard:
    """A member's public card: organisation, role, ledger signing key, TLS request PEM."""

    org: str
    role: str
    public: PublicIdentity
    csr: str

    @property
    def key_id(self) -> str:
        """The signing key's id (first 16 hex characters of SHA-256 of the key)."""
        return self.public.key_id

    def to_dict(self) -> dict[str, Any]:
        """The card's JSON document (the fields in the module docstring, in that order)."""
        key = self.public.to_dict()
        return {
            "card": CARD_VERSION,
            "org": self.org,
            "role": self.role,
            "key_id": key["key_id"],
            "public_key": key["public_key"],
            "csr": self.csr,
        }

    def organisation(self) -> dict[str, str]:
        """The genesis record: ``{"org", "key_id", "public_key", "role"}``."""
        return {**self.public.to_dict(), "role": self.role}


def _check_fields(document: object, where: str) -> dict[str, Any]:
    if not isinstance(document, dict):
        raise KeyFileError(f"{where}: expected a JSON object with fields {', '.join(_FIELDS)}")
    if _KEY_FILE_FIELDS & set(document):
        raise KeyFileError(
            f"{where}: is a private key file, not a member card; never hand over a key "
            "(send {org}.card.json)"
        )
    extra = sorted(str(k) for k in document if k not in _FIELDS)
    if extra:
        raise KeyFileError(f"{where}: unexpected field '{extra[0]}'; expected only {_FIELDS}")
    for name in _FIELDS:
        if name not in document:
            raise KeyFileError(f"{where}: field '{name}' is missing")
    version = document["card"]
    if isinstance(version, bool) or version != CARD_VERSION:
        raise KeyFileError(f"{where}: field 'card' is not {CARD_VERSION}; unknown card version")
    for name in _FIELDS[1:]:
        if not isinstance(document[name], str):
            kind = type(document[name]).__name__
            raise KeyFileError(f"{where}: field '{name}' is a {kind}; expected a string")
    return document


def parse_card(document: object, where: str) -> MemberCard:
    """Check a card's parsed JSON; :class:`KeyFileError` starts with ``where`` and names
    the field."""
    fields = _check_fields(document, where)
    problem = _org_problem(fields["org"])
    if problem:
        raise KeyFileError(f"{where}: field 'org': {problem}")
    if fields["role"] not in MEMBER_ROLES:
        raise KeyFileError(f"{where}: field 'role' is not one of {', '.join(MEMBER_ROLES)}")
    key = {name: fields[name] for name in ("org", "key_id", "public_key")}
    try:
        public = PublicIdentity.from_dict(key)
    except KeyFileError as exc:
        raise KeyFileError(f"{where}: {exc}") from None
    _, org = parse_request(fields["csr"].encode("utf-8"), f"{where}: field 'csr'")
    if org != fields["org"]:
        raise KeyFileError(
            f"{where}: field 'csr' is a request for organisation {org!r}; the card is for "
            f"{fields['org']!r}"
        )
    return MemberCard(fields["org"], fields["role"], public, fields["csr"])


def load_card(path: Path) -> MemberCard:
    """Read and check the member card at ``path`` (see the module docstring).

    Raises :class:`KeyFileError` naming the file and the field: unreadable or over 1 MiB,
    not JSON, an unknown or missing field, a bad role, a key id that does not match the
    public key, a request that does not verify or names another organisation.
    """
    data = read_bounded(path, "member card")
    try:
        document = load_json(data)
    except ValueError as exc:
        raise KeyFileError(f"{path}: not a member card ({exc})") from None
    return parse_card(document, str(path))


def write_card(folder: Path, public: PublicIdentity, role: str, csr_pem: str) -> Path:
    """Write ``folder/{org}.card.json`` (mode 0644, atomically) and return its path.

    The card is checked as :func:`load_card` checks it before anything is written.
    """
    card = MemberCard(public.org, role, public, csr_pem)
    path = card_path(folder, public.org)
    parse_card(card.to_dict(), str(path))
    data = (json.dumps(card.to_dict(), indent=2) + "\n").encode("utf-8")
    try:
        write_bytes_atomic(path, data)
    except OSError as exc:
        raise KeyFileError(f"{path}: cannot write ({exc.strerror})") from None
    return path

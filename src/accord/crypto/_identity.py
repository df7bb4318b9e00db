"""Organisation signing identities: Ed25519 keys named by organisation and key id.

An organisation signs ledger entries, receipts and checkpoints with its private
:class:`Identity`; anyone verifies them with the matching :class:`PublicIdentity`
(the genesis entry lists one per member). The ``key_id`` is the first 16 hex
characters of SHA-256 over the raw 32-byte public key, so it is stable and can be
recomputed by anyone holding the public key.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from accord.core import ConfigError, KeyFileError, Signer

__all__ = [
    "ORG_PATTERN",
    "Identity",
    "PublicIdentity",
    "Signer",
    "key_id_of",
    "new_identity",
]

ORG_PATTERN = r"[a-z0-9][a-z0-9_.-]{0,62}"
PUBLIC_KEY_BYTES = 32
SIGNATURE_BYTES = 64
_KEY_ID_HEX = 16
_FIELDS = ("org", "key_id", "public_key")


def key_id_of(public_key: bytes) -> str:
    """First 16 hex characters of SHA-256 over the raw 32-byte Ed25519 public key."""
    return hashlib.sha256(public_key).hexdigest()[:_KEY_ID_HEX]


def _org_problem(org: object) -> str | None:
    """Why ``org`` is not a valid organisation name, or None when it is."""
    if isinstance(org, str) and re.fullmatch(ORG_PATTERN, org):
        return None
    shown = repr(org) if isinstance(org, str) and len(org) <= 70 else f"a {type(org).__name__}"
    return f"{shown} is not a valid organisation name; expected {ORG_PATTERN}"


@dataclass(frozen=True)
class PublicIdentity:
    """An organisation's public verification key.

    ``public_key`` is the raw 32-byte Ed25519 key; ``key_id`` must equal
    :func:`key_id_of` of it. Construction validates all three fields and raises
    :class:`KeyFileError` naming the bad field.
    """

    org: str
    key_id: str
    public_key: bytes

    def __post_init__(self) -> None:
        problem = _org_problem(self.org)
        if problem:
            raise KeyFileError(f"field 'org': {problem}")
        if not isinstance(self.public_key, bytes) or len(self.public_key) != PUBLIC_KEY_BYTES:
            size = len(self.public_key) if isinstance(self.public_key, bytes) else "not"
            raise KeyFileError(
                f"field 'public_key': {size} bytes; expected {PUBLIC_KEY_BYTES} (raw Ed25519)"
            )
        if self.key_id != key_id_of(self.public_key):
            raise KeyFileError(
                "field 'key_id' does not match the public key; expected the first "
                f"{_KEY_ID_HEX} hex characters of SHA-256(public_key)"
            )

    @classmethod
    def from_key(cls, org: str, public_key: bytes) -> PublicIdentity:
        """Build from an organisation name and a raw public key, deriving the key id."""
        return cls(org=org, key_id=key_id_of(public_key), public_key=public_key)

    def verify(self, signature: bytes, data: bytes) -> bool:
        """True when ``signature`` is this key's Ed25519 signature over ``data``; never raises."""
        if len(signature) != SIGNATURE_BYTES:
            return False
        try:
            Ed25519PublicKey.from_public_bytes(self.public_key).verify(signature, data)
        except (InvalidSignature, ValueError, TypeError):
            return False
        return True

    def to_dict(self) -> dict[str, str]:
        """``{"org", "key_id", "public_key"}`` with the key in standard base64."""
        encoded = base64.b64encode(self.public_key).decode("ascii")
        return {"org": self.org, "key_id": self.key_id, "public_key": encoded}

    @classmethod
    def from_dict(cls, d: Mapping[str, object]) -> PublicIdentity:
        """Inverse of :meth:`to_dict`; :class:`KeyFileError` names the missing or bad field."""
        if not isinstance(d, Mapping):
            raise KeyFileError(f"expected an object with fields {', '.join(_FIELDS)}")
        for name in _FIELDS:
            if not isinstance(d.get(name), str):
                kind = "missing" if name not in d else f"a {type(d[name]).__name__}"
                raise KeyFileError(f"field '{name}' is {kind}; expected a string")
        extra = sorted(str(k) for k in d if k not in _FIELDS)
        if extra:
            raise KeyFileError(f"unexpected field '{extra[0]}'; expected only {', '.join(_FIELDS)}")
        try:
            raw = base64.b64decode(str(d["public_key"]), validate=True)
        except (binascii.Error, ValueError):
            raise KeyFileError("field 'public_key' is not valid base64") from None
        return cls(org=str(d["org"]), key_id=str(d["key_id"]), public_key=raw)


class Identity:
    """An organisation's private signing identity (satisfies :class:`Signer`).

    The private key never appears in ``repr`` or ``str``; only
    :meth:`export_private_pem` reveals it, for writing a key file.
    """

    __slots__ = ("_private", "_public")

    def __init__(self, org: str, private_key: Ed25519PrivateKey) -> None:
        raw = private_key.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        self._public = PublicIdentity.from_key(org, raw)
        self._private = private_key

    @property
    def org(self) -> str:
        """The organisation this identity signs for."""
        return self._public.org

    @property
    def key_id(self) -> str:
        """First 16 hex characters of SHA-256 over the raw public key."""
        return self._public.key_id

    @property
    def public(self) -> PublicIdentity:
        """The matching public identity (safe to share)."""
        return self._public

    def __repr__(self) -> str:
        return f"Identity(org={self.org!r}, key_id={self.key_id!r})"

    def sign(self, data: bytes) -> bytes:
        """Ed25519 signature (64 bytes) over ``data``."""
        return self._private.sign(data)

    def export_private_pem(self, passphrase: bytes | None = None) -> bytes:
        """PKCS#8 PEM of the private key; encrypted when ``passphrase`` is non-empty."""
        encryption: serialization.KeySerializationEncryption = (
            serialization.BestAvailableEncryption(passphrase)
            if passphrase
            else serialization.NoEncryption()
        )
        return self._private.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
        )


def new_identity(org: str) -> Identity:
    """A fresh Ed25519 identity for ``org``; :class:`ConfigError` on a bad organisation name."""
    problem = _org_problem(org)
    if problem:
        raise ConfigError(f"organisation name: {problem}")
    return Identity(org, Ed25519PrivateKey.generate())

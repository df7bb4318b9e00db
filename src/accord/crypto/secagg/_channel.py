"""The sealed channel that carries Shamir shares from one site to another via the hub.

The key is HKDF-SHA256 over X25519(c_sk of one end, c_pk of the other) with
``info = context("share-key", plan, round, sender, recipient)``; the payload is sealed
with AES-256-GCM under a random 96-bit nonce, with associated data
``context("share", plan, round, sender, recipient)``. A ciphertext replayed into another
round or plan, or delivered to another recipient, therefore fails authentication (its
key and its associated data both differ), and so does any flipped byte.
"""

from __future__ import annotations

import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from accord.core import PrivacyError
from accord.crypto.secagg._messages import context

__all__ = ["agree", "open_share", "seal_share"]

_NONCE_BYTES = 12
_KEY_BYTES = 32
_SALT = b"accord/secagg/share/v1"


def agree(private: X25519PrivateKey, peer_public: bytes, who: str) -> bytes:
    """Raw X25519 shared secret; :class:`PrivacyError` naming ``who`` for a bad key."""
    try:
        return private.exchange(X25519PublicKey.from_public_bytes(peer_public))
    except ValueError:
        raise PrivacyError(f"public key of {who} is invalid (low-order or malformed)") from None


def _key(shared: bytes, plan: str, rnd: int, sender: str, recipient: str) -> AESGCM:
    info = context("share-key", plan, rnd, sender, recipient)
    key = HKDF(algorithm=hashes.SHA256(), length=_KEY_BYTES, salt=_SALT, info=info).derive(shared)
    return AESGCM(key)


def seal_share(
    shared: bytes, plan: str, rnd: int, sender: str, recipient: str, payload: bytes
) -> bytes:
    """``nonce ‖ AES-GCM(payload)`` for ``recipient``; ``shared`` comes from :func:`agree`."""
    nonce = os.urandom(_NONCE_BYTES)
    aad = context("share", plan, rnd, sender, recipient)
    return nonce + _key(shared, plan, rnd, sender, recipient).encrypt(nonce, payload, aad)


def open_share(
    shared: bytes, plan: str, rnd: int, sender: str, recipient: str, data: bytes
) -> bytes:
    """Inverse of :func:`seal_share`; :class:`PrivacyError` when authentication fails."""
    aad = context("share", plan, rnd, sender, recipient)
    try:
        aead = _key(shared, plan, rnd, sender, recipient)
        return aead.decrypt(data[:_NONCE_BYTES], data[_NONCE_BYTES:], aad)
    except (InvalidTag, ValueError):
        raise PrivacyError(f"share from {sender} fails authentication") from None

"""Ed25519 verification against raw public keys (the ledger does not need key files)."""

from __future__ import annotations

from functools import lru_cache

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

__all__ = ["verify_signature"]


@lru_cache(maxsize=4096)
def _key(public_key: bytes) -> Ed25519PublicKey:
    return Ed25519PublicKey.from_public_bytes(public_key)


def verify_signature(public_key: bytes, signature: bytes, data: bytes) -> bool:
    """True when ``signature`` is a valid Ed25519 signature of ``data``; never raises."""
    if len(public_key) != 32 or len(signature) != 64:
        return False
    try:
        _key(public_key).verify(signature, data)
    except (InvalidSignature, ValueError):
        return False
    return True

"""Identities and key files (Ed25519 signing keys per organisation).

Imports only ``cryptography``, the standard library and :mod:`accord.core`; the ledger
uses :class:`Signer` structurally and :class:`PublicIdentity` to verify.
"""

from accord.crypto.identity import (
    ORG_PATTERN,
    Identity,
    PublicIdentity,
    Signer,
    key_id_of,
    new_identity,
)
from accord.crypto.keyfile import (
    KEY_FORMAT,
    PASSPHRASE_ENV,
    key_paths,
    load_identity,
    load_public,
    save_identity,
)

__all__ = [
    "KEY_FORMAT",
    "ORG_PATTERN",
    "PASSPHRASE_ENV",
    "Identity",
    "PublicIdentity",
    "Signer",
    "key_id_of",
    "key_paths",
    "load_identity",
    "load_public",
    "new_identity",
    "save_identity",
]

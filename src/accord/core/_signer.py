"""The signing seam shared by identities (``accord.crypto``) and the ledger, and the roles
an organisation signs in (its member card says one; the ledger's registry keeps it)."""

from __future__ import annotations

from typing import Protocol

__all__ = ["MEMBER_ROLES", "Signer"]

# A consortium member is one of these; there is exactly one hub, operators run the CA.
MEMBER_ROLES = ("site", "researcher", "operator", "hub")


class Signer(Protocol):
    """Anything that signs on behalf of an organisation (``accord.crypto.Identity`` does)."""

    @property
    def org(self) -> str: ...

    @property
    def key_id(self) -> str: ...

    def sign(self, data: bytes) -> bytes: ...

"""The signing seam shared by identities (``accord.crypto``) and the ledger."""

from __future__ import annotations

from typing import Protocol

__all__ = ["Signer"]


class Signer(Protocol):
    """Anything that signs on behalf of an organisation (``accord.crypto.Identity`` does)."""

    @property
    def org(self) -> str: ...

    @property
    def key_id(self) -> str: ...

    def sign(self, data: bytes) -> bytes: ...

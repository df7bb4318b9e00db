"""Secure-aggregation messages and the context strings that bind keys to a round.

Every message is a frozen dataclass whose bytes are canonical JSON (sorted keys, no
whitespace) with binary fields in standard base64; ``from_bytes`` raises
:class:`TransportError` naming the bad field. Maps of per-site byte strings (encrypted
shares, unmask replies) travel through :func:`pack_bytes_map` / :func:`unpack_bytes_map`.

:func:`context` builds the domain-separated, length-prefixed byte strings used as HKDF
``info`` and AES-GCM associated data, so ``("ab", "c")`` and ``("a", "bc")`` never
collide.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from accord.core import TransportError, canonical_json

__all__ = [
    "Advertisement",
    "UnmaskRequest",
    "context",
    "pack_bytes_map",
    "unpack_bytes_map",
]

_DOMAIN = b"accord/secagg/v1"
_KEY_BYTES = 32


def context(*parts: str | int) -> bytes:
    """``domain ‖ (len ‖ utf8)*`` over the parts (ints written in decimal)."""
    out = bytearray(_DOMAIN)
    for part in parts:
        raw = str(part).encode("utf-8")
        out += len(raw).to_bytes(4, "big") + raw
    return bytes(out)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _parse(data: bytes, what: str) -> dict[str, Any]:
    try:
        obj = json.loads(data)
    except (ValueError, UnicodeDecodeError):
        raise TransportError(f"{what}: not valid JSON") from None
    if not isinstance(obj, dict):
        raise TransportError(f"{what}: expected a JSON object")
    return obj


def _field(obj: Mapping[str, Any], name: str, kind: type, what: str) -> Any:
    value = obj.get(name)
    if not isinstance(value, kind) or isinstance(value, bool):
        raise TransportError(f"{what}: field '{name}' is missing or not a {kind.__name__}")
    return value


def _bytes_field(obj: Mapping[str, Any], name: str, what: str, size: int | None = None) -> bytes:
    try:
        raw = base64.b64decode(_field(obj, name, str, what), validate=True)
    except (binascii.Error, ValueError):
        raise TransportError(f"{what}: field '{name}' is not valid base64") from None
    if size is not None and len(raw) != size:
        raise TransportError(f"{what}: field '{name}' has {len(raw)} bytes; expected {size}")
    return raw


@dataclass(frozen=True)
class Advertisement:
    """Round 0, site → hub → sites: a site's fresh X25519 public keys for one (plan, round).

    ``c_pk`` encrypts the shares sent to this site, ``s_pk`` agrees pairwise masks;
    ``signature`` is the site's Ed25519 signature over :meth:`signed_bytes`.
    """

    plan: str
    round: int
    site: str
    c_pk: bytes
    s_pk: bytes
    signature: bytes

    def signed_bytes(self) -> bytes:
        """What the signature covers: context(plan, round, site) ‖ c_pk ‖ s_pk."""
        return context("advertisement", self.plan, self.round, self.site) + self.c_pk + self.s_pk

    def to_bytes(self) -> bytes:
        """Canonical JSON with the keys and signature in base64."""
        return canonical_json(
            {
                "plan": self.plan,
                "round": self.round,
                "site": self.site,
                "c_pk": _b64(self.c_pk),
                "s_pk": _b64(self.s_pk),
                "signature": _b64(self.signature),
            }
        )

    @classmethod
    def from_bytes(cls, data: bytes) -> Advertisement:
        """Inverse of :meth:`to_bytes`."""
        what = "secagg advertisement"
        obj = _parse(data, what)
        return cls(
            plan=_field(obj, "plan", str, what),
            round=_field(obj, "round", int, what),
            site=_field(obj, "site", str, what),
            c_pk=_bytes_field(obj, "c_pk", what, _KEY_BYTES),
            s_pk=_bytes_field(obj, "s_pk", what, _KEY_BYTES),
            signature=_bytes_field(obj, "signature", what),
        )


@dataclass(frozen=True)
class UnmaskRequest:
    """Round 3, hub → sites: who sent a masked input (survivors) and who did not (dropped)."""

    plan: str
    round: int
    survivors: tuple[str, ...]
    dropped: tuple[str, ...]

    def to_bytes(self) -> bytes:
        """Canonical JSON."""
        return canonical_json(
            {
                "plan": self.plan,
                "round": self.round,
                "survivors": list(self.survivors),
                "dropped": list(self.dropped),
            }
        )

    @classmethod
    def from_bytes(cls, data: bytes) -> UnmaskRequest:
        """Inverse of :meth:`to_bytes`."""
        what = "secagg unmask request"
        obj = _parse(data, what)
        lists = {name: _field(obj, name, list, what) for name in ("survivors", "dropped")}
        for name, items in lists.items():
            if not all(isinstance(s, str) for s in items):
                raise TransportError(f"{what}: field '{name}' must list site names")
        return cls(
            plan=_field(obj, "plan", str, what),
            round=_field(obj, "round", int, what),
            survivors=tuple(lists["survivors"]),
            dropped=tuple(lists["dropped"]),
        )


def pack_bytes_map(items: Mapping[str, bytes]) -> bytes:
    """``{site: bytes}`` as canonical JSON with base64 values."""
    return canonical_json({site: _b64(value) for site, value in items.items()})


def unpack_bytes_map(data: bytes) -> dict[str, bytes]:
    """Inverse of :func:`pack_bytes_map`."""
    what = "secagg byte map"
    obj = _parse(data, what)
    return {site: _bytes_field(obj, site, what) for site in obj}

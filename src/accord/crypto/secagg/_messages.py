"""Secure-aggregation messages and the context strings that bind keys to a round.

Every message is a frozen dataclass whose bytes are canonical JSON (sorted keys, no
whitespace) with binary fields in standard base64; ``from_bytes`` raises
:class:`TransportError` naming the bad field. Maps of per-site byte strings (encrypted
shares, unmask replies) travel through :func:`pack_bytes_map` / :func:`unpack_bytes_map`.
A survivor signs a :class:`SurvivorList` bound to its round's run by
:func:`session_digest`; the :class:`UnmaskRequest` carries every such signature.

:func:`context` builds the domain-separated, length-prefixed byte strings used as HKDF
``info`` and AES-GCM associated data, so ``("ab", "c")`` and ``("a", "bc")`` never
collide.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from accord.core import TransportError, canonical_json, load_json

__all__ = [
    "Advertisement",
    "SurvivorList",
    "UnmaskRequest",
    "context",
    "pack_bytes_map",
    "session_digest",
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
        obj = load_json(data)
    except ValueError as exc:
        raise TransportError(f"{what}: {exc}") from None
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


def _site_list(obj: Mapping[str, Any], name: str, what: str) -> tuple[str, ...]:
    items = _field(obj, name, list, what)
    if not all(isinstance(s, str) for s in items):
        raise TransportError(f"{what}: field '{name}' must list site names")
    return tuple(items)


def session_digest(adverts: Mapping[str, Advertisement]) -> bytes:
    """SHA-256 of the round's advertised keys (by site name): what makes a consistency
    signature belong to one run of a round, so it cannot be replayed into another."""
    parts: list[str | int] = ["session"]
    for site in sorted(adverts):
        advert = adverts[site]
        parts += [advert.plan, advert.round, site, advert.c_pk.hex(), advert.s_pk.hex()]
    return hashlib.sha256(context(*parts)).digest()


@dataclass(frozen=True)
class SurvivorList:
    """Consistency round, hub → survivors: who sent a masked input (``survivors``) and
    who shared keys but sent none (``dropped``), both sorted. Each survivor signs
    :meth:`signed_bytes` once per round."""

    plan: str
    round: int
    survivors: tuple[str, ...]
    dropped: tuple[str, ...]

    def signed_bytes(self, session: bytes) -> bytes:
        """context("consistency", plan, round, session, |U|, U..., |D|, D...); ``session``
        is :func:`session_digest` of the round's advertisements."""
        return context(
            "consistency",
            self.plan,
            self.round,
            session.hex(),
            len(self.survivors),
            *self.survivors,
            len(self.dropped),
            *self.dropped,
        )

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
    def from_bytes(cls, data: bytes) -> SurvivorList:
        """Inverse of :meth:`to_bytes`."""
        what = "secagg survivor list"
        obj = _parse(data, what)
        return cls(
            plan=_field(obj, "plan", str, what),
            round=_field(obj, "round", int, what),
            survivors=_site_list(obj, "survivors", what),
            dropped=_site_list(obj, "dropped", what),
        )


@dataclass(frozen=True)
class UnmaskRequest:
    """Unmask round, hub → signers: the survivor list again and every survivor's
    signature over it (``signatures``: site → Ed25519 signature)."""

    plan: str
    round: int
    survivors: tuple[str, ...]
    dropped: tuple[str, ...]
    signatures: Mapping[str, bytes] = field(default_factory=dict, hash=False)

    @property
    def survivor_list(self) -> SurvivorList:
        return SurvivorList(self.plan, self.round, self.survivors, self.dropped)

    def to_bytes(self) -> bytes:
        """Canonical JSON with the signatures in base64."""
        return canonical_json(
            {
                "plan": self.plan,
                "round": self.round,
                "survivors": list(self.survivors),
                "dropped": list(self.dropped),
                "signatures": {s: _b64(sig) for s, sig in self.signatures.items()},
            }
        )

    @classmethod
    def from_bytes(cls, data: bytes) -> UnmaskRequest:
        """Inverse of :meth:`to_bytes`."""
        what = "secagg unmask request"
        obj = _parse(data, what)
        signed = _field(obj, "signatures", dict, what)
        return cls(
            plan=_field(obj, "plan", str, what),
            round=_field(obj, "round", int, what),
            survivors=_site_list(obj, "survivors", what),
            dropped=_site_list(obj, "dropped", what),
            signatures={s: _bytes_field(signed, s, what) for s in signed},
        )


def pack_bytes_map(items: Mapping[str, bytes]) -> bytes:
    """``{site: bytes}`` as canonical JSON with base64 values."""
    return canonical_json({site: _b64(value) for site, value in items.items()})


def unpack_bytes_map(data: bytes) -> dict[str, bytes]:
    """Inverse of :func:`pack_bytes_map`."""
    what = "secagg byte map"
    obj = _parse(data, what)
    return {site: _bytes_field(obj, site, what) for site in obj}

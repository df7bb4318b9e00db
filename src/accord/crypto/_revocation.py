"""Revoking certificates through the ledger.

**Revocation** is a ledger entry of kind ``certificate.revoke`` (:data:`CERT_REVOKE`)
whose payload is :func:`revocation_payload`; :func:`revoked_serials` replays ledger
entries into the set of refused serials that :func:`accord.crypto._peer.check_peer` takes.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes

from accord.core import ConfigError, LedgerError
from accord.crypto._peer import PeerCertificate, certificate_org

__all__ = ["CERT_REVOKE", "revocation_payload", "revoked_serials"]

CERT_REVOKE = "certificate.revoke"
_MAX_REASON = 200
_SERIAL = r"[0-9]{1,60}"


def revocation_payload(
    cert_or_serial: x509.Certificate | PeerCertificate | int, reason: str
) -> dict[str, str]:
    """Payload of a ``certificate.revoke`` ledger entry: ``{serial, org, fingerprint, reason}``.

    ``serial`` is a decimal string. Given a bare serial, ``org`` and ``fingerprint`` are
    empty strings. ``reason`` is one line of at most 200 characters (say why, e.g. "key
    lost"; never a patient's data). :class:`ConfigError` on an empty or multi-line reason.
    """
    text = reason.strip() if isinstance(reason, str) else ""
    if not text or len(text) > _MAX_REASON or not text.isprintable():
        raise ConfigError(f"--reason: expected one line of 1 to {_MAX_REASON} printable characters")
    if isinstance(cert_or_serial, x509.Certificate):
        org = certificate_org(cert_or_serial.subject) or ""
        serial = cert_or_serial.serial_number
        fingerprint = cert_or_serial.fingerprint(hashes.SHA256()).hex()
    elif isinstance(cert_or_serial, PeerCertificate):
        org, serial = cert_or_serial.org, cert_or_serial.serial
        fingerprint = cert_or_serial.fingerprint
    elif isinstance(cert_or_serial, int) and not isinstance(cert_or_serial, bool):
        org, serial, fingerprint = "", cert_or_serial, ""
    else:
        raise ConfigError(
            f"cannot revoke a {type(cert_or_serial).__name__}; expected a certificate"
        )
    if serial <= 0:
        raise ConfigError(f"serial {serial}: expected a positive certificate serial")
    return {"serial": str(serial), "org": org, "fingerprint": fingerprint, "reason": text}


def revoked_serials(entries: Iterable[tuple[str, Mapping[str, Any]]]) -> frozenset[int]:
    """Serials revoked by the ``certificate.revoke`` entries among ``(kind, payload)`` pairs.

    Other kinds are ignored. A revocation whose ``serial`` is not a decimal string (or a
    non-negative integer) raises :class:`LedgerError` naming its position, so that a
    malformed revocation is never silently skipped.
    """
    serials: set[int] = set()
    for index, (kind, payload) in enumerate(entries):
        if kind != CERT_REVOKE:
            continue
        serial = payload.get("serial") if isinstance(payload, Mapping) else None
        if isinstance(serial, str) and re.fullmatch(_SERIAL, serial):
            serials.add(int(serial))
        elif isinstance(serial, int) and not isinstance(serial, bool) and serial >= 0:
            serials.add(serial)
        else:
            problem = "missing" if serial is None else f"a malformed {type(serial).__name__}"
            raise LedgerError(
                f"entry {index} ({CERT_REVOKE}): field 'serial' is {problem}; "
                "expected a decimal string"
            )
    return frozenset(serials)

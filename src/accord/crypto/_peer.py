"""Checking a peer's certificate: who it names, and whether to accept it.

Both ends of a TLS connection call :func:`check_peer` on the other's certificate after
the handshake, with the serials revoked in the ledger (:mod:`accord.crypto._revocation`).
A certificate names its organisation as subject ``O=<org>, CN=<org>``
(:func:`certificate_org`).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, datetime

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.x509.oid import NameOID

from accord.core import AuthError
from accord.crypto._identity import _org_problem
from accord.crypto._pem import is_ca

__all__ = ["PeerCertificate", "certificate_org", "check_peer", "describe_certificate"]


@dataclass(frozen=True)
class PeerCertificate:
    """A verified peer: its organisation, serial, SHA-256 fingerprint (hex of DER), expiry (UTC)."""

    org: str
    serial: int
    fingerprint: str
    not_after: datetime


def _single(name: x509.Name, oid: x509.ObjectIdentifier) -> str | None:
    values = [a.value for a in name.get_attributes_for_oid(oid)]
    if len(values) != 1 or not isinstance(values[0], str):
        return None
    return values[0]


def certificate_org(name: x509.Name) -> str | None:
    """The organisation a subject names (one ``O``, a valid name, ``CN`` equal if present)."""
    org = _single(name, NameOID.ORGANIZATION_NAME)
    if org is None or _org_problem(org) is not None:
        return None
    common = name.get_attributes_for_oid(NameOID.COMMON_NAME)
    if common and _single(name, NameOID.COMMON_NAME) != org:
        return None
    return org


def describe_certificate(cert: x509.Certificate) -> PeerCertificate:
    """Org, serial, fingerprint and expiry of ``cert`` without checking who issued it.

    Raises :class:`AuthError` when the subject names no valid organisation.
    """
    org = certificate_org(cert.subject)
    if org is None:
        raise AuthError(f"certificate serial {cert.serial_number} names no valid organisation")
    return PeerCertificate(
        org=org,
        serial=cert.serial_number,
        fingerprint=cert.fingerprint(hashes.SHA256()).hex(),
        not_after=cert.not_valid_after_utc,
    )


def check_peer(
    der: bytes,
    ca: x509.Certificate,
    revoked: Collection[int] = (),
    *,
    expected_org: str | None = None,
    now: datetime | None = None,
) -> PeerCertificate:
    """Verify a peer's DER certificate against the consortium CA and the revocation set.

    Checks, in order: it parses; ``ca`` issued and signed it; it is not a CA; it is within
    its validity period at ``now`` (default: the current time; a naive ``now`` is read as
    UTC) and so is the CA; it names an organisation; its serial is not in ``revoked``; the
    organisation is ``expected_org`` when given. Any failure raises :class:`AuthError`
    whose message names only the serial and the organisation.
    """
    try:
        cert = x509.load_der_x509_certificate(der)
    except ValueError:
        raise AuthError("the peer's certificate is not a valid X.509 certificate") from None
    org = certificate_org(cert.subject)
    who = f"certificate serial {cert.serial_number}" + (f" of {org!r}" if org else "")
    try:
        cert.verify_directly_issued_by(ca)
    except (ValueError, TypeError, InvalidSignature, UnsupportedAlgorithm):
        raise AuthError(f"{who} was not issued by the consortium CA") from None
    if is_ca(cert):
        raise AuthError(f"{who} is a CA certificate; expected an organisation's certificate")
    _check_validity(cert, ca, who, now)
    if org is None:
        raise AuthError(f"{who} names no valid organisation (subject O=<org>, CN=<org>)")
    if cert.serial_number in revoked:
        raise AuthError(f"{who} has been revoked")
    if expected_org is not None and org != expected_org:
        raise AuthError(f"{who} is for organisation {org!r}; expected {expected_org!r}")
    return describe_certificate(cert)


def _check_validity(
    cert: x509.Certificate, ca: x509.Certificate, who: str, now: datetime | None
) -> None:
    moment = now or datetime.now(UTC)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    if moment < cert.not_valid_before_utc:
        raise AuthError(f"{who} is not valid yet")
    if moment > cert.not_valid_after_utc:
        raise AuthError(f"{who} has expired")
    if not ca.not_valid_before_utc <= moment <= ca.not_valid_after_utc:
        raise AuthError(f"{who}: the consortium CA certificate is outside its validity period")

"""Consortium PKI for mutual TLS: the CA, site enrolment, short-lived certificates, revocation.

Files, all PEM::

    CA folder      ca.key         ECDSA P-256 private key (0600)
                   ca.crt         self-signed consortium CA certificate (0644)
    site folder    {org}.tls.key  the site's (or hub's) ECDSA P-256 TLS key (0600)
                   {org}.csr      its certificate signing request (0644)
                   {org}.crt      the certificate the CA issued (0644), next to a copy of ca.crt

The flow: :func:`init_ca` once per consortium; each site and the hub run :func:`enroll`
and hand the CSR to the CA operator, who runs :func:`sign_request`. A certificate names
its organisation as subject ``O=<org>, CN=<org>``; the hub's also lists its host names and
addresses (SubjectAlternativeName). Certificates are short-lived (30 days by default):
**renewal** is signing the same CSR again (:func:`renew`), which issues a fresh serial
for the same key, so a site renews without generating or shipping a new key.

**Revocation** is a ledger entry of kind ``certificate.revoke`` whose payload is
:func:`revocation_payload`; :func:`revoked_serials` replays ledger entries into the set
of refused serials, and both ends of a TLS connection call :func:`check_peer` on the
other's certificate after the handshake.

Private keys are PKCS#8, encrypted when ``ACCORD_KEY_PASSPHRASE`` is set (as for the
signing keys in :mod:`accord.crypto.keyfile`), created 0600 and refused when group or
others can read them. Every file is written to a temporary name and renamed into place,
so a failed command leaves no partial file.
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from accord.core.errors import AuthError, ConfigError, KeyFileError, LedgerError
from accord.crypto.identity import ORG_PATTERN, _org_problem
from accord.crypto.keyfile import PASSPHRASE_ENV, _read_owner_only, _write_atomic

__all__ = [
    "CA_CERT",
    "CA_KEY",
    "CERT_REVOKE",
    "DEFAULT_CERT_DAYS",
    "MAX_CERT_DAYS",
    "PeerCertificate",
    "certificate_org",
    "check_peer",
    "describe_certificate",
    "enroll",
    "enrolment_paths",
    "init_ca",
    "load_ca_certificate",
    "load_certificate",
    "load_private_key",
    "load_request",
    "renew",
    "revocation_payload",
    "revoked_serials",
    "sign_request",
]

CA_KEY = "ca.key"
CA_CERT = "ca.crt"
CERT_REVOKE = "certificate.revoke"
DEFAULT_CERT_DAYS = 30
MAX_CERT_DAYS = 397
_MAX_CA_DAYS = 36500
_CLOCK_SKEW = timedelta(minutes=5)
_MAX_BYTES = 1 << 20
_MAX_NAME = 60
_MAX_REASON = 200
_DNS_LABEL = r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)"
_DNS_NAME = rf"{_DNS_LABEL}(\.{_DNS_LABEL})*"
_SERIAL = r"[0-9]{1,60}"


@dataclass(frozen=True)
class PeerCertificate:
    """A verified peer: its organisation, serial, SHA-256 fingerprint (hex of DER), expiry (UTC)."""

    org: str
    serial: int
    fingerprint: str
    not_after: datetime


def enrolment_paths(folder: Path, org: str) -> tuple[Path, Path, Path]:
    """``(folder/{org}.tls.key, folder/{org}.csr, folder/{org}.crt)``."""
    return folder / f"{org}.tls.key", folder / f"{org}.csr", folder / f"{org}.crt"


# --- writing ------------------------------------------------------------------------------


def _passphrase() -> bytes | None:
    value = os.environ.get(PASSPHRASE_ENV, "")
    return value.encode("utf-8") if value else None


def _private_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    secret = _passphrase()
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(secret) if secret else serialization.NoEncryption()
    )
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
    )


def _write_files(
    folder: Path, files: Sequence[tuple[Path, bytes, int]], *, overwrite: bool
) -> None:
    """Write each ``(path, data, mode)`` atomically; on failure remove the ones already written."""
    if folder.exists() and not folder.is_dir():
        raise KeyFileError(f"{folder}: is not a folder; cannot write into it")
    if not overwrite:
        for path, _, _ in files:
            if path.exists():
                raise KeyFileError(
                    f"{path}: already exists; refusing to replace it (use --overwrite)"
                )
    written: list[Path] = []
    try:
        folder.mkdir(parents=True, exist_ok=True)
        for path, data, mode in files:
            _write_atomic(path, data, mode, overwrite=overwrite)
            written.append(path)
    except OSError as exc:
        _remove(written)
        raise KeyFileError(f"{exc.filename or folder}: cannot write ({exc.strerror})") from None
    except KeyFileError:
        _remove(written)
        raise


def _remove(paths: Iterable[Path]) -> None:
    for path in paths:
        path.unlink(missing_ok=True)


# --- reading ------------------------------------------------------------------------------


def _read(path: Path, what: str) -> bytes:
    try:
        with path.open("rb") as handle:
            data = handle.read(_MAX_BYTES + 1)
    except FileNotFoundError:
        raise KeyFileError(f"{path}: no such {what} file") from None
    except IsADirectoryError:
        raise KeyFileError(f"{path}: is a folder; expected a {what} file") from None
    except OSError as exc:
        raise KeyFileError(f"{path}: cannot read ({exc.strerror})") from None
    if len(data) > _MAX_BYTES:
        raise KeyFileError(f"{path}: larger than {_MAX_BYTES} bytes; not a {what} file")
    return data


def load_private_key(path: Path) -> ec.EllipticCurvePrivateKey:
    """Read an ECDSA P-256 PEM private key (``ca.key`` or ``{org}.tls.key``).

    Needs ``$ACCORD_KEY_PASSPHRASE`` when the key is encrypted. :class:`KeyFileError` names
    the file when it is missing, readable by group or others, not a PEM private key,
    encrypted without (or with a wrong) passphrase, or not P-256.
    """
    try:
        data = _read_owner_only(path)
    except KeyFileError as exc:
        raise KeyFileError(f"{path}: {exc}") from None
    encrypted = b"-----BEGIN ENCRYPTED PRIVATE KEY-----" in data
    secret = _passphrase()
    if encrypted and not secret:
        raise KeyFileError(f"{path}: the private key is encrypted; set {PASSPHRASE_ENV}")
    try:
        key = serialization.load_pem_private_key(data, password=secret if encrypted else None)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        if encrypted:
            raise KeyFileError(
                f"{path}: cannot decrypt the private key: wrong passphrase"
            ) from None
        raise KeyFileError(f"{path}: is not a PEM private key") from None
    if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != "secp256r1":
        raise KeyFileError(f"{path}: holds another kind of key; expected ECDSA P-256")
    return key


def load_certificate(path: Path) -> x509.Certificate:
    """Read a PEM (or DER) X.509 certificate; :class:`KeyFileError` names the file."""
    data = _read(path, "certificate")
    try:
        if data.lstrip().startswith(b"-----BEGIN"):
            return x509.load_pem_x509_certificate(data)
        return x509.load_der_x509_certificate(data)
    except ValueError:
        raise KeyFileError(f"{path}: is not a PEM certificate (.crt)") from None


def _is_ca(cert: x509.Certificate) -> bool:
    try:
        return bool(cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca)
    except (x509.ExtensionNotFound, ValueError):
        return False


def load_ca_certificate(path: Path) -> x509.Certificate:
    """Read the consortium CA certificate (``ca.crt``); :class:`KeyFileError` names the file."""
    cert = load_certificate(path)
    if not _is_ca(cert):
        raise KeyFileError(
            f"{path}: is not a CA certificate; expected ca.crt from `accord ca init`"
        )
    return cert


def _load_ca(folder: Path) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key_path, cert_path = folder / CA_KEY, folder / CA_CERT
    if not folder.is_dir():
        raise KeyFileError(f"{folder}: no such CA folder; create it with `accord ca init`")
    key = load_private_key(key_path)
    cert = load_ca_certificate(cert_path)
    if _public_der(key.public_key()) != _public_der(cert.public_key()):
        raise KeyFileError(f"{key_path}: does not match the CA certificate {cert_path}")
    return key, cert


def _public_der(key: Any) -> bytes:
    encoded: bytes = key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return encoded


# --- names --------------------------------------------------------------------------------


def _org_name(org: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, org),
            x509.NameAttribute(NameOID.COMMON_NAME, org),
        ]
    )


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


def _general_name(host: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(host))
    except ValueError:
        pass
    if len(host) > 253 or not re.fullmatch(_DNS_NAME, host):
        shown = repr(host) if len(host) <= 70 else "a long value"
        raise ConfigError(f"--host {shown}: is not an IP address or DNS name")
    return x509.DNSName(host.lower())


def _check_days(days: int, most: int) -> None:
    if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= most:
        raise ConfigError(f"--days {days!r}: expected a whole number of days from 1 to {most}")


def _check_consortium(name: str) -> None:
    valid = isinstance(name, str) and 0 < len(name) <= _MAX_NAME and name.isprintable()
    if valid and name == name.strip():
        return
    shown = repr(name) if isinstance(name, str) and len(name) <= 70 else "a long value"
    raise ConfigError(
        f"consortium name {shown}: expected 1 to {_MAX_NAME} printable characters "
        "without leading or trailing spaces"
    )


def _utcnow() -> datetime:
    return datetime.now(UTC)


# --- CA and enrolment ---------------------------------------------------------------------


def init_ca(
    folder: Path, consortium: str, *, days: int = 3650, overwrite: bool = False
) -> tuple[Path, Path]:
    """Create the consortium CA: ``folder/ca.key`` (0600) and ``folder/ca.crt``.

    The CA certificate is self-signed, subject ``O=<consortium>, CN=<consortium> CA``,
    valid ``days`` days, and may sign end-entity certificates only (path length 0).
    Refuses to replace an existing CA unless ``overwrite``. Returns ``(key, cert)``.
    """
    _check_consortium(consortium)
    _check_days(days, _MAX_CA_DAYS)
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, consortium),
            x509.NameAttribute(NameOID.COMMON_NAME, f"{consortium} CA"),
        ]
    )
    now = _utcnow()
    public = key.public_key()
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _CLOCK_SKEW)
        .not_valid_after(now + timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(cert_sign=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(public), critical=False)
        .sign(key, hashes.SHA256())
    )
    key_path, cert_path = folder / CA_KEY, folder / CA_CERT
    files = [(key_path, _private_pem(key), 0o600), (cert_path, _cert_pem(cert), 0o644)]
    _write_files(folder, files, overwrite=overwrite)
    return key_path, cert_path


def _key_usage(*, cert_sign: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=not cert_sign,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=cert_sign,
        crl_sign=cert_sign,
        encipher_only=False,
        decipher_only=False,
    )


def _cert_pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def enroll(
    folder: Path, org: str, *, hosts: Sequence[str] = (), overwrite: bool = False
) -> tuple[Path, Path]:
    """Make a site's (or the hub's) TLS key ``{org}.tls.key`` (0600) and request ``{org}.csr``.

    ``hosts`` become the SubjectAlternativeName (IP addresses are recognised, anything else
    must be a DNS name); the hub lists the names and addresses sites connect to, a site
    that only connects out needs none. Refuses to replace an existing key unless
    ``overwrite``. Returns ``(key, csr)``.
    """
    problem = _org_problem(org)
    if problem:
        raise ConfigError(f"organisation name: {problem}")
    names = list(dict.fromkeys(_general_name(host) for host in hosts))
    key = ec.generate_private_key(ec.SECP256R1())
    builder = x509.CertificateSigningRequestBuilder().subject_name(_org_name(org))
    if names:
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    csr = builder.sign(key, hashes.SHA256())
    key_path, csr_path, _ = enrolment_paths(folder, org)
    files = [
        (key_path, _private_pem(key), 0o600),
        (csr_path, csr.public_bytes(serialization.Encoding.PEM), 0o644),
    ]
    _write_files(folder, files, overwrite=overwrite)
    return key_path, csr_path


# --- signing ------------------------------------------------------------------------------


def load_request(path: Path) -> tuple[x509.CertificateSigningRequest, str]:
    """Read and check a CSR: PEM, valid self-signature, ECDSA P-256 key, one valid org.

    Returns ``(request, org)``; :class:`KeyFileError` names the file and the problem.
    """
    data = _read(path, "certificate request")
    try:
        csr = x509.load_pem_x509_csr(data)
    except ValueError:
        raise KeyFileError(f"{path}: is not a PEM certificate request (.csr)") from None
    try:
        valid = csr.is_signature_valid
    except (ValueError, UnsupportedAlgorithm):
        valid = False
    if not valid:
        raise KeyFileError(f"{path}: the request's signature does not verify (tampered or corrupt)")
    public = csr.public_key()
    if not isinstance(public, ec.EllipticCurvePublicKey) or public.curve.name != "secp256r1":
        raise KeyFileError(f"{path}: the request holds another kind of key; expected ECDSA P-256")
    org = certificate_org(csr.subject)
    if org is None:
        raise KeyFileError(
            f"{path}: the request's subject does not name one valid organisation "
            f"(O=<org>, CN=<org>, org matching {ORG_PATTERN})"
        )
    return csr, org


def _request_hosts(csr: x509.CertificateSigningRequest, path: Path) -> x509.SubjectAlternativeName:
    try:
        san = csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return x509.SubjectAlternativeName([])
    except ValueError:
        raise KeyFileError(f"{path}: the request's extensions are malformed") from None
    if any(not isinstance(name, x509.DNSName | x509.IPAddress) for name in san):
        raise KeyFileError(f"{path}: the request's alternative names must be DNS names or IPs")
    return san


def sign_request(
    ca_folder: Path,
    csr_path: Path,
    out: Path,
    *,
    days: int = DEFAULT_CERT_DAYS,
    org: str | None = None,
) -> Path:
    """Issue ``out/{org}.crt`` for the request at ``csr_path``, signed by the CA in ``ca_folder``.

    Checks the request (see :func:`load_request`) and, when ``org`` is given, that it is
    the organisation the request names. The certificate gets a random serial, subject
    ``O=<org>, CN=<org>``, the request's host names, key usage digitalSignature, extended
    key usage clientAuth and serverAuth, no CA rights, and lives ``days`` days (at most
    :data:`MAX_CERT_DAYS`, and never past the CA's own expiry). An existing certificate
    for the organisation is replaced: signing the same request again is renewal.
    """
    _check_days(days, MAX_CERT_DAYS)
    if org is not None and (problem := _org_problem(org)):
        raise ConfigError(f"--org: {problem}")
    csr, csr_org = load_request(csr_path)
    if org is not None and org != csr_org:
        raise KeyFileError(
            f"{csr_path}: the request is for organisation {csr_org!r}; expected {org!r}"
        )
    hosts = _request_hosts(csr, csr_path)
    ca_key, ca_cert = _load_ca(ca_folder)
    now = _utcnow()
    not_after = min(now + timedelta(days=days), ca_cert.not_valid_after_utc)
    if not_after <= now:
        raise KeyFileError(f"{ca_folder / CA_CERT}: the CA certificate has expired")
    cert = _issue(csr, csr_org, hosts, ca_key, ca_cert, now, not_after)
    path = enrolment_paths(out, csr_org)[2]
    _write_files(out, [(path, _cert_pem(cert), 0o644)], overwrite=True)
    return path


def renew(
    ca_folder: Path,
    csr_path: Path,
    out: Path,
    *,
    days: int = DEFAULT_CERT_DAYS,
    org: str | None = None,
) -> Path:
    """Renew a certificate: sign the site's same request again (new serial, same key)."""
    return sign_request(ca_folder, csr_path, out, days=days, org=org)


def _issue(
    csr: x509.CertificateSigningRequest,
    org: str,
    hosts: x509.SubjectAlternativeName,
    ca_key: ec.EllipticCurvePrivateKey,
    ca_cert: x509.Certificate,
    now: datetime,
    not_after: datetime,
) -> x509.Certificate:
    public = csr.public_key()
    if not isinstance(public, ec.EllipticCurvePublicKey):  # checked by load_request
        raise KeyFileError("the request holds another kind of key; expected ECDSA P-256")
    builder = (
        x509.CertificateBuilder()
        .subject_name(_org_name(org))
        .issuer_name(ca_cert.subject)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _CLOCK_SKEW)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(cert_sign=False), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.CLIENT_AUTH, ExtendedKeyUsageOID.SERVER_AUTH]
            ),
            critical=False,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
    )
    if len(hosts):
        builder = builder.add_extension(hosts, critical=False)
    return builder.sign(ca_key, hashes.SHA256())


# --- checking peers -----------------------------------------------------------------------


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
    if _is_ca(cert):
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
    moment = now or _utcnow()
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    if moment < cert.not_valid_before_utc:
        raise AuthError(f"{who} is not valid yet")
    if moment > cert.not_valid_after_utc:
        raise AuthError(f"{who} has expired")
    if not ca.not_valid_before_utc <= moment <= ca.not_valid_after_utc:
        raise AuthError(f"{who}: the consortium CA certificate is outside its validity period")


# --- revocation ---------------------------------------------------------------------------


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

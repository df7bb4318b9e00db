"""The consortium certificate authority: the CA, site enrolment, short-lived certificates.

The flow: :func:`init_ca` once per consortium; each site and the hub run :func:`enroll`
and hand the CSR to the CA operator, who runs :func:`sign_request`. A certificate names
its organisation as subject ``O=<org>, CN=<org>``; the hub's also lists its host names and
addresses (SubjectAlternativeName). Certificates are short-lived (30 days by default):
**renewal** is signing the same CSR again (:func:`renew`), which issues a fresh serial
for the same key, so a site renews without generating or shipping a new key.

The files and their modes are listed in :mod:`accord.crypto._certfile`. Every file is
written to a temporary name and renamed into place, so a failed command leaves no partial
file. Revocation is in :mod:`accord.crypto._revocation`.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from accord.core import ConfigError, KeyFileError
from accord.crypto._card import load_card
from accord.crypto._certfile import (
    CA_CERT,
    CA_KEY,
    enrolment_paths,
    load_ca_certificate,
    load_private_key,
)
from accord.crypto._identity import _org_problem
from accord.crypto._pem import cert_pem, private_pem, public_der, write_files
from accord.crypto._request import load_request, parse_request

__all__ = [
    "DEFAULT_CERT_DAYS",
    "MAX_CERT_DAYS",
    "enroll",
    "init_ca",
    "load_request",
    "renew",
    "sign_request",
]

DEFAULT_CERT_DAYS = 30
MAX_CERT_DAYS = 397
_MAX_CA_DAYS = 36500
_CLOCK_SKEW = timedelta(minutes=5)
_MAX_NAME = 60
_DNS_LABEL = r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)"
_DNS_NAME = rf"{_DNS_LABEL}(\.{_DNS_LABEL})*"


def _load_ca(folder: Path) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key_path, cert_path = folder / CA_KEY, folder / CA_CERT
    if not folder.is_dir():
        raise KeyFileError(
            f"{folder.absolute()}: no such CA folder; create it with `accord ca init`"
        )
    key = load_private_key(key_path)
    cert = load_ca_certificate(cert_path)
    if public_der(key.public_key()) != public_der(cert.public_key()):
        raise KeyFileError(f"{key_path}: does not match the CA certificate {cert_path}")
    return key, cert


def _org_name(org: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, org),
            x509.NameAttribute(NameOID.COMMON_NAME, org),
        ]
    )


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
    now = datetime.now(UTC)
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
    files = [(key_path, private_pem(key), 0o600), (cert_path, cert_pem(cert), 0o644)]
    write_files(folder, files, overwrite=overwrite)
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
        (key_path, private_pem(key), 0o600),
        (csr_path, csr.public_bytes(serialization.Encoding.PEM), 0o644),
    ]
    write_files(folder, files, overwrite=overwrite)
    return key_path, csr_path


def _read_request(path: Path) -> tuple[x509.CertificateSigningRequest, str]:
    """The request in a ``.csr`` file, or in a member card (a ``.json`` file)."""
    if path.suffix != ".json":
        return load_request(path)
    card = load_card(path)
    return parse_request(card.csr.encode("utf-8"), f"{path}: field 'csr'")


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

    ``csr_path`` is a ``.csr`` file or a member card (``{org}.card.json``, checked as
    :func:`~accord.crypto._card.load_card` does), whose ``csr`` field is signed.

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
    csr, csr_org = _read_request(csr_path)
    if org is not None and org != csr_org:
        raise KeyFileError(
            f"{csr_path}: the request is for organisation {csr_org!r}; expected {org!r}"
        )
    hosts = _request_hosts(csr, csr_path)
    ca_key, ca_cert = _load_ca(ca_folder)
    now = datetime.now(UTC)
    not_after = min(now + timedelta(days=days), ca_cert.not_valid_after_utc)
    if not_after <= now:
        raise KeyFileError(f"{ca_folder / CA_CERT}: the CA certificate has expired")
    cert = _issue(csr, csr_org, hosts, ca_key, ca_cert, now, not_after)
    path = enrolment_paths(out, csr_org)[2]
    write_files(out, [(path, cert_pem(cert), 0o644)], overwrite=True)
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

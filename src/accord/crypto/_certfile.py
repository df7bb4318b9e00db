"""The consortium PKI's files, and reading them back with errors that name the file.

All PEM::

    CA folder      ca.key         ECDSA P-256 private key (0600)
                   ca.crt         self-signed consortium CA certificate (0644)
    site folder    {org}.tls.key  the site's (or hub's) ECDSA P-256 TLS key (0600)
                   {org}.csr      its certificate signing request (0644)
                   {org}.crt      the certificate the CA issued (0644), next to a copy of ca.crt

:mod:`accord.crypto._ca` writes them. Private keys are PKCS#8, encrypted when
``ACCORD_KEY_PASSPHRASE`` is set (as for the signing keys in :mod:`accord.crypto._keyfile`),
created 0600 and refused when group or others can read them.
"""

from __future__ import annotations

from pathlib import Path

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from accord.core import KeyFileError
from accord.crypto._keyfile import PASSPHRASE_ENV, _read_owner_only
from accord.crypto._pem import is_ca, passphrase, read_bounded

__all__ = [
    "CA_CERT",
    "CA_KEY",
    "enrolment_paths",
    "load_ca_certificate",
    "load_certificate",
    "load_private_key",
]

CA_KEY = "ca.key"
CA_CERT = "ca.crt"


def enrolment_paths(folder: Path, org: str) -> tuple[Path, Path, Path]:
    """``(folder/{org}.tls.key, folder/{org}.csr, folder/{org}.crt)``."""
    return folder / f"{org}.tls.key", folder / f"{org}.csr", folder / f"{org}.crt"


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
    secret = passphrase()
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
    data = read_bounded(path, "certificate")
    try:
        if data.lstrip().startswith(b"-----BEGIN"):
            return x509.load_pem_x509_certificate(data)
        return x509.load_der_x509_certificate(data)
    except ValueError:
        raise KeyFileError(f"{path}: is not a PEM certificate (.crt)") from None


def load_ca_certificate(path: Path) -> x509.Certificate:
    """Read the consortium CA certificate (``ca.crt``); :class:`KeyFileError` names the file."""
    cert = load_certificate(path)
    if not is_ca(cert):
        raise KeyFileError(
            f"{path}: is not a CA certificate; expected ca.crt from `accord ca init`"
        )
    return cert

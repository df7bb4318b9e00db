"""TLS 1.3 contexts with mutual authentication by the consortium CA.

Both ends present a certificate from :mod:`accord.crypto._ca` and accept only peers whose
certificate the consortium CA signed: the hub's server context requires a client
certificate, a site's client context checks the hub's host name against the
certificate's alternative names. The handshake checks the chain and validity; revocation
is a ledger fact the ``ssl`` module cannot see, so after the handshake each end calls
:func:`authenticate_peer` (or :func:`accord.crypto._peer.check_peer`) with the revoked serials.

A site folder holds ``{org}.crt``, ``{org}.tls.key`` and ``ca.crt``
(:meth:`TLSFiles.for_org`). An encrypted key is opened with ``$ACCORD_KEY_PASSPHRASE``;
``ssl`` never prompts on the terminal.
"""

from __future__ import annotations

import ipaddress
import ssl
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from accord.core import AuthError, ConfigError, KeyFileError
from accord.crypto._certfile import (
    CA_CERT,
    enrolment_paths,
    load_ca_certificate,
    load_certificate,
    load_private_key,
)
from accord.crypto._peer import PeerCertificate, check_peer
from accord.crypto._pem import passphrase, public_der

__all__ = [
    "TLSFiles",
    "authenticate_peer",
    "check_insecure_bind",
    "client_context",
    "server_context",
]


@dataclass(frozen=True)
class TLSFiles:
    """Where one organisation's TLS certificate, private key and the CA certificate live."""

    cert: Path
    key: Path
    ca: Path

    @classmethod
    def for_org(cls, folder: Path, org: str) -> TLSFiles:
        """``folder/{org}.crt``, ``folder/{org}.tls.key`` and ``folder/ca.crt``."""
        key, _, cert = enrolment_paths(folder, org)
        return cls(cert=cert, key=key, ca=folder / CA_CERT)


def server_context(cert: Path, key: Path, ca: Path) -> ssl.SSLContext:
    """A TLS 1.3 server context (the hub) that requires a client certificate from ``ca``.

    :class:`KeyFileError` names the file when a certificate or key is missing, malformed,
    too open, encrypted without the passphrase, or when the key does not match ``cert``.
    """
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.verify_mode = ssl.CERT_REQUIRED
    _configure(context, cert, key, ca)
    return context


def client_context(cert: Path, key: Path, ca: Path) -> ssl.SSLContext:
    """A TLS 1.3 client context (a site) presenting ``cert``, trusting only ``ca``.

    The server's host name is checked against its certificate's alternative names.
    Raises :class:`KeyFileError` as :func:`server_context` does.
    """
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.verify_mode = ssl.CERT_REQUIRED
    context.check_hostname = True
    _configure(context, cert, key, ca)
    return context


def _configure(context: ssl.SSLContext, cert: Path, key: Path, ca: Path) -> None:
    context.minimum_version = ssl.TLSVersion.TLSv1_3
    context.verify_flags |= ssl.VERIFY_X509_STRICT
    authority = load_ca_certificate(ca)
    context.load_verify_locations(
        cadata=authority.public_bytes(serialization.Encoding.PEM).decode("ascii")
    )
    _load_chain(context, cert, key)


def _load_chain(context: ssl.SSLContext, cert: Path, key: Path) -> None:
    certificate = load_certificate(cert)
    private = load_private_key(key)
    if public_der(private.public_key()) != public_der(certificate.public_key()):
        raise KeyFileError(f"{key}: does not match the certificate {cert}")
    try:
        # An empty password makes OpenSSL fail instead of prompting on the terminal.
        context.load_cert_chain(cert, key, password=passphrase() or b"")
    except (ssl.SSLError, OSError) as exc:
        reason = getattr(exc, "reason", None) or type(exc).__name__
        raise KeyFileError(f"{cert}: cannot load certificate and key for TLS ({reason})") from None


def authenticate_peer(
    sock: ssl.SSLSocket | ssl.SSLObject,
    ca: x509.Certificate,
    revoked: Collection[int] = (),
    *,
    expected_org: str | None = None,
) -> PeerCertificate:
    """After the handshake: :func:`~accord.crypto._peer.check_peer` on the peer's certificate.

    Raises :class:`AuthError` when the peer presented none, or when it is revoked, expired,
    foreign or (with ``expected_org``) for another organisation.
    """
    der = sock.getpeercert(binary_form=True)
    if not der:
        raise AuthError("the peer presented no certificate")
    return check_peer(der, ca, revoked, expected_org=expected_org)


def check_insecure_bind(host: str) -> None:
    """Refuse ``--insecure`` (plain HTTP) on anything but a loopback address or ``localhost``.

    ``--insecure`` exists only for local tests; :class:`ConfigError` otherwise.
    """
    name = host.strip().removeprefix("[").removesuffix("]") if isinstance(host, str) else ""
    if name.lower() == "localhost":
        return
    try:
        if ipaddress.ip_address(name).is_loopback:
            return
    except ValueError:
        pass
    shown = repr(host) if isinstance(host, str) and len(host) <= 70 else "a long value"
    raise ConfigError(
        f"--insecure exists only for local tests and refuses the non-loopback address {shown}; "
        "bind to 127.0.0.1, ::1 or localhost, or serve with TLS"
    )

"""TLS certificate requests (CSRs): read one from a file or from a card's PEM text, check it.

A request must be PEM, carry a valid self-signature, hold an ECDSA P-256 key and name one
valid organisation (``O=<org>, CN=<org>``). :mod:`accord.crypto._ca` signs them,
:mod:`accord.crypto._card` carries one in each member card.
"""

from __future__ import annotations

from pathlib import Path

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric import ec

from accord.core import KeyFileError
from accord.crypto._identity import ORG_PATTERN
from accord.crypto._peer import certificate_org
from accord.crypto._pem import read_bounded

__all__ = ["load_request", "parse_request"]


def parse_request(data: bytes, where: str) -> tuple[x509.CertificateSigningRequest, str]:
    """Check the PEM request ``data``; returns ``(request, org)``.

    ``where`` starts every :class:`KeyFileError` message (a file, or a file and its field);
    no message echoes the data.
    """
    if b"PRIVATE KEY" in data:
        raise KeyFileError(
            f"{where}: holds a private key, not a certificate request; never hand over a "
            "private key (send the .csr or the .card.json)"
        )
    try:
        csr = x509.load_pem_x509_csr(data)
    except ValueError:
        raise KeyFileError(f"{where}: is not a PEM certificate request (.csr)") from None
    try:
        valid = csr.is_signature_valid
    except (ValueError, UnsupportedAlgorithm):
        valid = False
    if not valid:
        raise KeyFileError(
            f"{where}: the request's signature does not verify (tampered or corrupt)"
        )
    public = csr.public_key()
    if not isinstance(public, ec.EllipticCurvePublicKey) or public.curve.name != "secp256r1":
        raise KeyFileError(f"{where}: the request holds another kind of key; expected ECDSA P-256")
    org = certificate_org(csr.subject)
    if org is None:
        raise KeyFileError(
            f"{where}: the request's subject does not name one valid organisation "
            f"(O=<org>, CN=<org>, org matching {ORG_PATTERN})"
        )
    return csr, org


def load_request(path: Path) -> tuple[x509.CertificateSigningRequest, str]:
    """Read and check a CSR file (see :func:`parse_request`); returns ``(request, org)``."""
    return parse_request(read_bounded(path, "certificate request"), str(path))

"""PEM key and certificate files, as the PKI modules and the TLS contexts share them.

Bounded reads, all-or-nothing writes, the PEM and DER encodings, the passphrase that
encrypts private keys (``$ACCORD_KEY_PASSPHRASE``, as for the signing keys in
:mod:`accord.crypto._keyfile`) and the CA flag of a certificate. Private to
:mod:`accord.crypto`; the public readers are in :mod:`accord.crypto._certfile`.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from accord.core import KeyFileError
from accord.crypto._keyfile import PASSPHRASE_ENV, _write_atomic

__all__ = [
    "MAX_BYTES",
    "cert_pem",
    "is_ca",
    "passphrase",
    "private_pem",
    "public_der",
    "read_bounded",
    "write_files",
]

MAX_BYTES = 1 << 20


def passphrase() -> bytes | None:
    """``$ACCORD_KEY_PASSPHRASE`` as bytes, or None when unset or empty."""
    value = os.environ.get(PASSPHRASE_ENV, "")
    return value.encode("utf-8") if value else None


def private_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    """PKCS#8 PEM of ``key``, encrypted with :func:`passphrase` when one is set."""
    secret = passphrase()
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(secret) if secret else serialization.NoEncryption()
    )
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
    )


def cert_pem(cert: x509.Certificate) -> bytes:
    """PEM of ``cert``."""
    return cert.public_bytes(serialization.Encoding.PEM)


def public_der(key: Any) -> bytes:
    """DER SubjectPublicKeyInfo of a public key (to compare keys)."""
    encoded: bytes = key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return encoded


def write_files(folder: Path, files: Sequence[tuple[Path, bytes, int]], *, overwrite: bool) -> None:
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


def read_bounded(path: Path, what: str) -> bytes:
    """The bytes of a ``what`` file of at most :data:`MAX_BYTES`; :class:`KeyFileError` names it."""
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_BYTES + 1)
    except FileNotFoundError:
        raise KeyFileError(f"{path.absolute()}: no such {what} file") from None
    except IsADirectoryError:
        raise KeyFileError(f"{path}: is a folder; expected a {what} file") from None
    except OSError as exc:
        raise KeyFileError(f"{path}: cannot read ({exc.strerror})") from None
    if len(data) > MAX_BYTES:
        raise KeyFileError(f"{path}: larger than {MAX_BYTES} bytes; not a {what} file")
    return data


def is_ca(cert: x509.Certificate) -> bool:
    """Whether ``cert`` has BasicConstraints ``ca=True`` (False when absent or malformed)."""
    try:
        return bool(cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca)
    except (x509.ExtensionNotFound, ValueError):
        return False

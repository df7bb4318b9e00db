"""Key files on disk: ``{org}.key`` (private, owner-only) and ``{org}.pub.json`` (public).

The private key file is a small JSON document, so the organisation name travels with
the key and a wrong file is recognised before any key material is parsed::

    {"format": "accord-key/1", "org": "hospital-a", "key_id": "3f9c...",
     "public_key": "<base64 raw 32 bytes>",
     "private_key_pem": "-----BEGIN PRIVATE KEY-----\\n...PKCS#8 Ed25519..."}

The PEM is **unencrypted** unless a passphrase is given (or the environment variable
``ACCORD_KEY_PASSPHRASE`` is set and non-empty when saving): then it is a PKCS#8
``ENCRYPTED PRIVATE KEY`` and loading needs the same passphrase. An unencrypted key is
protected by file permissions only: it is created with mode 0600 (never briefly wider)
and loading refuses a file that group or others can read or write, as ssh does.

The public file holds :meth:`PublicIdentity.to_dict` (mode 0644). Both are written
atomically: a temporary file in the same folder, fsync, then a rename.
"""

from __future__ import annotations

import json
import os
import secrets
import stat
from pathlib import Path

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from accord.core import KeyFileError, load_json
from accord.crypto._identity import Identity, PublicIdentity

__all__ = [
    "KEY_FORMAT",
    "PASSPHRASE_ENV",
    "key_paths",
    "load_identity",
    "load_public",
    "save_identity",
]

KEY_FORMAT = "accord-key/1"
PASSPHRASE_ENV = "ACCORD_KEY_PASSPHRASE"
_KEY_FIELDS = ("format", "org", "key_id", "public_key", "private_key_pem")
_MAX_BYTES = 1 << 20


def key_paths(folder: Path, org: str) -> tuple[Path, Path]:
    """``(folder/{org}.key, folder/{org}.pub.json)``."""
    return folder / f"{org}.key", folder / f"{org}.pub.json"


def _env_passphrase() -> bytes | None:
    value = os.environ.get(PASSPHRASE_ENV, "")
    return value.encode("utf-8") if value else None


def save_identity(
    identity: Identity,
    folder: Path,
    *,
    overwrite: bool = False,
    passphrase: bytes | None = None,
) -> tuple[Path, Path]:
    """Write ``{org}.key`` (0600) and ``{org}.pub.json`` (0644) into ``folder``.

    ``passphrase`` defaults to ``$ACCORD_KEY_PASSPHRASE``; without either the private key
    is stored unencrypted (see the module docstring). Refuses to replace an existing key
    file unless ``overwrite``. Returns ``(key_path, public_path)``.
    """
    key_path, pub_path = key_paths(folder, identity.org)
    secret = passphrase or _env_passphrase()
    document = {
        "format": KEY_FORMAT,
        **identity.public.to_dict(),
        "private_key_pem": identity.export_private_pem(secret).decode("ascii"),
    }
    if folder.exists() and not folder.is_dir():
        raise KeyFileError(f"{folder}: is not a folder; cannot write keys into it")
    if key_path.exists() and not overwrite:
        raise _exists(key_path)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        _write_atomic(key_path, _json_bytes(document), 0o600, overwrite=overwrite)
        _write_atomic(pub_path, _json_bytes(identity.public.to_dict()), 0o644, overwrite=True)
    except OSError as exc:
        raise KeyFileError(f"{exc.filename or folder}: cannot write ({exc.strerror})") from None
    return key_path, pub_path


def _exists(key_path: Path) -> KeyFileError:
    return KeyFileError(f"{key_path}: already exists; refusing to replace a key (use --overwrite)")


def _json_bytes(document: dict[str, str]) -> bytes:
    return (json.dumps(document, indent=2) + "\n").encode("utf-8")


def _write_atomic(path: Path, data: bytes, mode: int, *, overwrite: bool) -> None:
    """Create a temp file with ``mode`` from the start, fsync it, then move it into place.

    Without ``overwrite`` the move is a hard link, which fails atomically when ``path``
    already exists, so a key written concurrently by another process is never clobbered.
    """
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        with os.fdopen(fd, "wb") as handle:
            os.fchmod(handle.fileno(), mode)  # the umask may have narrowed 0o644
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        _publish(tmp, path, overwrite=overwrite)
    finally:
        tmp.unlink(missing_ok=True)
    _fsync_folder(path.parent)


def _publish(tmp: Path, path: Path, *, overwrite: bool) -> None:
    if overwrite:
        os.replace(tmp, path)
        return
    try:
        os.link(tmp, path)
    except FileExistsError:
        raise _exists(path) from None
    except OSError:  # a filesystem without hard links: check, then rename
        if path.exists():
            raise _exists(path) from None
        os.replace(tmp, path)


def _fsync_folder(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def load_identity(path: Path, *, passphrase: bytes | None = None) -> Identity:
    """Read a private key file written by :func:`save_identity`.

    ``passphrase`` defaults to ``$ACCORD_KEY_PASSPHRASE``. Raises :class:`KeyFileError`
    naming the file when it is missing, readable by group or others, not an accord key
    file, not an Ed25519 key, encrypted without (or with the wrong) passphrase, or when
    its org, key id or public key disagree with the private key.
    """
    try:
        document = _parse_key_document(_read_owner_only(path))
        key = _decode_private(document["private_key_pem"], passphrase or _env_passphrase())
        return _check_identity(Identity(document["org"], key), document)
    except KeyFileError as exc:
        raise KeyFileError(f"{path}: {exc}") from None


def _read_owner_only(path: Path) -> bytes:
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        raise KeyFileError(f"no such key file in {path.parent.absolute()}") from None
    except OSError as exc:
        raise KeyFileError(f"cannot open ({exc.strerror})") from None
    try:
        _check_owner_only(os.fstat(fd))
        with os.fdopen(fd, "rb", closefd=False) as handle:
            return _read_limited(handle.read(_MAX_BYTES + 1))
    finally:
        os.close(fd)


def _check_owner_only(info: os.stat_result) -> None:
    if not stat.S_ISREG(info.st_mode):
        raise KeyFileError("not a regular file; expected a key file")
    if info.st_mode & 0o077:
        raise KeyFileError(
            f"permissions {stat.S_IMODE(info.st_mode):04o} are too open; "
            "expected 0600 (owner only); fix with chmod 600"
        )


def _read_limited(data: bytes) -> bytes:
    if len(data) > _MAX_BYTES:
        raise KeyFileError(f"larger than {_MAX_BYTES} bytes; not a key file")
    return data


def _parse_json(data: bytes, expected: str) -> dict[str, object]:
    if data.lstrip().startswith(b"-----BEGIN"):
        raise KeyFileError(f"is a bare PEM file; expected {expected}")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise KeyFileError(f"is not UTF-8 text; expected {expected}") from None
    try:
        document = load_json(text)
    except ValueError as exc:
        raise KeyFileError(f"invalid JSON ({exc}); expected {expected}") from None
    if not isinstance(document, dict):
        raise KeyFileError(f"holds a JSON {type(document).__name__}; expected {expected}")
    return document


def _parse_key_document(data: bytes) -> dict[str, str]:
    document = _parse_json(data, "an accord key file (accord keys new)")
    for name in _KEY_FIELDS:
        if not isinstance(document.get(name), str):
            kind = "missing" if name not in document else f"a {type(document[name]).__name__}"
            raise KeyFileError(f"field '{name}' is {kind}; expected a string")
    if document["format"] != KEY_FORMAT:
        raise KeyFileError(f"field 'format' is not {KEY_FORMAT!r}; unsupported key file format")
    return {name: str(document[name]) for name in _KEY_FIELDS}


def _decode_private(pem: str, passphrase: bytes | None) -> Ed25519PrivateKey:
    encrypted = pem.lstrip().startswith("-----BEGIN ENCRYPTED PRIVATE KEY-----")
    if encrypted and not passphrase:
        raise KeyFileError(f"the private key is encrypted; set {PASSPHRASE_ENV}")
    try:
        key = serialization.load_pem_private_key(
            pem.encode("utf-8"), password=passphrase if encrypted else None
        )
    except (ValueError, TypeError, UnsupportedAlgorithm):
        if encrypted:
            raise KeyFileError("cannot decrypt the private key: wrong passphrase") from None
        raise KeyFileError("field 'private_key_pem' is not a readable PEM private key") from None
    if not isinstance(key, Ed25519PrivateKey):
        kind = type(key).__name__.lstrip("_").removesuffix("PrivateKey") or "unknown"
        raise KeyFileError(f"field 'private_key_pem' holds an {kind} key; expected Ed25519")
    return key


def _check_identity(identity: Identity, document: dict[str, str]) -> Identity:
    stored = document["key_id"], document["public_key"]
    derived = identity.public.to_dict()
    if stored != (derived["key_id"], derived["public_key"]):
        raise KeyFileError("fields 'key_id'/'public_key' do not match the private key")
    return identity


def load_public(path: Path) -> PublicIdentity:
    """Read a ``{org}.pub.json`` public identity; :class:`KeyFileError` names file and field."""
    try:
        try:
            with path.open("rb") as handle:
                data = _read_limited(handle.read(_MAX_BYTES + 1))
        except FileNotFoundError:
            raise KeyFileError(
                f"no such public identity file in {path.parent.absolute()}"
            ) from None
        except OSError as exc:
            raise KeyFileError(f"cannot read ({exc.strerror})") from None
        document = _parse_json(data, "a public identity (.pub.json)")
        if "private_key_pem" in document:
            raise KeyFileError("is a private key file; expected a public identity (.pub.json)")
        return PublicIdentity.from_dict(document)
    except KeyFileError as exc:
        raise KeyFileError(f"{path}: {exc}") from None

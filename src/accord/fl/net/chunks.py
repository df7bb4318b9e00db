"""Content-addressed blobs: how a Task or Reply too large for one request travels.

The scheme (one for both directions). A Task or Reply whose wire bytes exceed the inline
limit (8 MiB by default) travels as a *blob*: its whole wire bytes, named by their SHA-256
hex digest, moved in chunks; the envelope endpoints then carry only a small reference
``{"task_id", "blob", "size"}`` with media type :data:`BLOB_REF_MEDIA_TYPE`.

* hub → site: ``GET /v1/tasks/next`` answers with a reference instead of the task; the
  site reads ``GET /v1/blobs/{digest}?offset=&length=`` chunk by chunk into a temporary
  file, checks size and digest, then parses the file.
* site → hub: the site spools its reply to a file, ``PUT``s it as
  ``/v1/blobs/{digest}/chunks/{index}`` (all chunks the same size but the last), then
  ``POST /v1/blobs/{digest}/commit`` with ``{"size", "chunks"}``: the hub joins the
  chunks into a temporary file while hashing it, refuses a wrong size or digest, and
  renames it into place. Last, ``POST /v1/replies`` carries the reference.

Either side holds at most one chunk of a blob in memory while it moves; only parsing the
envelope needs the whole message (as it does for an inline one). Every file is written to
a temporary name, fsynced and renamed, so a crash leaves either nothing or a whole file,
and a chunk upload interrupted by a hub restart resumes from the chunks already stored.
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Self

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from accord.core.errors import TransportError

__all__ = [
    "BLOB_REF_MEDIA_TYPE",
    "DEFAULT_CHUNK_BYTES",
    "DEFAULT_INLINE_LIMIT",
    "ENVELOPE_MEDIA_TYPE",
    "BlobRef",
    "BlobStore",
    "check_digest",
    "hash_file",
    "iter_chunks",
    "write_envelope",
]

ENVELOPE_MEDIA_TYPE = "application/json"
BLOB_REF_MEDIA_TYPE = "application/vnd.accord.blob-ref+json"
DEFAULT_INLINE_LIMIT = 8 * 1024 * 1024
DEFAULT_CHUNK_BYTES = 4 * 1024 * 1024
_SLICE_CHARS = 1024 * 1024  # how much of a JSON text is encoded at once when spooling it
_DIGEST = re.compile(r"[0-9a-f]{64}")


class BlobRef(BaseModel):
    """Points at a blob holding the whole wire bytes of the envelope of task ``task_id``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    task_id: str = Field(min_length=1)
    blob: str = Field(pattern=r"^[0-9a-f]{64}$")
    size: int = Field(ge=0)

    def to_wire(self) -> bytes:
        return self.model_dump_json().encode("utf-8")

    @classmethod
    def from_wire(cls, data: bytes) -> Self:
        try:
            return cls.model_validate_json(data)
        except ValidationError as exc:
            loc = exc.errors()[0]["loc"]
            field = ".".join(str(p) for p in loc) or "body"
            raise TransportError(f"malformed blob reference: field '{field}'") from None


def check_digest(digest: str) -> str:
    """``digest`` if it is 64 lowercase hex digits, else a :class:`TransportError`."""
    if not _DIGEST.fullmatch(digest):
        raise TransportError("malformed blob digest: expected 64 lowercase hex digits")
    return digest


def write_envelope(envelope: BaseModel, path: Path) -> tuple[str, int]:
    """Write ``envelope``'s wire bytes (its JSON, UTF-8) to ``path`` atomically.

    Returns ``(sha256 hex, size in bytes)``. The JSON text is encoded a slice at a time,
    so memory holds the text plus one slice, never a second whole copy as bytes.
    """
    text = envelope.model_dump_json()
    digest = hashlib.sha256()
    size = 0
    tmp = _temp_name(path)
    try:
        with tmp.open("wb") as handle:
            for start in range(0, len(text), _SLICE_CHARS):
                piece = text[start : start + _SLICE_CHARS].encode("utf-8")
                digest.update(piece)
                size += len(piece)
                handle.write(piece)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    _fsync_folder(path.parent)
    return digest.hexdigest(), size


def hash_file(path: Path, chunk_bytes: int = DEFAULT_CHUNK_BYTES) -> tuple[str, int]:
    """``(sha256 hex, size in bytes)`` of a file, read one chunk at a time."""
    digest = hashlib.sha256()
    size = 0
    for chunk in iter_chunks(path, chunk_bytes):
        digest.update(chunk)
        size += len(chunk)
    return digest.hexdigest(), size


def iter_chunks(path: Path, chunk_bytes: int) -> Iterator[bytes]:
    """The file's bytes, ``chunk_bytes`` at a time (the last chunk may be shorter)."""
    with path.open("rb") as handle:
        while chunk := handle.read(chunk_bytes):
            yield chunk


class BlobStore:
    """Committed blobs as files named by digest, and per-uploader staging of chunks.

    ``owner`` (the authenticated site) keeps each uploader's chunks apart, so one site
    can neither overwrite nor complete another's upload.
    """

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._staging = folder / "staging"
        self._staging.mkdir(parents=True, exist_ok=True)
        for stale in folder.rglob(".*.tmp"):  # left by a crash mid-write
            stale.unlink(missing_ok=True)

    def path(self, digest: str) -> Path:
        return self.folder / check_digest(digest)

    def has(self, digest: str) -> bool:
        return self.path(digest).is_file()

    def size(self, digest: str) -> int:
        try:
            return self.path(digest).stat().st_size
        except FileNotFoundError:
            raise TransportError("unknown blob") from None

    def store(self, envelope: BaseModel) -> tuple[str, int]:
        """Write ``envelope``'s wire bytes as a blob; returns ``(digest, size)``."""
        tmp = _temp_name(self.folder / "envelope")
        try:
            digest, size = write_envelope(envelope, tmp)
            os.replace(tmp, self.path(digest))
        finally:
            tmp.unlink(missing_ok=True)
        _fsync_folder(self.folder)
        return digest, size

    def read(self, digest: str, offset: int = 0, length: int | None = None) -> bytes:
        """``length`` bytes from ``offset`` (to the end when ``length`` is None)."""
        try:
            with self.path(digest).open("rb") as handle:
                handle.seek(offset)
                return handle.read() if length is None else handle.read(length)
        except FileNotFoundError:
            raise TransportError("unknown blob") from None

    def write_chunk(self, owner: str, digest: str, index: int, data: bytes | bytearray) -> None:
        """Stage chunk ``index`` of ``owner``'s upload of blob ``digest`` (atomic, idempotent)."""
        folder = self._upload_folder(owner, digest)
        folder.mkdir(parents=True, exist_ok=True)
        _write_atomic(folder / f"{index:08d}", data)

    def commit(self, owner: str, digest: str, size: int, chunks: int) -> None:
        """Join the staged chunks ``0..chunks-1``, check size and digest, publish the blob.

        The chunks are checked even when another uploader already published the same
        blob: an uploader proves it holds the content. A wrong size or digest discards
        the upload.
        """
        folder = self._upload_folder(owner, digest)
        parts = [folder / f"{i:08d}" for i in range(chunks)]
        missing = [i for i, p in enumerate(parts) if not p.is_file()]
        if chunks < 1 or missing:
            raise TransportError(
                f"blob upload incomplete: {len(missing)} of {chunks} chunks missing"
            )
        tmp = _temp_name(self.path(digest))
        try:
            actual, written = _join(parts, tmp)
            if written != size or actual != digest:
                shutil.rmtree(folder, ignore_errors=True)
                what = "size" if written != size else "digest"
                raise TransportError(
                    f"blob upload refused: field '{what}' does not match the chunks"
                )
            os.replace(tmp, self.path(digest))
        finally:
            tmp.unlink(missing_ok=True)
        _fsync_folder(self.folder)
        shutil.rmtree(folder, ignore_errors=True)

    def _upload_folder(self, owner: str, digest: str) -> Path:
        owner_key = hashlib.sha256(owner.encode("utf-8")).hexdigest()[:32]
        return self._staging / owner_key / check_digest(digest)


def _join(parts: list[Path], target: Path) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    with target.open("wb") as out:
        for part in parts:
            for chunk in iter_chunks(part, DEFAULT_CHUNK_BYTES):
                digest.update(chunk)
                size += len(chunk)
                out.write(chunk)
        out.flush()
        os.fsync(out.fileno())
    return digest.hexdigest(), size


def _temp_name(path: Path) -> Path:
    return path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")


def _write_atomic(path: Path, data: bytes | bytearray) -> None:
    tmp = _temp_name(path)
    try:
        with tmp.open("wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    _fsync_folder(path.parent)


def _fsync_folder(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)

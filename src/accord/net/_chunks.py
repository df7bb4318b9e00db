"""Content-addressed blobs: how a payload too large for one request travels.

The scheme (one for both directions). An envelope whose wire frame (see
:mod:`accord.net._messages`) exceeds the inline limit (8 MiB by default) travels in two
parts: its *payload* (the safetensors bytes) as a blob named by the payload's SHA-256 hex
digest, and a small reference ``{"task_id", "blob", "size", "header"}`` (media type
:data:`BLOB_REF_MEDIA_TYPE`) holding the envelope's JSON header and naming the blob.

* hub → site: the hub writes a task's payload once, whatever the number of tasks that
  carry it (a broadcast shares one blob), and ``GET /v1/tasks/next`` answers with the
  reference. The site keeps payloads it fetched in its spool by digest, so it fetches a
  shared payload once: ``GET /v1/blobs/{digest}?offset=`` streams the blob (from
  ``offset``, to resume a broken transfer) while the site hashes it into a file, then
  checks size and digest.
* site → hub: the site ``PUT``s the reply's payload (from memory, while it spools the
  reply frame to a file; from that file when it re-uploads after a restart) as
  ``/v1/blobs/{digest}/upload?offset=`` requests of ``chunk_bytes`` each, which the
  hub appends to one staging file per (site, digest) while hashing them (a retried or
  overlapping request adds only the bytes not yet staged; ``GET .../upload`` tells how
  many are). ``POST /v1/blobs/{digest}/commit`` with ``{"size"}`` checks size and digest,
  fsyncs the file once and renames it into place. Last, ``POST /v1/replies`` carries the
  reference.

Memory holds a few pieces of a blob in transit (about 1 MiB each), never a blob, at either
end; only the envelope itself holds its payload. A committed blob is written to a
temporary name, fsynced and renamed, so a crash leaves either nothing or a whole file; a
staging file is checked whole at commit, so a crash mid-upload costs at most a retry.
"""

from __future__ import annotations

import hashlib
import os
import queue
import re
import secrets
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Self, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from accord.core import MAX_JSON_INT, TransportError
from accord.net._messages import WIRE_PREFIX_BYTES, Reply, Task, read_wire_prefix, wire_prefix

__all__ = [
    "BLOB_REF_MEDIA_TYPE",
    "DEFAULT_CHUNK_BYTES",
    "DEFAULT_INLINE_LIMIT",
    "ENVELOPE_MEDIA_TYPE",
    "PIECE_BYTES",
    "BlobRef",
    "BlobStore",
    "BytesRange",
    "FileRange",
    "FrameLayout",
    "HashingSink",
    "UploadBusyError",
    "UploadOffsetError",
    "UploadWriter",
    "check_digest",
    "hash_file",
    "read_frame",
    "read_frame_layout",
    "write_frame",
]

ENVELOPE_MEDIA_TYPE = "application/vnd.accord.wire"
BLOB_REF_MEDIA_TYPE = "application/vnd.accord.blob-ref+json"
DEFAULT_INLINE_LIMIT = 8 * 1024 * 1024
DEFAULT_CHUNK_BYTES = 16 * 1024 * 1024  # one upload request
PIECE_BYTES = 1024 * 1024  # one read or write of a blob in transit
_DIGEST = re.compile(r"[0-9a-f]{64}")

Envelope = TypeVar("Envelope", Task, Reply)


class UploadOffsetError(TransportError):
    """An upload piece that starts past the bytes staged so far (409: ask, then resume)."""


class UploadBusyError(TransportError):
    """Another request is writing the same upload right now (409: retry)."""


class BlobRef(BaseModel):
    """An envelope whose payload is blob ``blob`` (``size`` bytes); ``header`` is the rest.

    ``header`` is the envelope's JSON header as text (see ``wire_header``), validated by
    the envelope's model when it is opened.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    task_id: str = Field(min_length=1)
    blob: str = Field(pattern=r"^[0-9a-f]{64}$")
    size: int = Field(ge=0, le=MAX_JSON_INT)
    header: str = Field(min_length=2)

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


# --- frames in files ------------------------------------------------------------------------


@dataclass(frozen=True)
class FrameLayout:
    """Where a frame file's parts lie: its header bytes, then the payload's byte range."""

    header: bytes
    payload_offset: int
    payload_size: int

    @property
    def frame_size(self) -> int:
        return self.payload_offset + self.payload_size


def write_frame(envelope: Task | Reply, path: Path, *, durable: bool = True) -> int:
    """Write ``envelope``'s wire frame to ``path`` atomically; returns its size.

    ``durable``: fsync the file and its folder before returning (without, a crash of the
    machine may leave a damaged file: the caller must be able to tell). The payload is
    written from the envelope's own bytes, never copied into a frame.
    """
    header = envelope.wire_header()
    payload = envelope.payload
    tmp = _temp_name(path)
    try:
        with tmp.open("wb") as handle:
            handle.write(wire_prefix(len(header), len(payload)))
            handle.write(header)
            handle.write(payload)
            if durable:
                handle.flush()
                os.fsync(handle.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    if durable:
        _fsync_folder(path.parent)
    return WIRE_PREFIX_BYTES + len(header) + len(payload)


def read_frame_layout(path: Path, what: str = "envelope") -> FrameLayout:
    """The layout of the frame in ``path``; a foreign or truncated file raises
    :class:`TransportError`."""
    with path.open("rb") as handle:
        header_bytes, payload_bytes = read_wire_prefix(handle.read(WIRE_PREFIX_BYTES), what)
        header = handle.read(header_bytes)
    layout = FrameLayout(header, WIRE_PREFIX_BYTES + header_bytes, payload_bytes)
    actual = path.stat().st_size
    if len(header) != header_bytes or actual != layout.frame_size:
        raise TransportError(
            f"malformed {what} message: the file holds {actual} bytes, "
            f"the prefix declares {layout.frame_size}"
        )
    return layout


def read_frame(path: Path, kind: type[Envelope]) -> Envelope:
    """The envelope in frame file ``path`` (the payload read straight into one bytes)."""
    layout = read_frame_layout(path, kind.__name__)
    with path.open("rb") as handle:
        handle.seek(layout.payload_offset)
        payload = handle.read(layout.payload_size)
    return kind.from_parts(layout.header, payload)


def hash_file(path: Path, start: int = 0, end: int | None = None) -> tuple[str, int]:
    """``(sha256 hex, size in bytes)`` of a file's bytes ``start:end``, a piece at a time."""
    digest = hashlib.sha256()
    size = 0
    for piece in FileRange(path, start, end):
        digest.update(piece)
        size += len(piece)
    return digest.hexdigest(), size


class BytesRange:
    """Bytes ``start:end`` of ``data`` as pieces of :data:`PIECE_BYTES` (views, no copy)."""

    def __init__(self, data: bytes, start: int = 0, end: int | None = None) -> None:
        self.data = data
        self.start = start
        self.end = len(data) if end is None else end

    def __iter__(self) -> Iterator[memoryview]:
        view = memoryview(self.data)
        for offset in range(self.start, self.end, PIECE_BYTES):
            yield view[offset : min(offset + PIECE_BYTES, self.end)]


class HashingSink:
    """Writes pieces to a file and hashes them in a second thread, so that a download
    does not wait on the disk; at most ``depth`` pieces wait in between.

    :meth:`close` (always call it) waits for the writes and re-raises their error.
    """

    def __init__(self, handle: IO[bytes], depth: int = 4) -> None:
        self.hasher = hashlib.sha256()
        self.size = 0  # bytes handed over
        self._handle = handle
        self._pieces: queue.Queue[bytes | bytearray | None] = queue.Queue(maxsize=depth)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._drain, name="accord-sink", daemon=True)
        self._thread.start()

    def put(self, piece: bytes | bytearray) -> None:
        """Hand ``piece`` over (the caller must not change it afterwards)."""
        if self._error is not None:
            raise self._error
        self._pieces.put(piece)
        self.size += len(piece)

    def close(self) -> str:
        """Wait for every write; the SHA-256 hex of the bytes."""
        self._pieces.put(None)
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self.hasher.hexdigest()

    def _drain(self) -> None:
        while (piece := self._pieces.get()) is not None:
            if self._error is None:
                try:
                    self._handle.write(piece)
                    self.hasher.update(piece)
                except BaseException as exc:  # handed to the caller by put or close
                    self._error = exc


class FileRange:
    """Bytes ``start:end`` of a file as pieces; iterable again (so a request can be retried)."""

    def __init__(self, path: Path, start: int = 0, end: int | None = None) -> None:
        self.path = path
        self.start = start
        self.end = end

    def __iter__(self) -> Iterator[bytes]:
        with self.path.open("rb") as handle:
            handle.seek(self.start)
            left = -1 if self.end is None else self.end - self.start
            while left != 0:
                piece = handle.read(PIECE_BYTES if left < 0 else min(PIECE_BYTES, left))
                if not piece:
                    return
                left -= len(piece) if left > 0 else 0
                yield piece


# --- the hub's blob folder -------------------------------------------------------------------


class _Staged:
    """One (owner, digest) upload: its lock, and the SHA-256 and size of what is staged."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.hasher: hashlib._Hash | None = None  # None: re-read the file before use
        self.size = 0


class UploadWriter:
    """Appends one upload request's bytes to a staging file (see :meth:`BlobStore.begin_upload`).

    Bytes already staged (a retried request) are skipped. :meth:`close` must be called
    (it releases the upload); it returns the number of bytes staged.
    """

    def __init__(self, staged: _Staged, handle: IO[bytes], skip: int) -> None:
        self._staged = staged
        self._handle = handle
        self._skip = skip
        self._open = True

    def write(self, data: bytes | bytearray) -> None:
        view = memoryview(data)
        if self._skip:
            dropped = min(self._skip, len(view))
            view = view[dropped:]
            self._skip -= dropped
        if not view:
            return
        assert self._staged.hasher is not None  # synced by begin_upload
        try:
            self._handle.write(view)
        except BaseException:
            self._staged.hasher = None  # the file may hold part of it: re-read next time
            raise
        self._staged.hasher.update(view)
        self._staged.size += len(view)

    def close(self) -> int:
        if self._open:
            self._open = False
            try:
                self._handle.close()
            finally:
                self._staged.lock.release()
        return self._staged.size


class BlobStore:
    """Committed blobs as files named by digest, and per-uploader staging files.

    ``owner`` (the authenticated site) keeps each uploader's staging file apart, so one
    site can neither overwrite nor complete another's upload.
    """

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._staging = folder / "staging"
        self._staging.mkdir(parents=True, exist_ok=True)
        for stale in folder.rglob(".*.tmp"):  # left by a crash mid-write
            stale.unlink(missing_ok=True)
        self._uploads: dict[Path, _Staged] = {}
        self._uploads_lock = threading.Lock()

    def path(self, digest: str) -> Path:
        return self.folder / check_digest(digest)

    def has(self, digest: str) -> bool:
        return self.path(digest).is_file()

    def size(self, digest: str) -> int:
        try:
            return self.path(digest).stat().st_size
        except FileNotFoundError:
            raise TransportError("unknown blob") from None

    def put(self, data: bytes) -> tuple[str, int]:
        """Store ``data`` as a blob unless one of that digest exists; ``(digest, size)``.

        The bytes are hashed (in a second thread) while they are written to a temporary
        file, which is fsynced and renamed only when no blob of that digest exists yet.
        """
        hashed: list[str] = []
        hashing = threading.Thread(
            target=lambda: hashed.append(hashlib.sha256(data).hexdigest()), daemon=True
        )
        hashing.start()
        tmp = _temp_name(self.folder / "put")
        try:
            with tmp.open("wb") as handle:
                handle.write(data)
                hashing.join()
                target = self.path(hashed[0])
                if target.is_file() and target.stat().st_size == len(data):
                    return hashed[0], len(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, target)
        finally:
            hashing.join()
            tmp.unlink(missing_ok=True)
        _fsync_folder(self.folder)
        return hashed[0], len(data)

    def read(self, digest: str, offset: int = 0, length: int | None = None) -> bytes:
        """``length`` bytes from ``offset`` (to the end when ``length`` is None)."""
        try:
            with self.path(digest).open("rb") as handle:
                handle.seek(offset)
                return handle.read() if length is None else handle.read(length)
        except FileNotFoundError:
            raise TransportError("unknown blob") from None

    def open(self, digest: str) -> IO[bytes]:
        """The blob's file, open for reading (the caller closes it)."""
        try:
            return self.path(digest).open("rb")
        except FileNotFoundError:
            raise TransportError("unknown blob") from None

    # --- uploads --------------------------------------------------------------------------

    def staged(self, owner: str, digest: str) -> int:
        """How many bytes of ``owner``'s upload of blob ``digest`` are staged (0: none)."""
        try:
            return self._upload_path(owner, digest).stat().st_size
        except FileNotFoundError:
            return 0

    def begin_upload(self, owner: str, digest: str, offset: int) -> UploadWriter:
        """A writer for bytes ``offset:`` of ``owner``'s upload of blob ``digest``.

        Raises :class:`UploadOffsetError` when ``offset`` is past the bytes staged and
        :class:`UploadBusyError` while another request writes the same upload.
        """
        path = self._upload_path(owner, digest)
        staged = self._acquire(path)
        try:
            self._sync(staged, path)
            if offset > staged.size:
                raise UploadOffsetError(
                    f"blob upload: field 'offset' is past the {staged.size} bytes staged"
                )
            path.parent.mkdir(parents=True, exist_ok=True)
            handle = path.open("ab")
        except BaseException:
            staged.lock.release()
            raise
        return UploadWriter(staged, handle, staged.size - offset)

    def commit(self, owner: str, digest: str, size: int) -> None:
        """Check ``owner``'s staged upload against ``size`` and ``digest``, publish it.

        The bytes are checked even when another uploader already published the same blob:
        an uploader proves it holds the content. Too few bytes leave the upload to be
        resumed; too many or a wrong digest discard it.
        """
        path = self._upload_path(owner, digest)
        staged = self._acquire(path)
        try:
            self._sync(staged, path)
            assert staged.hasher is not None  # synced
            if staged.size < size:
                raise TransportError(
                    f"blob upload incomplete: {staged.size} of {size} bytes staged"
                )
            if staged.size != size or staged.hasher.hexdigest() != digest:
                what = "size" if staged.size != size else "digest"
                path.unlink(missing_ok=True)
                self._forget(path)
                raise TransportError(
                    f"blob upload refused: field '{what}' does not match the bytes"
                )
            path.parent.mkdir(parents=True, exist_ok=True)
            with path.open("ab") as handle:  # (made empty for an empty payload)
                os.fsync(handle.fileno())
            if self.has(digest):
                path.unlink()  # another uploader published it first; the bytes were the same
            else:
                os.replace(path, self.path(digest))
                _fsync_folder(self.folder)
            self._forget(path)
        finally:
            staged.lock.release()

    def _forget(self, path: Path) -> None:
        """Drop an upload's state once its file is gone (the caller holds its lock)."""
        with self._uploads_lock:
            self._uploads.pop(path, None)

    def _acquire(self, path: Path) -> _Staged:
        """The upload's state, locked by the caller (never waits: busy is an error)."""
        with self._uploads_lock:
            staged = self._uploads.setdefault(path, _Staged())
            if not staged.lock.acquire(blocking=False):
                raise UploadBusyError("blob upload: another request is writing it; retry")
        return staged

    @staticmethod
    def _sync(staged: _Staged, path: Path) -> None:
        """Make ``staged`` describe the file (after a hub restart, or a failed write)."""
        try:
            actual = path.stat().st_size
        except FileNotFoundError:
            actual = 0
        if staged.hasher is not None and staged.size == actual:
            return
        staged.hasher = hashlib.sha256()
        staged.size = 0
        if actual:
            for piece in FileRange(path):
                staged.hasher.update(piece)
                staged.size += len(piece)

    def _upload_path(self, owner: str, digest: str) -> Path:
        owner_key = hashlib.sha256(owner.encode("utf-8")).hexdigest()[:32]
        return self._staging / owner_key / f"{check_digest(digest)}.part"


def _temp_name(path: Path) -> Path:
    return path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")


def _fsync_folder(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)

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

Staging is bounded (see :class:`~accord.net._limits.Limits`): bytes staged per site and
in all, and staged uploads per site (:data:`MAX_STAGED_UPLOADS`); an upload piece that
would pass a bound is refused (:class:`StagingQuotaError`, 413) before a byte of it is
written. Staging files untouched for ``staging_expiry_s`` are deleted when the store
opens and, lazily, when an upload begins (at most once a minute; no background thread).
The count is taken from the staging folder when the store opens, so it survives a
restart.
"""

from __future__ import annotations

import hashlib
import os
import queue
import re
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Self, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from accord.core import MAX_JSON_INT, TransportError
from accord.net._limits import DEFAULT_LIMITS, Limits
from accord.net._messages import WIRE_PREFIX_BYTES, Reply, Task, read_wire_prefix, wire_prefix

__all__ = [
    "BLOB_REF_MEDIA_TYPE",
    "DEFAULT_CHUNK_BYTES",
    "DEFAULT_INLINE_LIMIT",
    "ENVELOPE_MEDIA_TYPE",
    "MAX_STAGED_UPLOADS",
    "PIECE_BYTES",
    "BlobRef",
    "BlobStore",
    "BytesRange",
    "FileRange",
    "FrameLayout",
    "HashingSink",
    "StagingQuotaError",
    "UploadBusyError",
    "UploadOffsetError",
    "UploadWriter",
    "check_digest",
    "hash_file",
    "open_reused",
    "read_frame",
    "read_frame_layout",
    "write_frame",
]

ENVELOPE_MEDIA_TYPE = "application/vnd.accord.wire"
BLOB_REF_MEDIA_TYPE = "application/vnd.accord.blob-ref+json"
DEFAULT_INLINE_LIMIT = 8 * 1024 * 1024
DEFAULT_CHUNK_BYTES = 16 * 1024 * 1024  # one upload request
PIECE_BYTES = 1024 * 1024  # one read or write of a blob in transit
MAX_STAGED_UPLOADS = 64  # uploads one site may have staged at once (a site sends one reply)
_DIGEST = re.compile(r"[0-9a-f]{64}")
_SWEEP_EVERY_S = 60.0  # how often beginning an upload looks for expired staging files

Envelope = TypeVar("Envelope", Task, Reply)


class UploadOffsetError(TransportError):
    """An upload piece that starts past the bytes staged so far (409: ask, then resume)."""


class UploadBusyError(TransportError):
    """Another request is writing the same upload right now (409: retry)."""


class StagingQuotaError(TransportError):
    """An upload that would pass a staging quota (413); the message names the quota."""


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


def write_frame(
    envelope: Task | Reply, path: Path, *, durable: bool = True, reuse: Path | None = None
) -> int:
    """Write ``envelope``'s wire frame to ``path`` atomically; returns its size.

    ``durable``: fsync the file and its folder before returning (without, a crash of the
    machine may leave a damaged file: the caller must be able to tell). The payload is
    written from the envelope's own bytes, never copied into a frame. ``reuse``: a spare
    file (e.g. the last frame, done with) to write over instead of a new file, when it
    exists (it is taken): overwriting pages the system holds costs a fraction of filling
    new ones.
    """
    header = envelope.wire_header()
    payload = envelope.payload
    tmp = _temp_name(path)
    try:
        with open_reused(tmp, reuse) as handle:
            handle.write(wire_prefix(len(header), len(payload)))
            handle.write(header)
            handle.write(payload)
            handle.truncate()
            if durable:
                handle.flush()
                os.fsync(handle.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    if durable:
        _fsync_folder(path.parent)
    return WIRE_PREFIX_BYTES + len(header) + len(payload)


def open_reused(path: Path, spare: Path | None) -> IO[bytes]:
    """``path`` open for writing from its start: the ``spare`` file moved there when it
    exists (the caller truncates it where the new bytes end), else a new file."""
    if spare is not None:
        try:
            os.replace(spare, path)
        except FileNotFoundError:
            pass
        else:
            return path.open("r+b")
    return path.open("wb")


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

    def __init__(
        self, staged: _Staged, handle: IO[bytes], skip: int, reserve: Callable[[int], None]
    ) -> None:
        self._staged = staged
        self._handle = handle
        self._skip = skip
        self._reserve = reserve  # counts bytes against the quotas, or refuses them
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
        self._reserve(len(view))
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
    site can neither overwrite nor complete another's upload. ``limits`` gives the
    staging quotas and expiry; ``clock`` the time (seconds since the epoch, as file
    modification times are) against which staging files expire.
    """

    def __init__(
        self,
        folder: Path,
        *,
        limits: Limits = DEFAULT_LIMITS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.folder = folder
        self.limits = limits
        self.clock = clock
        self._staging = folder / "staging"
        self._staging.mkdir(parents=True, exist_ok=True)
        for stale in folder.rglob(".*.tmp"):  # left by a crash mid-write
            stale.unlink(missing_ok=True)
        self._uploads: dict[Path, _Staged] = {}
        self._uploads_lock = threading.Lock()  # also guards the counts below
        self._counted: dict[Path, int] = {}  # staging file -> bytes counted for it
        self._owner_bytes: dict[str, int] = {}  # owner folder -> bytes staged
        self._owner_files: dict[str, int] = {}  # owner folder -> staging files
        self.staged_bytes = 0  # by every owner
        self._swept = self.clock()
        self.sweep()

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

    def begin_upload(
        self, owner: str, digest: str, offset: int, length: int | None = None
    ) -> UploadWriter:
        """A writer for bytes ``offset:`` of ``owner``'s upload of blob ``digest``
        (``length``: how many the request declares, checked against the quotas at once).

        Raises :class:`UploadOffsetError` when ``offset`` is past the bytes staged,
        :class:`UploadBusyError` while another request writes the same upload and
        :class:`StagingQuotaError` when the bytes would pass a staging quota.
        """
        if self.clock() - self._swept >= _SWEEP_EVERY_S:
            self.sweep()
        path = self._upload_path(owner, digest)
        staged = self._acquire(path)
        try:
            self._sync(staged, path)
            if offset > staged.size:
                raise UploadOffsetError(
                    f"blob upload: field 'offset' is past the {staged.size} bytes staged"
                )
            with self._uploads_lock:
                if path not in self._counted and (
                    self._owner_files.get(path.parent.name, 0) >= MAX_STAGED_UPLOADS
                ):
                    raise StagingQuotaError(
                        f"blob upload over the staging quota of {MAX_STAGED_UPLOADS} "
                        "uploads staged per site; commit or let them expire"
                    )
                if length is not None:
                    self._check_room(path, max(0, offset + length - staged.size))
                path.parent.mkdir(parents=True, exist_ok=True)
                handle = path.open("ab")
                self._count(path, staged.size)
        except BaseException:
            if path not in self._counted:  # nothing staged: keep no state for it
                self._forget(path)
            staged.lock.release()
            raise
        return UploadWriter(staged, handle, staged.size - offset, self._reserver(path))

    def sweep(self) -> int:
        """Delete the staging files untouched for ``staging_expiry_s`` (but those being
        written) and count the others' bytes; returns how many were deleted."""
        cutoff = self.clock() - self.limits.staging_expiry_s
        deleted = 0
        for path in sorted(self._staging.glob("*/*.part")):
            with self._uploads_lock:
                staged = self._uploads.get(path)
                if staged is not None and staged.lock.locked():
                    continue  # a request is writing it: touched now
                try:
                    stat = path.stat()
                except FileNotFoundError:
                    self._count(path, None)
                    continue
                if stat.st_mtime >= cutoff:
                    self._count(path, stat.st_size)
                    continue
                path.unlink(missing_ok=True)
                self._uploads.pop(path, None)
                self._count(path, None)
                deleted += 1
        self._swept = self.clock()
        return deleted

    def _reserver(self, path: Path) -> Callable[[int], None]:
        def reserve(count: int) -> None:
            with self._uploads_lock:
                self._check_room(path, count)
                self._count(path, self._counted.get(path, 0) + count)

        return reserve

    def _check_room(self, path: Path, count: int) -> None:
        """Refuse ``count`` more bytes for ``path`` if they pass a quota (lock held)."""
        owner = path.parent.name
        if self._owner_bytes.get(owner, 0) + count > self.limits.staging_site_bytes:
            quota, limit = "staging_site_bytes", self.limits.staging_site_bytes
        elif self.staged_bytes + count > self.limits.staging_total_bytes:
            quota, limit = "staging_total_bytes", self.limits.staging_total_bytes
        else:
            return
        raise StagingQuotaError(
            f"blob upload over the staging quota '{quota}' ({limit} bytes); "
            "commit staged uploads or let them expire"
        )

    def _count(self, path: Path, size: int | None) -> None:
        """Count ``size`` bytes staged in ``path`` (None: the file is gone; lock held)."""
        owner = path.parent.name
        before = self._counted.pop(path, None)
        if before is not None:
            self.staged_bytes -= before
            self._owner_bytes[owner] -= before
            self._owner_files[owner] -= 1
            if not self._owner_files[owner]:
                del self._owner_files[owner], self._owner_bytes[owner]
        if size is not None:
            self._counted[path] = size
            self.staged_bytes += size
            self._owner_bytes[owner] = self._owner_bytes.get(owner, 0) + size
            self._owner_files[owner] = self._owner_files.get(owner, 0) + 1

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
            self._count(path, None)

    def _acquire(self, path: Path) -> _Staged:
        """The upload's state, locked by the caller (never waits: busy is an error)."""
        with self._uploads_lock:
            staged = self._uploads.setdefault(path, _Staged())
            if not staged.lock.acquire(blocking=False):
                raise UploadBusyError("blob upload: another request is writing it; retry")
        return staged

    def _sync(self, staged: _Staged, path: Path) -> None:
        """Make ``staged`` and the count describe the file (after a hub restart, a sweep,
        or a failed write)."""
        try:
            actual: int | None = path.stat().st_size
        except FileNotFoundError:
            actual = None
        with self._uploads_lock:
            self._count(path, actual)
        actual = actual or 0
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

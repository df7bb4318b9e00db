"""Envelopes that cross the hub–site seam: pydantic models, tensors as safetensors bytes.

Only aggregates travel: model parameters, summed derivatives, counts and site-level
metrics. ``Reply.to_wire`` is the exact byte string a site sends; tests capture it to prove
that no patient-level value leaves a site.

The wire form is one binary *frame* (:data:`WIRE_MAGIC`, version 1)::

    b"ACW1" | header length (uint32, big-endian) | payload length (uint64, big-endian)
            | header: every field but ``payload``, as UTF-8 JSON | payload: raw bytes

so a 100 MB model is neither base64-encoded nor parsed as JSON: the header is validated
by the envelope's own pydantic model and the payload (safetensors bytes) is taken as it
is. Both lengths are declared up front, so a truncated or padded frame is refused before
anything is parsed. The transport may move the header and the payload apart (a large
payload as a content-addressed blob); :meth:`_Envelope.wire_header` and
:meth:`_Envelope.from_parts` are the two halves of ``to_wire`` / ``from_wire``.
"""

from __future__ import annotations

import struct
from typing import Annotated, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from accord.core import MAX_JSON_INT, Arrays, TransportError, decode_arrays, encode_arrays

__all__ = [
    "LEDGER_SYNC",
    "MAX_HEADER_BYTES",
    "WIRE_MAGIC",
    "WIRE_PREFIX_BYTES",
    "ConfigValue",
    "Dropout",
    "Reply",
    "Task",
    "TaskKind",
    "read_wire_prefix",
    "wire_prefix",
]

TaskKind = Literal[
    "schema",
    "stats",
    "setup",
    "train",
    "newton",
    "evaluate",
    "tile_stats",
    "tile_norm",
    "interpret",
    "export_tiles",
    "ledger_sync",
    "risk_summary",
    "local_baseline",
    "km_counts",
    "secagg.advertise",
    "secagg.share",
    "secagg.mask",
    "secagg.consistency",
    "secagg.unmask",
]
_WireInt = Annotated[int, Field(ge=-MAX_JSON_INT, le=MAX_JSON_INT)]  # fits a SQLite INTEGER
ConfigValue = _WireInt | float | str | bool
LEDGER_SYNC: TaskKind = "ledger_sync"  # the hub asks a site to pull, verify and co-sign

WIRE_MAGIC = b"ACW1"
MAX_HEADER_BYTES = 64 * 1024 * 1024  # a header holds ids, config, counts and metrics
_PREFIX = struct.Struct(">4sIQ")  # magic, header length, payload length
WIRE_PREFIX_BYTES = _PREFIX.size


def wire_prefix(header_bytes: int, payload_bytes: int) -> bytes:
    """The 16 bytes that open a frame with a header and a payload of these lengths."""
    return _PREFIX.pack(WIRE_MAGIC, header_bytes, payload_bytes)


def read_wire_prefix(prefix: bytes, what: str = "envelope") -> tuple[int, int]:
    """``(header length, payload length)`` from a frame's first bytes (at least 16).

    Raises :class:`TransportError` naming ``what`` for a foreign or oversized frame.
    """
    if len(prefix) < WIRE_PREFIX_BYTES:
        raise TransportError(
            f"malformed {what} message: truncated frame ({len(prefix)} bytes, "
            f"expected at least {WIRE_PREFIX_BYTES})"
        )
    magic, header_bytes, payload_bytes = _PREFIX.unpack_from(prefix)
    if magic != WIRE_MAGIC:
        raise TransportError(
            f"malformed {what} message: not an accord wire frame (expected magic {WIRE_MAGIC!r})"
        )
    if header_bytes > MAX_HEADER_BYTES:
        raise TransportError(
            f"malformed {what} message: header of {header_bytes} bytes is over the "
            f"limit of {MAX_HEADER_BYTES}"
        )
    return header_bytes, payload_bytes


class _Envelope(BaseModel):
    # bytes as base64 only where a whole envelope is dumped as JSON (logs, debugging):
    # the wire form carries the payload raw, outside the JSON header.
    model_config = ConfigDict(
        frozen=True, extra="forbid", ser_json_bytes="base64", val_json_bytes="base64"
    )

    @property
    def arrays(self) -> Arrays:
        return decode_arrays(getattr(self, "payload", b""))

    @classmethod
    def build(cls, *, arrays: Arrays | None = None, **fields: object) -> Self:
        """An envelope whose ``payload`` is ``arrays`` as safetensors bytes."""
        return cls(payload=encode_arrays(arrays or {}), **fields)  # type: ignore[arg-type,call-arg]

    def wire_header(self) -> bytes:
        """Every field but ``payload``, as UTF-8 JSON: the frame's header."""
        return self.model_dump_json(exclude={"payload"}).encode("utf-8")

    def to_wire(self) -> bytes:
        """The binary frame: prefix, JSON header, raw payload bytes."""
        header = self.wire_header()
        payload: bytes = getattr(self, "payload", b"")
        return b"".join((wire_prefix(len(header), len(payload)), header, payload))

    @classmethod
    def from_wire(cls, data: bytes) -> Self:
        """Parse a frame; a foreign, truncated or padded frame or a bad field raises
        :class:`TransportError` naming the field (never its value)."""
        header_bytes, payload_bytes = read_wire_prefix(data, cls.__name__)
        expected = WIRE_PREFIX_BYTES + header_bytes + payload_bytes
        if len(data) != expected:
            problem = "truncated frame" if len(data) < expected else "bytes after the frame"
            raise TransportError(
                f"malformed {cls.__name__} message: {problem} ({len(data)} bytes, "
                f"the prefix declares {expected})"
            )
        start = WIRE_PREFIX_BYTES + header_bytes
        return cls.from_parts(data[WIRE_PREFIX_BYTES:start], bytes(memoryview(data)[start:]))

    @classmethod
    def from_parts(cls, header: bytes, payload: bytes) -> Self:
        """The envelope of a JSON ``header`` (see :meth:`wire_header`) and its ``payload``.

        ``payload`` is kept as the same bytes object (no copy).
        """
        try:
            envelope = cls.model_validate_json(header)
        except ValidationError as exc:
            first = exc.errors()[0]
            field = ".".join(str(p) for p in first["loc"]) or "header"
            raise TransportError(f"malformed {cls.__name__} message: field '{field}'") from None
        if "payload" in envelope.model_fields_set:
            raise TransportError(
                f"malformed {cls.__name__} message: field 'payload' belongs after the header"
            )
        return envelope.model_copy(update={"payload": payload}) if payload else envelope


class Task(_Envelope):
    """One unit of work for one site; ``task_id`` doubles as the idempotency key."""

    task_id: str
    plan_id: str
    round: int = Field(ge=0, le=MAX_JSON_INT)
    site: str
    kind: TaskKind
    config: dict[str, ConfigValue] = Field(default_factory=dict)
    labels: dict[str, tuple[str, ...]] = Field(default_factory=dict)
    document: str = ""
    payload: bytes = b""


class Reply(_Envelope):
    """A site's answer: a contribution to a weighted sum, plus site-level aggregates."""

    task_id: str
    site: str
    kind: TaskKind
    status: Literal["ok", "refused", "failed"] = "ok"
    weight: float = Field(default=0.0, allow_inf_nan=False)
    counts: dict[str, _WireInt] = Field(default_factory=dict)
    metrics: dict[str, float | None] = Field(default_factory=dict)
    labels: dict[str, tuple[str, ...]] = Field(default_factory=dict)
    document: str = ""
    error: str = ""
    payload: bytes = b""


class Dropout(BaseModel):
    """A site that did not answer in time: data, not an exception."""

    model_config = ConfigDict(frozen=True)

    task_id: str
    site: str
    reason: str

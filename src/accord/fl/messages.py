"""Envelopes that cross the hub–site seam: pydantic models, tensors as safetensors bytes.

Only aggregates travel: model parameters, summed derivatives, counts and site-level
metrics. ``Reply.to_wire`` is the exact byte string a site sends; tests capture it to prove
that no patient-level value leaves a site.
"""

from __future__ import annotations

import base64
from typing import Literal, Self

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_serializer,
    field_validator,
)

from accord.core.codec import Arrays, decode_arrays, encode_arrays
from accord.core.errors import TransportError

__all__ = ["ConfigValue", "Dropout", "Reply", "Task", "TaskKind"]

TaskKind = Literal[
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
    "km_counts",
    "secagg.advertise",
    "secagg.share",
    "secagg.mask",
    "secagg.unmask",
]
ConfigValue = int | float | str | bool


class _Envelope(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    @field_serializer("payload", check_fields=False)
    def _b64(self, value: bytes) -> str:
        return base64.b64encode(value).decode("ascii")

    @field_validator("payload", mode="before", check_fields=False)
    @classmethod
    def _unb64(cls, value: object) -> object:
        if isinstance(value, str):
            try:
                return base64.b64decode(value, validate=True)
            except ValueError as exc:
                raise ValueError("payload is not base64") from exc
        return value

    @property
    def arrays(self) -> Arrays:
        return decode_arrays(getattr(self, "payload", b""))

    @classmethod
    def build(cls, *, arrays: Arrays | None = None, **fields: object) -> Self:
        """An envelope whose ``payload`` is ``arrays`` as safetensors bytes."""
        return cls(payload=encode_arrays(arrays or {}), **fields)  # type: ignore[arg-type,call-arg]

    def to_wire(self) -> bytes:
        return self.model_dump_json().encode("utf-8")

    @classmethod
    def from_wire(cls, data: bytes) -> Self:
        try:
            return cls.model_validate_json(data)
        except ValidationError as exc:
            first = exc.errors()[0]
            field = ".".join(str(p) for p in first["loc"])
            raise TransportError(f"malformed {cls.__name__} message: field '{field}'") from None


class Task(_Envelope):
    """One unit of work for one site; ``task_id`` doubles as the idempotency key."""

    task_id: str
    plan_id: str
    round: int = Field(ge=0)
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
    weight: float = 0.0
    counts: dict[str, int] = Field(default_factory=dict)
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

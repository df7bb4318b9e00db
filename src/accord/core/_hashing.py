"""Content hashes: SHA-256 over canonical bytes."""

from __future__ import annotations

import hashlib
import json
from typing import Any

__all__ = ["canonical_json", "floats_as_strings", "sha256_hex"]


def canonical_json(obj: Any, *, check_floats: bool = True) -> bytes:
    """Deterministic JSON bytes: sorted keys, no whitespace, UTF-8.

    Floats are rejected: values that leave a site as figures must be decimal strings
    or integers so that every party hashes the same bytes.
    """

    def _reject_float(o: Any) -> Any:
        raise TypeError(f"cannot canonicalise {type(o).__name__}")

    def _check(o: Any) -> None:
        if isinstance(o, float):
            raise TypeError("canonical JSON does not allow floats; use decimal strings")
        if isinstance(o, dict):
            for v in o.values():
                _check(v)
        elif isinstance(o, list | tuple):
            for v in o:
                _check(v)

    if check_floats:  # callers that parsed with parse_float=error may skip the walk
        _check(obj)
    return json.dumps(
        obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=_reject_float
    ).encode("utf-8")


def sha256_hex(data: bytes) -> str:
    """Hex SHA-256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


def floats_as_strings(obj: Any) -> Any:
    """A copy of a JSON-able value with every float replaced by its ``repr`` string."""
    if isinstance(obj, float):
        return repr(obj)
    if isinstance(obj, dict):
        return {k: floats_as_strings(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [floats_as_strings(v) for v in obj]
    return obj

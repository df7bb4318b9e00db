"""Typed reads of ledger payload fields; a bad field raises LedgerError naming entry and field.

The view replays entries that are already verified (signed, chained), so a malformed
payload here means the author wrote something outside the governance contract: the
message names the entry's sequence number, its kind and the field, never the bad value.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from accord.core import LedgerError
from accord.ledger import Entry

__all__ = [
    "read_bool",
    "read_decimal",
    "read_hex",
    "read_int",
    "read_mapping",
    "read_str",
    "read_str_list",
    "refuse",
]

_HEX = re.compile(r"^[0-9a-f]+$")


def refuse(entry: Entry, problem: str) -> LedgerError:
    """A LedgerError locating ``problem`` at ``entry``."""
    return LedgerError(f"entry {entry.seq} ({entry.kind}): {problem}")


def _kind(value: Any) -> str:
    return "null" if value is None else f"a {type(value).__name__}"


def _get(entry: Entry, name: str) -> Any:
    if name not in entry.payload:
        raise refuse(entry, f"field '{name}' is missing")
    return entry.payload[name]


def read_str(entry: Entry, name: str, *, empty: bool = False) -> str:
    """A string field (non-empty unless ``empty``)."""
    value = _get(entry, name)
    if not isinstance(value, str) or (not empty and not value):
        what = "an empty string" if value == "" else _kind(value)
        raise refuse(entry, f"field '{name}' is {what}; expected a non-empty string")
    return value


def read_hex(entry: Entry, name: str, length: int | None = 64) -> str:
    """A lower-case hex digest (``length`` digits; any length when None)."""
    value = read_str(entry, name)
    if not _HEX.match(value) or (length is not None and len(value) != length):
        digits = f"{length} " if length is not None else ""
        raise refuse(entry, f"field '{name}' is not {digits}lower-case hex digits")
    return value


def read_int(entry: Entry, name: str, minimum: int) -> int:
    """An integer field ``>= minimum`` (booleans are not integers here)."""
    value = _get(entry, name)
    if isinstance(value, bool) or not isinstance(value, int):
        raise refuse(entry, f"field '{name}' is {_kind(value)}; expected an integer")
    if value < minimum:
        raise refuse(entry, f"field '{name}' is below {minimum}")
    return value


def read_bool(entry: Entry, name: str) -> bool:
    value = _get(entry, name)
    if not isinstance(value, bool):
        raise refuse(entry, f"field '{name}' is {_kind(value)}; expected true or false")
    return value


def read_str_list(entry: Entry, name: str, *, empty: bool = True) -> tuple[str, ...]:
    """A list of non-empty strings (non-empty list unless ``empty``)."""
    value = _get(entry, name)
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise refuse(entry, f"field '{name}' is {_kind(value)}; expected a list of strings")
    if not empty and not value:
        raise refuse(entry, f"field '{name}' is an empty list")
    return tuple(value)


def read_mapping(entry: Entry, name: str) -> Mapping[str, Any]:
    value = _get(entry, name)
    if not isinstance(value, Mapping):
        raise refuse(entry, f"field '{name}' is {_kind(value)}; expected an object")
    return value


def read_decimal(entry: Entry, name: str) -> str | None:
    """A positive decimal string (e.g. an epsilon) or null; returned unchanged."""
    value = _get(entry, name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise refuse(entry, f"field '{name}' is {_kind(value)}; expected a decimal string")
    try:
        number = Decimal(value)
    except InvalidOperation:
        raise refuse(entry, f"field '{name}' is not a decimal number") from None
    if not number.is_finite() or number <= 0:
        raise refuse(entry, f"field '{name}' is not a positive finite decimal")
    return value

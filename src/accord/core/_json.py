"""JSON from someone we do not trust: bounded depth, bounded integers, finite numbers.

Python's :func:`json.loads` recurses once per nesting level, so a body of 200,000 ``[``
ends in a :class:`RecursionError`, and it turns any run of digits into an integer that a
database or ``struct`` later refuses with an :class:`OverflowError`. Neither is a
:class:`ValueError`, so callers that refuse malformed input by catching ``ValueError``
let them through as crashes (a hub's 500, a verifier's traceback).

:func:`load_json` parses with pydantic-core's JSON parser (Rust, already a dependency
through pydantic; it stops at about 200 levels and refuses ``NaN``/``Infinity``
literals and numbers of more than 4300 digits), then walks the result once and refuses
nesting deeper than ``max_depth``, integers outside ``±max_int`` and numbers that
overflowed to infinity. Every refusal is a plain :class:`ValueError` whose message
names the problem and, where there is one, the field path, never a value, so a caller
wraps it in its own error (:class:`~accord.core.TransportError` on the hub,
:class:`~accord.core.LedgerError` for a bundle) as it already does for bad JSON.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pydantic_core

__all__ = ["MAX_JSON_DEPTH", "MAX_JSON_INT", "check_bounds", "load_json", "load_json_file"]

MAX_JSON_DEPTH = 64  # ids, configs, counts and metrics: a handful of levels in practice
MAX_JSON_INT = 2**63 - 1  # SQLite's INTEGER, a uint64 frame length, a Python index
_MAX_FIELD_CHARS = 80  # field paths in messages are cut here


def load_json(
    data: bytes | bytearray | str,
    *,
    max_depth: int = MAX_JSON_DEPTH,
    max_int: int = MAX_JSON_INT,
    floats: bool = True,
) -> Any:
    """The JSON value of ``data`` (UTF-8 bytes or text), refused unless it is bounded.

    Parameters
    ----------
    data : the document.
    max_depth : the most nested objects and arrays (a bare scalar has depth 0); the
        parser itself stops near 200, so a larger value allows no more.
    max_int : the largest magnitude an integer may have.
    floats : whether numbers with a fraction or an exponent are allowed (ledger entries
        forbid them).

    Raises
    ------
    ValueError
        The text is not JSON, nests deeper than ``max_depth``, holds an integer outside
        ``[-max_int, max_int]``, a number that is not finite, or (``floats=False``) a
        float. The message names the field path, never the value.
    """
    try:
        value = pydantic_core.from_json(data, allow_inf_nan=False)
    except ValueError as exc:
        too_deep = "recursion limit" in str(exc)
        problem = f"nested deeper than {max_depth} levels" if too_deep else "not valid JSON"
        raise ValueError(problem) from None
    check_bounds(value, max_depth=max_depth, max_int=max_int, floats=floats)
    return value


def load_json_file(path: Path, error: type[Exception], what: str) -> Any:
    """The bounded JSON value (:func:`load_json`) of the file at ``path``; ``error`` naming
    the file when it cannot be read or is not ``what`` (e.g. "an anchor file")."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise error(f"{path}: cannot be read ({exc.strerror})") from None
    try:
        return load_json(data)
    except ValueError as exc:
        raise error(f"{path}: not {what} ({exc})") from None


def check_bounds(value: Any, *, max_depth: int, max_int: int, floats: bool) -> None:
    """Refuse (ValueError naming the field path) what :func:`load_json` refuses in an
    already parsed value: e.g. a TOML document (see :mod:`accord.core._toml`)."""
    _check(value, (), max_depth, max_int, floats, max_depth)


def _check(
    value: Any, path: tuple[str, ...], depth: int, max_int: int, floats: bool, limit: int
) -> None:
    if isinstance(value, dict | list):
        if depth == 0:
            raise ValueError(f"nested deeper than {limit} levels at field '{_name(path)}'")
        items = value.items() if isinstance(value, dict) else enumerate(value)
        for key, item in items:
            _check(item, (*path, str(key)), depth - 1, max_int, floats, limit)
    elif isinstance(value, bool) or value is None or isinstance(value, str):
        return
    elif isinstance(value, int):
        if not -max_int <= value <= max_int:
            raise ValueError(f"field '{_name(path)}' is an integer out of range (|n| <= {max_int})")
    elif isinstance(value, float):
        if not floats:
            raise ValueError(f"field '{_name(path)}' is a float; only integers are allowed")
        if not math.isfinite(value):
            raise ValueError(f"field '{_name(path)}' is a number out of range")


def _name(path: tuple[str, ...]) -> str:
    name = ".".join(path) or "body"
    return name if len(name) <= _MAX_FIELD_CHARS else name[: _MAX_FIELD_CHARS - 3] + "..."

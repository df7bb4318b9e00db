"""TOML from a file someone handed us: the JSON bounds, and no RecursionError.

:mod:`tomllib` parses nested arrays and inline tables by recursion, so ``a = [[[[…]]]]``
a few thousand levels deep ends in a :class:`RecursionError` that no caller expects
(every one of them catches :class:`tomllib.TOMLDecodeError`). :func:`load_toml` turns
that into a ``TOMLDecodeError`` and holds the parsed document to the bounds of
:func:`accord.core.load_json` (depth, integer magnitude, finite floats), so a study,
policy or service config is refused with its callers' usual one-line error.
"""

from __future__ import annotations

import tomllib
from typing import Any

from accord.core._json import MAX_JSON_DEPTH, MAX_JSON_INT, check_bounds

__all__ = ["load_toml"]


def load_toml(text: str, *, max_depth: int = MAX_JSON_DEPTH) -> dict[str, Any]:
    """The TOML document ``text``; :class:`tomllib.TOMLDecodeError` when it is not TOML,
    nests deeper than ``max_depth`` or holds an integer beyond ``±MAX_JSON_INT`` or a
    float that is not finite (the message names the key path, never the value)."""
    try:
        document = tomllib.loads(text)
    except RecursionError:
        raise tomllib.TOMLDecodeError(f"nested deeper than {max_depth} levels") from None
    try:
        check_bounds(document, max_depth=max_depth, max_int=MAX_JSON_INT, floats=True)
    except ValueError as exc:
        raise tomllib.TOMLDecodeError(str(exc)) from None
    return document

"""Unknown keys in a user's file: refused with the nearest known one ("did you mean").

Study files, ``hub.toml`` and ``site.toml`` are written by hand, and a misspelt key that
is silently ignored (``timout = 5``) or refused without a hint ("Extra inputs are not
permitted") costs a user an afternoon. :func:`check_keys` refuses keys a table does not
know; :func:`validation_message` turns pydantic's first error into the one-line message
every config error uses, with the suggestion for an unknown key. Suggestions come from
:func:`difflib.get_close_matches` (the standard library's ratio matcher; no dependency).
Only key names appear in a message, never a value.
"""

from __future__ import annotations

import difflib
import types
import typing
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from pydantic import BaseModel, ValidationError

from accord.core._errors import ConfigError

__all__ = ["check_keys", "did_you_mean", "validation_message"]


def did_you_mean(key: str, known: Iterable[str]) -> str:
    """`` (did you mean 'x'?)`` for the closest known key, else the list of known keys."""
    names = sorted({str(k) for k in known})
    close = difflib.get_close_matches(key, names, n=1, cutoff=0.6)
    if close:
        return f" (did you mean '{close[0]}'?)"
    if not names:
        return ""
    return f" (expected one of {', '.join(names)})"


def check_keys(table: Mapping[str, Any], known: Iterable[str], source: object, prefix: str) -> None:
    """ConfigError naming ``source`` and ``prefix.key`` for the first key not in ``known``
    (``prefix`` empty: top-level tables)."""
    allowed = set(known)
    for key in table:
        if key not in allowed:
            field = f"{prefix}.{key}" if prefix else key
            raise ConfigError(f"{source}: field '{field}': unknown key{did_you_mean(key, allowed)}")


def validation_message(
    exc: ValidationError, model: type[BaseModel], prefix: Sequence[str] = ()
) -> tuple[str, str]:
    """``(dotted field, message)`` for pydantic's first error on ``model``; an unknown key
    gets the suggestion among the fields of the (nested) model it was found in."""
    first = exc.errors()[0]
    loc = [str(p) for p in first["loc"]]
    field = ".".join([*prefix, *loc])
    if first["type"] != "extra_forbidden" or not loc:
        return field, str(first["msg"])
    parent = _model_at(model, loc[:-1])
    known = _field_names(parent) if parent is not None else ()
    return field, f"unknown key{did_you_mean(loc[-1], known)}"


def _field_names(model: type[BaseModel]) -> list[str]:
    names = []
    for name, info in model.model_fields.items():
        names.append(name)
        if isinstance(info.alias, str) and info.alias != name:
            names.append(info.alias)
    return names


def _model_at(model: type[BaseModel], loc: Sequence[str]) -> type[BaseModel] | None:
    """The model class found by following field names ``loc`` from ``model`` (None when a
    step is not a field holding a model, e.g. a list index or a dict key)."""
    current: type[BaseModel] | None = model
    for part in loc:
        if current is None or part not in current.model_fields:
            return None
        current = _model_in(current.model_fields[part].annotation)
    return current


def _model_in(annotation: Any) -> type[BaseModel] | None:
    """The one BaseModel class in ``annotation`` (``M``, ``M | None``), else None."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        found = [m for a in typing.get_args(annotation) if (m := _model_in(a)) is not None]
        return found[0] if len(found) == 1 else None
    if typing.get_origin(annotation) is typing.Annotated:
        return _model_in(typing.get_args(annotation)[0])
    return None

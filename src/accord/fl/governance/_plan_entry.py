"""A plan's sites and secure-aggregation settings in its signed ``plan.submitted`` entry.

The researcher writes them (:func:`plan_entry_fields`); every site reads them back from its
verified replica (:func:`read_secure_plan`) and takes each secure round's parameters from
there, never from the hub's task config::

    sites               the plan's sites, in the order a secure round invites them
    secure_aggregation  true when the plan's sums are secure
    secure              null, or every field of fl.SecureSettings: floats as decimal
                        strings (the ledger holds no floats), integers, null

The ``secure`` object is read field by field from the :class:`~accord.fl.SecureSettings`
dataclass, so a setting added there (a ring size, a bit width) is signed and checked
without changes here.
"""

from __future__ import annotations

import dataclasses
import functools
import types
import typing
from decimal import Decimal, InvalidOperation
from typing import Any

from accord.fl._plan import Plan, SecurePlan, SecureSettings
from accord.fl.governance._fields import read_bool, read_mapping, read_str_list, refuse
from accord.ledger import Entry

__all__ = ["plan_entry_fields", "read_secure_plan"]

_Scalar = bool | int | float | str | None


def _encode(name: str, value: _Scalar) -> bool | int | str | None:
    floats = float in _types()[name]
    if isinstance(value, float) or (
        floats and isinstance(value, int) and not isinstance(value, bool)
    ):
        return repr(float(value))  # exact: float(repr(x)) == x
    if value is None or isinstance(value, bool | int | str):
        return value
    raise TypeError(f"SecureSettings.{name}: cannot sign a {type(value).__name__}")


def plan_entry_fields(plan: Plan) -> dict[str, Any]:
    """The ``sites``, ``secure_aggregation`` and ``secure`` fields of ``plan``'s entry."""
    secure = None
    if plan.secure is not None:
        secure = {
            f.name: _encode(f.name, getattr(plan.secure, f.name))
            for f in dataclasses.fields(SecureSettings)
        }
    return {
        "sites": plan.site_ids,
        "secure_aggregation": plan.secure is not None,
        "secure": secure,
    }


@functools.cache
def _types() -> dict[str, tuple[type, ...]]:
    """Each SecureSettings field's allowed value types (``int | None`` → (int, NoneType))."""
    hints = typing.get_type_hints(SecureSettings)
    out: dict[str, tuple[type, ...]] = {}
    for f in dataclasses.fields(SecureSettings):
        hint = hints[f.name]
        union = typing.get_origin(hint) in (typing.Union, types.UnionType)
        out[f.name] = typing.get_args(hint) if union else (hint,)
    return out


def _decode(entry: Entry, name: str, value: Any, allowed: tuple[type, ...]) -> _Scalar:
    where = f"field 'secure.{name}'"
    if value is None and type(None) in allowed:
        return None
    if isinstance(value, bool):
        if bool in allowed:
            return value
    elif isinstance(value, int):
        if int in allowed:
            return value
    elif isinstance(value, str) and float in allowed:
        try:
            number = Decimal(value)
        except InvalidOperation:
            raise refuse(entry, f"{where} is not a decimal number") from None
        if not number.is_finite():
            raise refuse(entry, f"{where} is not a finite decimal")
        return float(value)
    elif isinstance(value, str) and str in allowed:
        return value
    kinds = " or ".join("null" if t is type(None) else t.__name__ for t in allowed)
    kinds = kinds.replace("float", "decimal string")
    raise refuse(entry, f"{where} is not {kinds}")


def _settings(entry: Entry) -> SecureSettings:
    given = read_mapping(entry, "secure")
    allowed = _types()
    unknown = sorted(set(given) - set(allowed))
    if unknown:
        raise refuse(entry, f"field 'secure.{unknown[0]}' is not a secure-aggregation setting")
    missing = sorted(set(allowed) - set(given))
    if missing:
        raise refuse(entry, f"field 'secure.{missing[0]}' is missing")
    values = {name: _decode(entry, name, given[name], kinds) for name, kinds in allowed.items()}
    try:
        return SecureSettings(**values)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise refuse(entry, "field 'secure' holds settings SecureSettings refuses") from None


def read_secure_plan(entry: Entry) -> tuple[tuple[str, ...], SecurePlan | None]:
    """The plan's sites and, when its sums are secure, what each secure round must be.

    Raises LedgerError naming the field when the entry is outside the contract above.
    """
    sites = read_str_list(entry, "sites", empty=False)
    if len(set(sites)) != len(sites):
        raise refuse(entry, "field 'sites' names a site twice")
    secure = read_bool(entry, "secure_aggregation")
    if "secure" not in entry.payload:
        raise refuse(entry, "field 'secure' is missing")
    if (entry.payload["secure"] is not None) != secure:
        raise refuse(entry, "field 'secure' disagrees with 'secure_aggregation'")
    return sites, SecurePlan(sites, _settings(entry)) if secure else None

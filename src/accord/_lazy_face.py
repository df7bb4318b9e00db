"""Package faces that import on first use, for the packages above torch.

``accord.studies`` and ``accord.services`` hold both hub-side code (no torch: the round
loop's consortium, the ledger wiring, the hub service) and site or simulation code (torch).
Their faces name everything but import a name's module only when it is first used, so
that ``import accord.services._hub_service`` never drags in torch through the package's
``__init__``. Type checkers read the same names from the face's ``TYPE_CHECKING`` imports.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["lazy_face"]


def lazy_face(package: str, homes: Mapping[str, str]) -> Callable[[str], Any]:
    """A module ``__getattr__`` for ``package``: ``homes[name]`` is the private module
    (``"_audit"``) that defines ``name``; the value is imported once, then cached."""

    def face_attribute(name: str) -> Any:
        home = homes.get(name)
        if home is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f"{package}.{home}"), name)
        setattr(sys.modules[package], name, value)
        return value

    return face_attribute

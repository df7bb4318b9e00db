"""The one exception tree: every accord error is an AccordError and is drawn in the docs."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re

import accord
from accord.core import AccordError
from accord.core import _errors as errors


def _all_modules() -> list[object]:
    names = [m.name for m in pkgutil.walk_packages(accord.__path__, "accord.")]
    return [importlib.import_module(n) for n in names if ".__main__" not in n]


def _subclasses(cls: type) -> set[type]:
    found = set()
    for sub in cls.__subclasses__():
        found |= {sub, *_subclasses(sub)}
    return found


def test_every_accord_error_is_in_the_documented_tree() -> None:
    _all_modules()
    doc = errors.__doc__ or ""
    drawn = set(re.findall(r"[├└]── (\w+)", doc)) | {"AccordError"}
    public = {c for c in _subclasses(AccordError) if c.__module__.startswith("accord.")}
    names = {c.__name__ for c in public if not c.__name__.startswith("_")}
    assert names, "no error classes found"
    assert names <= drawn, f"not in the tree of accord.core._errors: {sorted(names - drawn)}"
    assert drawn <= names | {"AccordError"}, f"drawn but gone: {sorted(drawn - names)}"


def test_every_error_class_of_accord_derives_from_accord_error() -> None:
    strays = []
    for module in _all_modules():
        for name, obj in vars(module).items():
            if (
                inspect.isclass(obj)
                and issubclass(obj, Exception)
                and obj.__module__ == getattr(module, "__name__", "")
                and not name.startswith("_")
                and not issubclass(obj, AccordError)
            ):
                strays.append(f"{obj.__module__}.{name}")
    assert strays == []


def test_the_tree_shows_each_core_errors_exit_code() -> None:
    doc = errors.__doc__ or ""
    for name in errors.__all__:
        cls = getattr(errors, name)
        if inspect.isclass(cls) and issubclass(cls, AccordError) and cls is not AccordError:
            assert re.search(rf"{name} \({cls.exit_code}\b", doc), name
    codes = [
        getattr(errors, n).exit_code
        for n in errors.__all__
        if inspect.isclass(getattr(errors, n)) and issubclass(getattr(errors, n), AccordError)
    ]
    assert len(codes) == len(set(codes))  # one code per core error

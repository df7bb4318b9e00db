"""The code a site runs: every accord module on its execution path, from the import graph.

Starting at the site's entry points (:data:`SITE_ENTRY_POINTS`: the site service, the site
runtime and its middleware chain, the task handlers and the site's governance), follow
every import that runs (module level or inside a function; not those under
``if TYPE_CHECKING:``) to the modules of ``accord`` it names, transitively. Imports of
other packages (numpy, torch, ...) are not followed.

A package's face counts for the names taken from it: ``from accord.fl import Site`` adds
``accord/fl/__init__.py`` and the module that defines ``Site`` (following re-exports),
not every module the face re-exports, so hub-only code behind a shared face
(``accord.fl._hub``) stays out. A face's own machinery (imports it binds to names outside
its ``__all__``, such as ``lazy_face``) counts whenever the face does; names a lazy face
resolves on first use are found through its ``TYPE_CHECKING`` imports, which mirror its
``_HOMES``. Every parent package's ``__init__`` runs too, and counts as a face.

:func:`site_code` maps each module's path (``accord/fl/_site.py``) to the SHA-256 of its
bytes, sorted by path; it is the ``code`` part of a function archive.
"""

from __future__ import annotations

import ast
import functools
import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import accord

__all__ = ["SITE_ENTRY_POINTS", "site_code", "site_modules"]

SITE_ENTRY_POINTS = (
    "accord.services._site_service",
    "accord.fl._site",
    "accord.fl._site_chain",
    "accord.fl._site_governance",
    "accord.fl.tasks",
)

_Request = tuple[str, frozenset[str] | None]  # (module, names taken from it; None: all of it)


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _walk(node: ast.AST, *, typing_only: bool = False) -> Iterator[ast.Import | ast.ImportFrom]:
    """Import statements under ``node``: those that run (default), or only those under
    ``if TYPE_CHECKING:`` (``typing_only``)."""
    if isinstance(node, ast.If) and _is_type_checking(node):
        if typing_only:
            for body_child in node.body:
                yield from _walk(body_child, typing_only=False)
        for else_child in node.orelse:
            yield from _walk(else_child, typing_only=typing_only)
        return
    if isinstance(node, ast.Import | ast.ImportFrom) and not typing_only:
        yield node
    for child in ast.iter_child_nodes(node):
        yield from _walk(child, typing_only=typing_only)


@dataclass(frozen=True)
class _Module:
    name: str
    path: Path
    package: bool
    tree: ast.Module

    def absolute(self, node: ast.ImportFrom) -> str:
        """The absolute module name an ``from ... import`` statement names."""
        if not node.level:
            return node.module or ""
        here = self.name.split(".") if self.package else self.name.split(".")[:-1]
        anchor = here[: len(here) - node.level + 1]
        return ".".join([*anchor, node.module] if node.module else anchor)

    def exported(self) -> set[str]:
        """The names of this module's ``__all__`` (a face's public names)."""
        for node in self.tree.body:
            if not isinstance(node, ast.Assign) or not isinstance(node.value, ast.List | ast.Tuple):
                continue
            if any(isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets):
                return {
                    e.value
                    for e in node.value.elts
                    if isinstance(e, ast.Constant) and isinstance(e.value, str)
                }
        return set()


@dataclass
class _Graph:
    """The accord modules under ``root`` and the walk from the entry points."""

    root: Path  # the ``accord`` package folder
    modules: dict[str, _Module] = field(default_factory=dict)
    files: set[str] = field(default_factory=set)  # modules whose file counts
    done: set[_Request] = field(default_factory=set)

    def module(self, name: str) -> _Module | None:
        if name in self.modules:
            return self.modules[name]
        parts = name.split(".")
        if parts[0] != "accord":
            return None
        base = self.root.joinpath(*parts[1:])
        for path, package in ((base / "__init__.py", True), (base.with_suffix(".py"), False)):
            if path.is_file():
                tree = ast.parse(path.read_bytes(), filename=str(path))
                self.modules[name] = _Module(name, path, package, tree)
                return self.modules[name]
        return None

    def requests(self, module: _Module, node: ast.Import | ast.ImportFrom) -> Iterator[_Request]:
        """What one import statement takes, as (module, names) requests."""
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, None
            return
        base = module.absolute(node)
        for alias in node.names:
            if alias.name == "*":
                yield base, None
            elif self.module(f"{base}.{alias.name}") is not None:
                yield f"{base}.{alias.name}", None
            else:
                yield base, frozenset({alias.name})

    def visit(self, name: str, names: frozenset[str] | None) -> None:
        pending: list[_Request] = [(name, names)]
        while pending:
            request = pending.pop()
            if request in self.done:
                continue
            self.done.add(request)
            module = self.module(request[0])
            if module is None:
                continue
            self.files.add(module.name)
            parent = module.name.rpartition(".")[0]
            if parent:
                pending.append((parent, frozenset()))
            pending.extend(self._taken(module, request[1]))

    def _taken(self, module: _Module, names: frozenset[str] | None) -> Iterator[_Request]:
        """The requests ``module`` makes when ``names`` of it are used (None: all of it)."""
        if not module.package or names is None:
            for node in _walk(module.tree):
                yield from self.requests(module, node)
            return
        public = module.exported()
        bound = set()
        for node in _walk(module.tree):
            for alias in node.names:
                local = alias.asname or alias.name.partition(".")[0]
                bound.add(local)
                if local in names or local not in public:
                    yield from self._binding(module, node, alias)
        for node in _walk(module.tree, typing_only=True):  # a lazy face's homes
            for alias in node.names:
                local = alias.asname or alias.name
                if local in names and local not in bound:
                    yield from self._binding(module, node, alias)

    def _binding(
        self, module: _Module, node: ast.Import | ast.ImportFrom, alias: ast.alias
    ) -> Iterator[_Request]:
        if isinstance(node, ast.Import):
            yield alias.name, None
        else:
            one = ast.ImportFrom(module=node.module, names=[alias], level=node.level)
            yield from self.requests(module, one)


def site_modules(root: Path | None = None) -> list[Path]:
    """The files of every accord module on a site's execution path, sorted.

    ``root`` is an ``accord`` package folder (default: the one installed here).
    """
    graph = _Graph(root or Path(accord.__file__).parent)
    for entry in SITE_ENTRY_POINTS:
        graph.visit(entry, None)
    return sorted(graph.modules[name].path for name in graph.files)


def _hashes(root: Path) -> dict[str, str]:
    base = root.parent
    return {
        path.relative_to(base).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in site_modules(root)
    }


@functools.cache
def _installed() -> dict[str, str]:
    return _hashes(Path(accord.__file__).parent)


def site_code(root: Path | None = None) -> dict[str, str]:
    """Path (``accord/fl/_site.py``) → hex SHA-256 of every module on a site's execution
    path, sorted by path.

    ``root`` is an ``accord`` package folder; by default the installed one, computed once
    per process (the modules a running site has loaded do not change under it).
    """
    return dict(_installed()) if root is None else _hashes(root)

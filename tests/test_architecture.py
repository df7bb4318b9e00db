"""The shape of the code: no import cycles, no copied blocks, a torch-free hub side.

Layer directions are checked by import-linter (``make contracts``, contracts in
pyproject.toml); these tests check what it cannot: cycles between *modules* (read from
the AST, imports under ``if TYPE_CHECKING:`` ignored), blocks of ten identical lines
repeated between modules, and what the hub side actually imports. (What the CLI
leaves out at startup, torch first, is pinned by ``tests/cli/test_startup.py``.)
"""

from __future__ import annotations

import ast
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = SRC / "accord"
BLOCK = 10  # lines


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(path: Path, name: str, known: set[str]) -> set[str]:
    """Modules of ``known`` that ``path`` imports at run time (anywhere but under
    ``if TYPE_CHECKING:``), resolving relative imports and ``from pkg import module``."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name in known)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            submodules = {f"{base}.{a.name}" for a in node.names} & known
            found.update(submodules)
            if base in known and len(submodules) < len(node.names):
                found.add(base)  # a name from the package's face: its __init__ runs
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    found.discard(name)
    return found


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    known = set(modules)
    return {name: _imports(path, name, known) for name, path in modules.items()}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []
    counter = 0

    def connect(v: str) -> None:
        nonlocal counter
        index[v] = low[v] = counter
        counter += 1
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                connect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))
    for v in sorted(graph):
        if v not in index:
            connect(v)
    return out


def test_the_import_graph_reader_sees_cycles() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert _cycles(graph) == [["a", "b", "c"]]


def test_no_module_imports_another_that_imports_it_back() -> None:
    graph = _graph()
    assert len(graph) > 150  # the reader found the package
    assert "accord.fl._plan" in graph["accord.fl._hub"]  # and its imports
    cycles = _cycles(graph)
    assert cycles == [], "import cycles: " + "; ".join(" ↔ ".join(c) for c in cycles)


def _code_lines(path: Path) -> list[tuple[int, str]]:
    """(line number, stripped text) of the lines that carry code or text."""
    out = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        text = line.strip()
        if text and text not in {")", "]", "}", "),", "],", "},", '"""'}:
            out.append((number, text))
    return out


def test_no_block_of_ten_identical_lines_is_repeated_between_modules() -> None:
    seen: dict[tuple[str, ...], tuple[str, int]] = {}
    repeated: dict[tuple[str, str], int] = defaultdict(int)
    where: dict[tuple[str, str], str] = {}
    for name, path in _modules().items():
        lines = _code_lines(path)
        for start in range(len(lines) - BLOCK + 1):
            window = tuple(text for _, text in lines[start : start + BLOCK])
            first = seen.setdefault(window, (name, lines[start][0]))
            if first[0] != name:
                pair = (first[0], name)
                repeated[pair] += 1
                where.setdefault(pair, f"{first[0]}:{first[1]} ~ {name}:{lines[start][0]}")
    assert not repeated, "repeated blocks: " + "; ".join(where.values())


@pytest.mark.parametrize(
    "module",
    [
        "accord.net",
        "accord.fl._hub",
        "accord.fl._plan",
        "accord.fl._secure",
        "accord.fl.strategies",
        "accord.fl._aggregation",
        "accord.studies._consortium",
        "accord.studies._audit",
        "accord.services._hub_service",
        "accord.ledger",
    ],
)
def test_the_hub_side_never_imports_torch_or_models(module: str) -> None:
    code = (
        f"import sys, {module}; "
        "bad = sorted(m for m in sys.modules if m == 'torch' or m.startswith('accord.models'));"
        "print(','.join(bad))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert done.stdout.strip() == "", f"{module} imports {done.stdout.strip()}"

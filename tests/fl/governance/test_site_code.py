"""site_code: the modules on a site's execution path, read from the import graph."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest

import accord
from accord.fl.governance import SITE_ENTRY_POINTS, site_code

PACKAGE = Path(accord.__file__).parent


@pytest.fixture(scope="module")
def code() -> dict[str, str]:
    return site_code()


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A copy of the installed ``accord`` package to edit."""
    root = tmp_path / "accord"
    shutil.copytree(PACKAGE, root, ignore=shutil.ignore_patterns("__pycache__"))
    return root


def _files(folder: str) -> set[str]:
    return {f"accord/{p.relative_to(PACKAGE).as_posix()}" for p in (PACKAGE / folder).rglob("*.py")}


def test_the_entry_points_and_what_runs_on_site_data_are_in(code: dict[str, str]) -> None:
    for entry in SITE_ENTRY_POINTS:
        path = entry.replace(".", "/")
        assert f"{path}.py" in code or f"{path}/__init__.py" in code
    for path in (
        "accord/fl/_secure_site.py",
        "accord/fl/_site.py",
        "accord/fl/_site_chain.py",
        "accord/fl/_site_governance.py",
        "accord/fl/_task_config.py",
        "accord/data/_cohort.py",
        "accord/data/_preprocessing.py",
        "accord/services/_site_service.py",
        "accord/fl/governance/_policy.py",
    ):
        assert path in code, path
    assert _files("crypto/secagg") <= set(code)
    assert _files("fl/tasks") <= set(code)


def test_hub_only_modules_are_out(code: dict[str, str]) -> None:
    for path in (
        "accord/fl/_hub.py",
        "accord/fl/_secure.py",
        "accord/fl/strategies/_fedavg.py",
        "accord/fl/_in_memory.py",
        "accord/services/_hub_service.py",
        "accord/services/_hub_process.py",
        "accord/services/_loopback.py",
        "accord/studies/_federated_run.py",
        "accord/studies/_audit.py",
    ):
        assert path not in code, path
    assert not _files("report") & set(code)
    assert not _files("cli") & set(code)
    assert not _files("synth") & set(code)


def test_paths_are_sorted_and_map_to_the_sha256_of_their_bytes(code: dict[str, str]) -> None:
    assert list(code) == sorted(code)
    for path, digest in code.items():
        assert hashlib.sha256((PACKAGE.parent / path).read_bytes()).hexdigest() == digest


def test_a_lazy_face_counts_for_the_names_taken_from_it(code: dict[str, str]) -> None:
    # the site service takes resolve_study and write_bytes_atomic from accord.studies
    assert {"accord/studies/__init__.py", "accord/_lazy_face.py"} <= set(code)
    assert {"accord/studies/_specs.py", "accord/studies/_jsonio.py"} <= set(code)
    assert "accord/studies/_simulation.py" not in code


def test_a_copied_tree_hashes_the_same(tree: Path, code: dict[str, str]) -> None:
    assert site_code(tree) == code


def test_editing_a_site_module_changes_only_its_hash(tree: Path, code: dict[str, str]) -> None:
    path = tree / "fl" / "_site.py"
    path.write_text(path.read_text() + "\n# patched\n")
    edited = site_code(tree)
    assert set(edited) == set(code)
    assert [p for p in code if code[p] != edited[p]] == ["accord/fl/_site.py"]


def test_editing_a_hub_module_changes_nothing(tree: Path, code: dict[str, str]) -> None:
    path = tree / "fl" / "_hub.py"
    path.write_text(path.read_text() + "\n# patched\n")
    assert site_code(tree) == code


def test_a_new_import_brings_its_module_in(tree: Path, code: dict[str, str]) -> None:
    path = tree / "fl" / "_site.py"
    text = path.read_text()
    path.write_text(text + "\n\ndef _late() -> None:\n    from accord.report import _embed\n")
    assert "accord/report/_embed.py" in site_code(tree)


def test_imports_for_type_checkers_only_are_not_followed(tree: Path) -> None:
    path = tree / "fl" / "_site.py"
    guarded = (
        "\nfrom typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from accord.fl import Hub\n"
    )
    path.write_text(path.read_text() + guarded)
    assert "accord/fl/_hub.py" not in site_code(tree)

"""The run folder's guard: refuse a non-empty OUT, --force removes only the run's files,
--resume needs a run to carry on."""

from __future__ import annotations

from pathlib import Path

import pytest

from accord.cli._run_folder import INTERRUPTED, mark_interrupted, prepare_run_folder
from accord.core import ConfigError


def _a_run(out: Path, *, interrupted: bool) -> None:
    (out / "checkpoints" / "keys").mkdir(parents=True)
    (out / "sites" / "a").mkdir(parents=True)
    (out / "ledger.sqlite").write_bytes(b"")
    if interrupted:
        mark_interrupted(out, "SIGINT")
    else:
        (out / "results.json").write_text("{}")


def test_an_empty_or_missing_folder_needs_no_option(tmp_path: Path) -> None:
    assert prepare_run_folder(tmp_path / "new", resume=False, force=False) is False
    assert prepare_run_folder(tmp_path, resume=True, force=False) is False  # nothing to resume


def test_a_non_empty_folder_is_refused_naming_it_and_both_options(tmp_path: Path) -> None:
    _a_run(tmp_path, interrupted=True)
    with pytest.raises(ConfigError, match=r"not empty; add --resume .* or --force") as info:
        prepare_run_folder(tmp_path, resume=False, force=False)
    assert str(tmp_path) in str(info.value)
    assert (tmp_path / INTERRUPTED).is_file()  # refused: nothing touched


def test_force_removes_the_runs_files_only(tmp_path: Path) -> None:
    _a_run(tmp_path, interrupted=False)
    (tmp_path / "data").mkdir()
    (tmp_path / "notes.txt").write_text("mine")
    assert prepare_run_folder(tmp_path, resume=False, force=True) is False
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data", "notes.txt"]


def test_kept_paths_do_not_make_a_folder_non_empty(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()  # the demo's generated consortium
    assert (
        prepare_run_folder(tmp_path, resume=False, force=False, keep=[tmp_path / "data"]) is False
    )


def test_resume_carries_on_an_interrupted_run_only(tmp_path: Path) -> None:
    interrupted, complete, foreign = tmp_path / "i", tmp_path / "c", tmp_path / "f"
    for folder in (interrupted, complete, foreign):
        folder.mkdir()
    _a_run(interrupted, interrupted=True)
    _a_run(complete, interrupted=False)
    (foreign / "x.csv").write_text("")
    assert prepare_run_folder(interrupted, resume=True, force=False) is True
    with pytest.raises(ConfigError, match="complete; use --force"):
        prepare_run_folder(complete, resume=True, force=False)
    with pytest.raises(ConfigError, match="no run to resume here"):
        prepare_run_folder(foreign, resume=True, force=False)
    with pytest.raises(ConfigError, match="choose one"):
        prepare_run_folder(interrupted, resume=True, force=True)

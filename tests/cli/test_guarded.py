"""guarded(): an OSError a library lets through is one line too, never a traceback."""

from __future__ import annotations

import errno
from pathlib import Path

import pytest
import typer

from accord.cli._errors import guarded
from accord.core import MissingFileError


def _raise(exc: OSError) -> None:
    raise exc


def test_a_stray_file_not_found_is_missing_file_with_its_path(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    gone = tmp_path / "gone.csv"
    error = FileNotFoundError(errno.ENOENT, "No such file or directory", str(gone))
    with pytest.raises(typer.Exit) as info:
        guarded(False, lambda: _raise(error))
    assert info.value.exit_code == MissingFileError.exit_code
    line = capsys.readouterr().err.strip()
    assert line == f"error: MissingFileError: {gone}: No such file or directory"


def test_another_os_error_is_one_line_and_debug_raises_it(
    capsys: pytest.CaptureFixture[str],
) -> None:
    error = PermissionError(errno.EACCES, "Permission denied", "locked.toml")
    with pytest.raises(typer.Exit) as info:
        guarded(False, lambda: _raise(error))
    assert info.value.exit_code == 1
    line = capsys.readouterr().err.strip()
    assert line.startswith("error: PermissionError: ") and "locked.toml: Permission denied" in line
    with pytest.raises(PermissionError):
        guarded(True, lambda: _raise(error))

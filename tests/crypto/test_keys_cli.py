"""``accord keys new`` and ``accord keys show``: output, files and exit codes."""

from __future__ import annotations

from pathlib import Path

import typer
from typer.testing import CliRunner

from accord.cli._keys import keys_app
from accord.core import ConfigError, KeyFileError
from accord.crypto import load_public

runner = CliRunner()
app = typer.Typer()
app.add_typer(keys_app, name="keys")


def _new(out: Path, *extra: str) -> tuple[int, str]:
    result = runner.invoke(app, ["keys", "new", "--org", "hospital-a", "--out", str(out), *extra])
    return result.exit_code, result.output


def test_new_prints_key_id_and_paths(tmp_path: Path) -> None:
    code, output = _new(tmp_path)
    assert code == 0, output
    public = load_public(tmp_path / "hospital-a.pub.json")
    assert public.key_id in output
    assert "hospital-a.key" in output and "hospital-a.pub.json" in output
    assert "unencrypted" in output and "PRIVATE KEY" not in output


def test_new_twice_refuses_without_overwrite(tmp_path: Path) -> None:
    assert _new(tmp_path)[0] == 0
    code, output = _new(tmp_path)
    assert code == KeyFileError.exit_code == 11
    assert "already exists" in output and "Traceback" not in output
    assert _new(tmp_path, "--overwrite")[0] == 0


def test_new_bad_org_is_config_error(tmp_path: Path) -> None:
    result = runner.invoke(app, ["keys", "new", "--org", "Bad Org", "--out", str(tmp_path)])
    assert result.exit_code == ConfigError.exit_code
    assert "not a valid organisation name" in result.output


def test_show_public_and_private_files(tmp_path: Path) -> None:
    _new(tmp_path)
    public = load_public(tmp_path / "hospital-a.pub.json")
    for name in ("hospital-a.pub.json", "hospital-a.key"):
        result = runner.invoke(app, ["keys", "show", str(tmp_path / name)])
        assert result.exit_code == 0, result.output
        assert public.key_id in result.output and public.to_dict()["public_key"] in result.output
        assert "hospital-a" in result.output and "PRIVATE" not in result.output


def test_show_too_open_key_exits_with_key_file_error(tmp_path: Path) -> None:
    _new(tmp_path)
    (tmp_path / "hospital-a.key").chmod(0o644)
    result = runner.invoke(app, ["keys", "show", str(tmp_path / "hospital-a.key")])
    assert result.exit_code == KeyFileError.exit_code
    assert "too open" in result.output


def test_show_missing_file(tmp_path: Path) -> None:
    result = runner.invoke(app, ["keys", "show", str(tmp_path / "x.pub.json")])
    assert result.exit_code == KeyFileError.exit_code
    assert "no such public identity file" in result.output

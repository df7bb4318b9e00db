"""`accord hub serve` / `site serve` run in-process leave the root logger as they found it
(a handler bound to CliRunner's closed stream made later log lines "--- Logging error ---")."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from typer.testing import CliRunner

from accord.cli import app


@pytest.mark.parametrize("command", [["hub", "serve"], ["site", "serve"]])
def test_serve_puts_the_root_logger_back(command: list[str], tmp_path: Path) -> None:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    result = CliRunner().invoke(app, [*command, "--config", str(tmp_path / "absent.toml")])
    assert result.exit_code == 14, result.output
    assert root.handlers == handlers and root.level == level

"""Every CLI command that reads a user's file answers garbage with one line, never a
traceback.

Each command gets each kind of garbage (a PNG, an empty file, non-UTF-8 bytes, JSON or TOML
nested 100,000 deep, an integer of 30 digits, a fake SQLite header, a folder) where it
expects a ledger, a bundle, a proof, an anchor, a key, a certificate, a request, a study
or a service config. The
answer must be the CLI's convention (``error: <Class>: ...`` on one stderr line, the
class's exit code): no traceback, no uncaught exception, nothing on stdout.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from accord.cli import app

runner = CliRunner(env={"COLUMNS": "200"})

GARBAGE: dict[str, bytes | None] = {
    "png": b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(64),
    "empty": b"",
    "not utf-8": b"\xff\xfe\xfa" * 20,
    "deep json": b"[" * 100_000 + b"]" * 100_000,
    "deep object": b'{"a":' * 50_000 + b"1" + b"}" * 50_000,
    "huge int": b'{"seq": 1000000000000000000000000000000, "size": -1}',
    "fake sqlite": b"SQLite format 3\x00" + bytes(200),
    # the right format tag, every field of the wrong type
    "proof-shaped": json.dumps(
        {
            "format": "accord-inclusion-proof",
            "seq": "0",
            "size": [],
            "root": 1,
            "entry": {},
            "signature": None,
            "proof": "ab",
            "checkpoint": 3,
        }
    ).encode(),
    "proof with a bad hash": json.dumps(
        {
            "format": "accord-inclusion-proof",
            "seq": 0,
            "size": 1,
            "root": "zz" * 32,
            "entry": "AA==",
            "signature": "AA==",
            "proof": [],
            "checkpoint": {"body": "", "signature": ""},
        }
    ).encode(),
    "anchor-shaped": json.dumps(
        {"format": "accord-ledger-anchor", "log_id": 1, "genesis": [], "hub": {"key": 2}}
    ).encode(),
    "key-shaped": json.dumps(
        {"format": "accord-key/1", "org": 5, "key_id": [], "public": {}}
    ).encode(),
    "folder": None,
    "deep toml": b"a = " + b"[" * 100_000 + b"]" * 100_000,
    "deep inline tables": b"a = " + b"{b = " * 5_000 + b"1" + b"}" * 5_000,
}

# what each command is given: FILE stands for the garbage, OUT for a fresh folder
COMMANDS: dict[str, list[str]] = {
    "ledger verify": ["ledger", "verify", "FILE", "--no-anchor"],
    "ledger verify --anchor": ["ledger", "verify", "FILE", "--anchor", "FILE"],
    "ledger anchor": ["ledger", "anchor", "FILE"],
    "ledger show": ["ledger", "show", "FILE"],
    "ledger prove": ["ledger", "prove", "FILE", "0"],
    "ledger export": ["ledger", "export", "--ledger", "FILE", "--out", "OUT/b.jsonl"],
    "ledger check-proof": ["ledger", "check-proof", "FILE"],
    "keys show": ["keys", "show", "FILE"],
    "ca show": ["ca", "show", "FILE"],
    "ca sign": ["ca", "sign", "FILE", "--ca", "OUT", "--out", "OUT"],
    "run": ["run", "FILE", "--out", "OUT"],
    "hub serve": ["hub", "serve", "--config", "FILE"],
    "site serve": ["site", "serve", "--config", "FILE"],
    "consortium simulate": ["consortium", "simulate", "OUT/ws", "--study", "FILE"],
    "consortium init": ["consortium", "init", "OUT/hub", "--name", "n", "--member", "FILE"],
    "consortium admit": ["consortium", "admit", "FILE", "--hub-dir", "OUT"],
    "wsi info": ["wsi", "info", "FILE"],
}


def _garbage(tmp_path: Path, kind: str, suffix: str) -> Path:
    raw = GARBAGE[kind]
    path = tmp_path / f"garbage{suffix}"
    if raw is None:
        path.mkdir()
    else:
        path.write_bytes(raw)
    return path


_SUFFIX = {
    "run": ".toml",
    "hub serve": ".toml",
    "site serve": ".toml",
    "consortium simulate": ".toml",
    "wsi info": ".tif",
    "keys show": ".pub.json",
    "ca show": ".crt",
}


@pytest.mark.parametrize("kind", sorted(GARBAGE))
@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_garbage_is_one_line_and_an_exit_code(tmp_path: Path, command: str, kind: str) -> None:
    path = _garbage(tmp_path, kind, _SUFFIX.get(command, ".json"))
    out = tmp_path / "out"
    out.mkdir()
    args = [a.replace("FILE", str(path)).replace("OUT", str(out)) for a in COMMANDS[command]]
    result = runner.invoke(app, args)
    assert result.exception is None or isinstance(result.exception, SystemExit), (
        f"{type(result.exception).__name__}: {result.exception}"
    )
    assert result.exit_code not in (0, 1), result.output  # 1: a bare AccordError or a crash
    assert "Traceback" not in result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert result.stdout.strip() == ""


@pytest.mark.parametrize("kind", sorted(GARBAGE))
def test_a_workspace_with_a_garbage_manifest_is_one_line(tmp_path: Path, kind: str) -> None:
    workspace = tmp_path / "ws"
    workspace.mkdir()
    _garbage(workspace, kind, "").rename(workspace / "consortium.json")
    result = runner.invoke(app, ["site", "functions", "--hub", str(workspace), "--site", "s"])
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert result.exit_code not in (0, 1), result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "consortium.json" in lines[0], result.stderr

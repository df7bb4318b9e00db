"""accord ledger anchor and verify --anchor / --no-anchor / --require-cosigned: exit codes."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from typer.testing import CliRunner

from accord.cli import app
from accord.core import LedgerError
from tests.conftest import write_study

runner = CliRunner()


@pytest.fixture(scope="module")
def out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tests.conftest import synthetic_cohort

    data = tmp_path_factory.mktemp("data")
    synthetic_cohort().to_csv(data / "cohort.csv", index=False)
    study = write_study(data, "newton_raphson", rounds=3)
    out = tmp_path_factory.mktemp("out")
    result = runner.invoke(app, ["run", str(study), "--data", str(data), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert f"--anchor {out / 'anchor.json'}" in " ".join(result.output.split())
    return out


def _verify(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, ["ledger", "verify", *args])
    return result.exit_code, result.output


def _copy_without_triggers(src: Path, dst: Path) -> sqlite3.Connection:
    dst.write_bytes(src.read_bytes())
    db = sqlite3.connect(dst)
    for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type='trigger'").fetchall():
        db.execute(f"DROP TRIGGER {name}")
    return db


def test_anchor_prints_what_run_wrote(out: Path) -> None:
    result = runner.invoke(app, ["ledger", "anchor", str(out / "ledger.sqlite")])
    assert result.exit_code == 0, result.output
    printed = json.loads(result.output)
    assert printed == json.loads((out / "anchor.json").read_text())
    assert printed["hub"]["org"] in printed["members"] and len(printed["genesis"]) == 64


def test_verify_without_an_anchor_is_unanchored_and_fails(out: Path) -> None:
    code, output = _verify(str(out / "ledger.sqlite"))
    assert code == LedgerError.exit_code and "UNANCHORED" in output
    code, output = _verify(str(out / "ledger.sqlite"), "--no-anchor")
    assert code == 0 and "UNANCHORED" in output


def test_the_run_ends_in_a_cosigned_checkpoint(out: Path) -> None:
    code, output = _verify(
        str(out / "ledger.sqlite"), "--anchor", str(out / "anchor.json"), "--require-cosigned"
    )
    assert code == 0, output
    size = json.loads((out / "results.json").read_text())["ledger"]["size"]
    assert f"final size {size}, covered by the last checkpoint" in output


def test_a_reforged_ledger_fails_against_the_anchor(out: Path, tmp_path: Path) -> None:
    other = tmp_path / "other"
    data = out.parent / next(p.name for p in out.parent.iterdir() if p.name.startswith("data"))
    study = write_study(data, "newton_raphson", rounds=3)
    result = runner.invoke(app, ["run", str(study), "--data", str(data), "--out", str(other)])
    assert result.exit_code == 0, result.output
    code, output = _verify(str(other / "ledger.sqlite"), "--anchor", str(out / "anchor.json"))
    assert code == LedgerError.exit_code
    assert "anchor mismatch: field 'genesis'" in output and "Traceback" not in output


def test_a_cut_tail_is_listed_and_fails_require_cosigned(out: Path, tmp_path: Path) -> None:
    copy = tmp_path / "ledger.sqlite"
    db = _copy_without_triggers(out / "ledger.sqlite", copy)
    (size,) = db.execute("SELECT COUNT(*) FROM entries").fetchone()
    db.execute("DELETE FROM cosignatures WHERE size = ?", (size,))
    db.execute("DELETE FROM checkpoints WHERE size = ?", (size,))
    db.commit()
    (covered,) = db.execute("SELECT MAX(size) FROM checkpoints").fetchone()
    db.close()
    anchor = ["--anchor", str(out / "anchor.json")]
    code, output = _verify(str(copy), *anchor)
    assert code == 0 and f"seq {covered}..{size - 1}" in output
    code, output = _verify(str(copy), *anchor, "--require-cosigned")
    assert code == LedgerError.exit_code
    assert f"{size - covered} entries (seq {covered}..{size - 1})" in output


def test_removed_cosignatures_fail_require_cosigned(out: Path, tmp_path: Path) -> None:
    copy = tmp_path / "ledger.sqlite"
    db = _copy_without_triggers(out / "ledger.sqlite", copy)
    db.execute("DELETE FROM cosignatures")
    db.commit()
    db.close()
    anchor = ["--anchor", str(out / "anchor.json")]
    code, output = _verify(str(copy), *anchor, "--require-cosigned")
    assert code == LedgerError.exit_code and "lacks co-signatures by" in output


def test_a_png_is_one_clear_error(tmp_path: Path) -> None:
    png = tmp_path / "x.png"
    png.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff\xfe\n")
    code, output = _verify(str(png), "--no-anchor")
    assert code == LedgerError.exit_code
    assert "x.png: line 1: not UTF-8 text" in output and "Traceback" not in output


@pytest.mark.slow
def test_a_networked_run_ends_in_a_cosigned_checkpoint(out: Path, tmp_path: Path) -> None:
    """With ``--processes`` the sites co-sign the final checkpoint from their own processes."""
    data = out.parent / next(p.name for p in out.parent.iterdir() if p.name.startswith("data"))
    study = write_study(data, "fedavg", rounds=2, baselines="[]")
    net = tmp_path / "net"
    args = ["run", str(study), "--data", str(data), "--out", str(net), "--processes"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    code, output = _verify(
        str(net / "ledger.sqlite"), "--anchor", str(net / "anchor.json"), "--require-cosigned"
    )
    assert code == 0, output
    assert "covered by the last checkpoint" in output


def test_a_header_only_bundle_is_an_empty_ledger(tmp_path: Path) -> None:
    path = tmp_path / "h.jsonl"
    path.write_text('{"type": "header", "format": "accord-ledger-bundle", "version": 1}\n')
    code, output = _verify(str(path), "--no-anchor")
    assert code == LedgerError.exit_code and "h.jsonl: empty ledger" in output
    assert "OK" not in output
    result = runner.invoke(app, ["ledger", "anchor", str(path)])
    assert result.exit_code == LedgerError.exit_code and "empty ledger" in result.output


def test_a_malformed_anchor_names_its_field(out: Path, tmp_path: Path) -> None:
    doc = json.loads((out / "anchor.json").read_text())
    del doc["hub"]["public_key"]
    bad = tmp_path / "anchor.json"
    bad.write_text(json.dumps(doc))
    code, output = _verify(str(out / "ledger.sqlite"), "--anchor", str(bad))
    assert code == LedgerError.exit_code and "field 'hub.public_key'" in output

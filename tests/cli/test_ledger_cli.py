"""accord ledger verify / export / show / prove / check-proof, and accord keys."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from typer.testing import CliRunner

from accord.cli import app
from accord.core import LedgerError, MissingFileError
from tests.conftest import write_study

runner = CliRunner()


@pytest.fixture(scope="module")
def out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tests.conftest import synthetic_cohort

    data = tmp_path_factory.mktemp("data")
    synthetic_cohort().to_csv(data / "cohort.csv", index=False)
    study = write_study(data, "newton_raphson", rounds=10, baselines='["pooled"]')
    out = tmp_path_factory.mktemp("out")
    result = runner.invoke(app, ["run", str(study), "--data", str(data), "--out", str(out)])
    assert result.exit_code == 0, result.output
    return out


def test_a_run_writes_a_verifiable_ledger_and_cites_it(out: Path) -> None:
    doc = json.loads((out / "results.json").read_text())
    assert doc["ledger"]["size"] > 20
    nr = doc["methods"]["newton_raphson"]
    assert {"plan_seq", "metric_seq"} <= set(nr["ledger"])
    assert all("ledger_seq" in m for m in nr["per_site"].values())
    for path in [out / "ledger.sqlite", *sorted((out / "sites").glob("*/ledger.sqlite"))]:
        anchor = ["--anchor", str(out / "anchor.json"), "--require-cosigned"]
        result = runner.invoke(app, ["ledger", "verify", str(path), *anchor])
        assert result.exit_code == 0, result.output
        assert "OK:" in result.output and "ANCHORED" in result.output
        assert "covered by the last checkpoint" in result.output


def test_export_show_prove_check(out: Path, tmp_path: Path) -> None:
    bundle = tmp_path / "bundle.jsonl"
    assert (
        runner.invoke(
            app, ["ledger", "export", "--ledger", str(out / "ledger.sqlite"), "--out", str(bundle)]
        ).exit_code
        == 0
    )
    anchor = ["--anchor", str(out / "anchor.json")]
    assert "OK:" in runner.invoke(app, ["ledger", "verify", str(bundle), *anchor]).output
    shown = runner.invoke(app, ["ledger", "show", str(bundle), "--kind", "metric"])
    assert shown.exit_code == 0 and "metric" in shown.output and "task.accepted" not in shown.output
    proof = tmp_path / "proof.json"
    doc = json.loads((out / "results.json").read_text())
    seq = doc["methods"]["newton_raphson"]["ledger"]["metric_seq"]
    assert (
        runner.invoke(
            app, ["ledger", "prove", str(out / "ledger.sqlite"), str(seq), "--out", str(proof)]
        ).exit_code
        == 0
    )
    checked = runner.invoke(
        app, ["ledger", "check-proof", str(proof), "--hub-key", str(out / "keys" / "hub.pub.json")]
    )
    assert checked.exit_code == 0 and "root signed by hub" in checked.output
    tampered = json.loads(proof.read_text())
    tampered["proof"][0] = "00" * 32
    proof.write_text(json.dumps(tampered))
    bad = runner.invoke(app, ["ledger", "check-proof", str(proof)])
    assert bad.exit_code == LedgerError.exit_code and "NOT included" in bad.output


def test_verify_names_the_first_bad_entry(out: Path, tmp_path: Path) -> None:
    copy = tmp_path / "ledger.sqlite"
    copy.write_bytes((out / "ledger.sqlite").read_bytes())
    db = sqlite3.connect(copy)
    for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type='trigger'").fetchall():
        db.execute(f"DROP TRIGGER {name}")
    db.execute("UPDATE entries SET signature = zeroblob(64) WHERE seq = 12")
    db.commit()
    db.close()
    result = runner.invoke(app, ["ledger", "verify", str(copy), "--no-anchor"])
    assert result.exit_code == LedgerError.exit_code
    assert "FAILED at entry 12: bad signature" in result.output


def test_show_prints_whole_payloads_and_json_lines(out: Path) -> None:
    ledger = str(out / "ledger.sqlite")
    machine = runner.invoke(app, ["ledger", "show", ledger, "--json"])
    assert machine.exit_code == 0, machine.output
    entries = [json.loads(line) for line in machine.output.splitlines()]
    assert [e["seq"] for e in entries] == list(range(len(entries)))
    genesis = entries[0]
    assert genesis["kind"] == "genesis" and "plan" in genesis
    people = runner.invoke(app, ["ledger", "show", ledger], env={"COLUMNS": "60"})
    assert people.exit_code == 0, people.output
    assert people.output.startswith(f"#0  {genesis['time']}  {genesis['org']}  genesis")
    assert "..." not in people.output  # nothing cut short
    payload_lines = [line for line in people.output.splitlines() if line.startswith("    ")]
    assert payload_lines and max(len(line) for line in payload_lines) <= 60
    text = "".join(people.output.split())
    for member in genesis["payload"]["organisations"]:  # every key, whole, though wrapped
        assert member["public_key"] in text


def test_verify_a_missing_ledger_is_file_not_found(tmp_path: Path) -> None:
    result = runner.invoke(app, ["ledger", "verify", str(tmp_path / "missing.sqlite")])
    assert result.exit_code == MissingFileError.exit_code == 14
    assert f"{tmp_path}/missing.sqlite: no such ledger store or bundle" in result.output


def test_verify_a_file_that_is_not_a_ledger(tmp_path: Path) -> None:
    path = tmp_path / "x.jsonl"
    path.write_text("hello\n")
    result = runner.invoke(app, ["ledger", "verify", str(path)])
    assert result.exit_code == LedgerError.exit_code
    assert "x.jsonl" in result.output


def test_keys_new_and_show(tmp_path: Path) -> None:
    result = runner.invoke(app, ["keys", "new", "--org", "hopital-nord", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    key = tmp_path / "hopital-nord.key"
    assert key.stat().st_mode & 0o077 == 0
    shown = runner.invoke(app, ["keys", "show", str(tmp_path / "hopital-nord.pub.json")])
    assert "hopital-nord" in shown.output

"""A workspace hub that forks its log: the sites keep evidence, ``submit`` and ``status``
exit 10 with EQUIVOCATION, and ``ledger verify --evidence`` proves it (10) or not (9).

The fork: after a refused submit (every site co-signed the final checkpoint), the hub's
log is rebuilt from the same entries but its last one, which the hub replaces with
another entry of its own, and checkpointed at the same size.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from accord.cli import app
from accord.core import ConfigError, EquivocationError, LedgerError, PolicyError
from accord.crypto import load_identity
from accord.ledger import (
    HubLedger,
    SiteReplica,
    SQLiteLedgerStore,
    anchor_of,
    find_evidence,
    write_anchor,
)
from tests.conftest import synthetic_cohort, write_study
from tests.ledger.conftest import build_log

runner = CliRunner(env={"COLUMNS": "250"})


def _fork_hub_log(ws: Path) -> int:
    """Replace the hub's last entry by another one of its own; checkpoint; return size."""
    with SQLiteLedgerStore(ws / "ledger.sqlite", create=False) as store:
        entries = list(store.read())
    for path in ws.glob("ledger.sqlite*"):
        path.unlink()
    store = SQLiteLedgerStore(ws / "ledger.sqlite")
    store.append(entries[:-1])
    hub = load_identity(ws / "keys" / "hub.key")
    forked = HubLedger(store, hub)
    forked.record(hub, "hub.note", {"note": "another history"})
    forked.checkpoint()
    forked.close()
    return len(entries)


@pytest.fixture(scope="module")
def forked(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, int]:
    tmp = tmp_path_factory.mktemp("equivocation")
    data = tmp / "data"
    data.mkdir()
    synthetic_cohort().to_csv(data / "cohort.csv", index=False)
    study = str(write_study(data, "newton_raphson", rounds=2))
    ws = tmp / "ws"
    assert (
        runner.invoke(
            app, ["consortium", "simulate", str(ws), "--study", study, "--data", str(data)]
        ).exit_code
        == 0
    )
    refused = runner.invoke(app, ["submit", study, "--hub", str(ws)])
    assert refused.exit_code == PolicyError.exit_code, refused.output
    plan = re.findall(r"plan-[0-9a-f]{32}", refused.output)[0]
    clean = runner.invoke(app, ["status", plan, "--hub", str(ws)])
    assert clean.exit_code == 0 and "EQUIVOCATION" not in clean.output  # an honest hub
    assert all(find_evidence(p / "evidence") == [] for p in (ws / "sites").iterdir())
    size = _fork_hub_log(ws)
    again = runner.invoke(app, ["submit", study, "--hub", str(ws)])
    assert again.exit_code == EquivocationError.exit_code, again.output
    assert "two different roots for size" in again.output
    return ws, plan, size


def _evidence(ws: Path) -> Path:
    files = [
        f for site in sorted((ws / "sites").iterdir()) for f in find_evidence(site / "evidence")
    ]
    assert len(files) == 1  # the first site to sync caught it; the run stopped there
    return files[0]


def test_a_site_keeps_evidence_of_the_fork(forked: tuple[Path, str, int]) -> None:
    ws, _, size = forked
    evidence = _evidence(ws)
    assert evidence.name == f"equivocation-{size}-fork.json"
    doc = json.loads(evidence.read_text())
    assert doc["kind"] == "fork" and [c["size"] for c in doc["checkpoints"]] == [size, size]
    assert {c["org"] for c in doc["checkpoints"]} == {"hub"}


def test_status_shows_equivocation_and_exits_10(forked: tuple[Path, str, int]) -> None:
    ws, plan, size = forked
    result = runner.invoke(app, ["status", plan, "--hub", str(ws)])
    assert result.exit_code == EquivocationError.exit_code == 10
    line = next(x for x in result.output.splitlines() if x.startswith("EQUIVOCATION"))
    assert f"fork, sizes {size} and {size}" in line and "equivocation-" in line
    assert plan in result.output  # the plan's table is still shown
    unknown = runner.invoke(app, ["status", "plan-unknown", "--hub", str(ws)])
    assert unknown.exit_code == 10 and "EQUIVOCATION" in unknown.output


def test_verify_evidence_proves_the_fork_with_the_anchor(forked: tuple[Path, str, int]) -> None:
    ws, _, size = forked
    evidence = _evidence(ws)
    anchor = ws / "sites" / "hospital_1" / "anchor.json"  # another member's copy
    result = runner.invoke(
        app, ["ledger", "verify", "--evidence", str(evidence), "--anchor", str(anchor)]
    )
    assert result.exit_code == EquivocationError.exit_code, result.output
    assert f"EQUIVOCATION proven (fork, sizes {size} and {size}" in result.output


def test_verify_evidence_refuses_a_tampered_file_or_a_foreign_anchor(
    forked: tuple[Path, str, int], tmp_path: Path
) -> None:
    ws, _, _ = forked
    evidence = _evidence(ws)
    anchor = str(ws / "anchor.json")
    doc = json.loads(evidence.read_text())
    doc["checkpoints"][1]["root"] = doc["checkpoints"][0]["root"]
    body = json.loads(doc["checkpoints"][1]["body"])
    body["root"] = doc["checkpoints"][0]["root"]
    doc["checkpoints"][1]["body"] = json.dumps(body, separators=(",", ":"), sort_keys=True)
    tampered = tmp_path / "tampered.json"
    tampered.write_text(json.dumps(doc))
    result = runner.invoke(
        app, ["ledger", "verify", "--evidence", str(tampered), "--anchor", anchor]
    )
    assert result.exit_code == LedgerError.exit_code == 9
    assert "evidence invalid" in result.output and "not signed by that hub key" in result.output
    foreign = json.loads((ws / "anchor.json").read_text())
    foreign["hub"]["key_id"] = "someone-else"
    (tmp_path / "foreign.json").write_text(json.dumps(foreign))
    other = runner.invoke(
        app,
        [
            "ledger",
            "verify",
            "--evidence",
            str(evidence),
            "--anchor",
            str(tmp_path / "foreign.json"),
        ],
    )
    assert other.exit_code == 9 and "not the anchor's hub key" in other.output
    bare = runner.invoke(app, ["ledger", "verify", "--evidence", str(evidence)])
    assert bare.exit_code == ConfigError.exit_code and "needs --anchor" in bare.output
    both = runner.invoke(app, ["ledger", "verify", anchor, "--evidence", str(evidence)])
    assert both.exit_code == ConfigError.exit_code and "give no LEDGER" in both.output
    nothing = runner.invoke(app, ["ledger", "verify"])
    assert nothing.exit_code == ConfigError.exit_code and "give a LEDGER" in nothing.output


@pytest.mark.parametrize(
    "garbage", [b"[" * 100_000 + b"]" * 100_000, b"\x89PNG\r\n", b"[1, 2]", b""]
)
def test_verify_evidence_answers_a_garbage_file_in_one_line(
    forked: tuple[Path, str, int], tmp_path: Path, garbage: bytes
) -> None:
    ws, _, _ = forked
    junk = tmp_path / "junk.json"
    junk.write_bytes(garbage)
    args = ["ledger", "verify", "--evidence", str(junk), "--anchor", str(ws / "anchor.json")]
    result = runner.invoke(app, args)
    assert result.exit_code == LedgerError.exit_code, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.output
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_verify_compare_catches_the_fork_between_hub_and_replica(
    forked: tuple[Path, str, int], tmp_path: Path
) -> None:
    ws, _, size = forked
    replica = ws / "sites" / "hospital_1" / "ledger.sqlite"  # a site that never saw the fork
    anchor = str(ws / "sites" / "hospital_1" / "anchor.json")
    out = tmp_path / "found"
    args = ["ledger", "verify", str(ws / "ledger.sqlite"), "--anchor", anchor]
    result = runner.invoke(app, [*args, "--compare", str(replica), "--evidence-out", str(out)])
    assert result.exit_code == EquivocationError.exit_code, result.output
    assert f"EQUIVOCATION: fork, sizes {size} and {size}" in result.output
    [written] = find_evidence(out)
    proven = runner.invoke(
        app, ["ledger", "verify", "--evidence", str(written), "--anchor", anchor]
    )
    assert proven.exit_code == EquivocationError.exit_code, proven.output


def _honest(tmp_path: Path) -> tuple[Path, Path, Path]:
    """A hub log, a replica that co-signed it, and the log's anchor file."""
    log = build_log(tmp_path)
    site = SiteReplica(SQLiteLedgerStore(tmp_path / "replica.sqlite"), log.site)
    site.sync(log.ledger)
    log.ledger.record(log.other, "task.completed", {"plan": "p"})
    log.ledger.checkpoint()
    write_anchor(tmp_path / "anchor.json", anchor_of(next(iter(log.ledger.store.read(0, 1)))))
    site.store.close()
    log.ledger.close()
    return log.path, tmp_path / "replica.sqlite", tmp_path / "anchor.json"


def test_verify_compare_of_an_honest_hub_and_its_replica_is_consistent(tmp_path: Path) -> None:
    hub, replica, anchor = _honest(tmp_path)
    args = ["ledger", "verify", str(hub), "--anchor", str(anchor), "--compare", str(replica)]
    result = runner.invoke(app, [*args, "--evidence-out", str(tmp_path / "ev")])
    assert result.exit_code == 0, result.output
    assert "CONSISTENT" in result.output and not (tmp_path / "ev").exists()


def test_verify_compare_finds_a_log_cut_below_a_cosigned_checkpoint(tmp_path: Path) -> None:
    hub, replica, anchor = _honest(tmp_path)
    with SQLiteLedgerStore(hub, create=False) as store:
        entries, checkpoints = list(store.read(0, 12)), store.checkpoints()
    with SQLiteLedgerStore(tmp_path / "cut.sqlite") as cut:  # the tail and its checkpoints gone
        cut.append(entries)
        for cp in checkpoints:
            if cp.size <= 12:
                cut.put_checkpoint(cp)
    args = ["ledger", "verify", str(tmp_path / "cut.sqlite"), "--anchor", str(anchor)]
    result = runner.invoke(app, [*args, "--compare", str(replica)])
    assert result.exit_code == LedgerError.exit_code, result.output
    assert "ends at size 12" in result.output and "the log was cut" in result.output

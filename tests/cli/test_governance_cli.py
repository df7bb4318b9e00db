"""consortium simulate → submit (refused) → site functions / approve / reject → submit → status,
audit (store and bundle)."""

from __future__ import annotations

import json
import re
from pathlib import Path

from typer.testing import CliRunner

from accord.cli import app
from accord.core import PolicyError
from tests.conftest import synthetic_cohort, write_study

runner = CliRunner(env={"COLUMNS": "250"})


def _plan_ids(output: str) -> list[str]:
    return re.findall(r"plan-[0-9a-f]{32}", output)


def test_the_data_owner_workflow(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    synthetic_cohort().to_csv(data / "cohort.csv", index=False)
    study = str(write_study(data, "newton_raphson", rounds=5, l2=0.01))
    ws = str(tmp_path / "ws")
    init = runner.invoke(app, ["consortium", "simulate", ws, "--study", study, "--data", str(data)])
    assert init.exit_code == 0, init.output
    assert "simulation: every organisation's private key is on this machine" in init.output

    refused = runner.invoke(app, ["submit", study, "--hub", ws])
    assert refused.exit_code == PolicyError.exit_code
    plan = _plan_ids(refused.output)[0]
    status = runner.invoke(app, ["status", plan, "--hub", ws])
    assert status.exit_code == 0 and "not approved" in status.output

    pending = runner.invoke(app, ["site", "functions", "--hub", ws, "--site", "hospital_0"])
    digest = re.search(r"\b[0-9a-f]{64}\b", pending.output)
    assert digest is not None, pending.output
    for site in ("hospital_0", "hospital_1"):
        ok = runner.invoke(
            app, ["site", "approve", digest.group(0)[:16], "--hub", ws, "--site", site]
        )
        assert ok.exit_code == 0, ok.output
    no = runner.invoke(
        app,
        [
            "site",
            "reject",
            digest.group(0)[:16],
            "--hub",
            ws,
            "--site",
            "hospital_2",
            "--why",
            "ethics review pending",
        ],
    )
    assert no.exit_code == 0

    ran = runner.invoke(app, ["submit", study, "--hub", ws])
    assert ran.exit_code == 0, ran.output
    plan = _plan_ids(ran.output)[0]
    results = json.loads((Path(ws) / "runs" / plan / "results.json").read_text())
    assert set(results["methods"]["newton_raphson"]["per_site"]) == {"hospital_0", "hospital_1"}
    card = json.loads(
        (Path(ws) / "runs" / plan / results["models"]["newton_raphson"]["card"]).read_text()
    )
    assert "hospital_2" in card["excluded_sites"] and "model_seq" in card["ledger"]
    status = runner.invoke(app, ["status", plan, "--hub", ws])
    assert "ethics review pending" in status.output

    bundle = tmp_path / "b.jsonl"
    runner.invoke(
        app, ["ledger", "export", "--ledger", f"{ws}/ledger.sqlite", "--out", str(bundle)]
    )
    for source in (f"{ws}/ledger.sqlite", str(bundle)):
        audit = runner.invoke(app, ["audit", "--dataset", "hospital_2.synthetic", source])
        assert audit.exit_code == 0
        assert "function.rejected" in audit.output and "task.refused" in audit.output
        assert "task.completed" not in audit.output
    anchor = ["--anchor", f"{ws}/anchor.json", "--require-cosigned"]
    for ledger in (f"{ws}/ledger.sqlite", f"{ws}/sites/hospital_2/ledger.sqlite"):
        verified = runner.invoke(app, ["ledger", "verify", ledger, *anchor])
        assert verified.exit_code == 0, verified.output
        assert "OK:" in verified.output and "covered by the last checkpoint" in verified.output
    site_copy = Path(ws, "sites", "hospital_2", "anchor.json")
    assert site_copy.read_text() == Path(ws, "anchor.json").read_text()


def test_submit_to_a_folder_that_is_not_a_workspace(tmp_path: Path) -> None:
    result = runner.invoke(app, ["submit", "lung-demo", "--hub", str(tmp_path)])
    assert result.exit_code == 2 and "not a consortium workspace" in result.output

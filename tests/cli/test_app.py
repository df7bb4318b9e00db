"""The accord command: results.json, one-line errors with exit codes, the demo."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

import accord
from accord.cli import app
from accord.core import ConfigError, MissingFileError
from tests.conftest import write_study

runner = CliRunner()


def test_version() -> None:
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0
    assert accord.__version__ in result.output


def test_run_writes_results_with_hash_and_seed(cohort_dir: Path, tmp_path: Path) -> None:
    study = write_study(cohort_dir, "fedavg", rounds=2, baselines='["pooled"]')
    out = tmp_path / "out"
    result = runner.invoke(
        app, ["run", str(study), "--data", str(cohort_dir), "--out", str(out), "--seed", "7"]
    )
    assert result.exit_code == 0, result.output
    doc = json.loads((out / "results.json").read_text())
    assert doc["seed"] == 7 and len(doc["config_hash"]) == 64
    assert set(doc["methods"]) == {"fedavg", "pooled"}
    fedavg = doc["methods"]["fedavg"]
    assert 0.0 <= fedavg["consortium_cindex"] <= 1.0
    assert set(fedavg["per_site"]) == {"hospital_0", "hospital_1", "hospital_2"}
    assert "consortium" in result.output
    steps = [line.split("] ", 1)[1] for line in result.output.splitlines() if " s] " in line]
    assert steps[0].endswith("setting up the sites")  # not a terminal: timed plain lines
    for step in ("fedavg: round 1/2", "fedavg: round 2/2", "fedavg: evaluating at every site"):
        assert step in steps
    assert steps[-1] == "done"
    report = (out / "report.html").read_text()
    assert "Passed" in report and "ledger entry" in report and "PATIENT" not in report


def test_bad_study_field_is_one_line_and_exit_code(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(
        '[study]\nname = "x"\n[cohort]\nfiles = ["a.csv"]\nsite_column = "s"\n'
        '[cohort.features]\nage = "numeric"\n[training]\nstrategy = "nope"\n'
    )
    result = runner.invoke(app, ["run", str(path), "--out", str(tmp_path / "o")])
    assert result.exit_code == ConfigError.exit_code
    assert "field 'training.strategy'" in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "o" / "results.json").exists()


def test_missing_data_file_names_the_file(tmp_path: Path) -> None:
    study = write_study(tmp_path)
    result = runner.invoke(
        app, ["run", str(study), "--data", str(tmp_path), "--out", str(tmp_path / "o")]
    )
    assert result.exit_code == MissingFileError.exit_code
    assert f"cohort.csv: file not found in the data folder {tmp_path}" in result.output


def test_debug_shows_the_exception(tmp_path: Path) -> None:
    study = write_study(tmp_path)
    out = tmp_path / "o"  # not the default runs/latest, which may hold a run (refused)
    result = runner.invoke(
        app, ["run", str(study), "--data", str(tmp_path), "--out", str(out), "--debug"]
    )
    assert isinstance(result.exception, MissingFileError)


def test_unknown_builtin_study(tmp_path: Path) -> None:
    result = runner.invoke(app, ["run", "no-such-study", "--out", str(tmp_path)])
    assert result.exit_code == ConfigError.exit_code
    assert "no built-in study 'no-such-study'" in result.output


def test_demo_runs_the_hcc_study_on_a_fresh_consortium(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "demo"
    args = ["demo", "--out", str(out), "--patients", "30", "--slide-size", "768"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    doc = json.loads((out / "results.json").read_text())
    assert doc["study"] == "hcc-resection-survival"
    for step in ("] generating 3", "] site03: set up", "] fedavg: round 10/10", "] done"):
        assert step in result.output
    assert sorted(doc["sites"]) == ["site01", "site02", "site03"]
    assert {"fedavg", "clinical_only", "pooled"} <= set(doc["methods"])
    assert doc["oracle"]["consortium_cindex"] > 0.5
    assert doc["risk_groups"]["ledger"]["metric_seq"] > 0
    for curve in doc["risk_groups"]["curves"]:  # released: no cell below min_cell_count
        assert all(e == 0 or e >= 5 for e in curve["events"])
        assert all(n >= 5 for n in curve["at_risk"])
    assert sorted(doc["exported"]) == ["site01", "site02", "site03"]
    html = (out / "report.html").read_text()
    for section in ("Risk groups", "What the model looks at", "Audit", "oracle"):
        assert section in html
    assert "HCC-site" not in html  # no patient id reaches the report
    assert "verified" in html.lower()


def test_lung_demo_study_runs_without_shared_data(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["run", "lung-demo", "--out", str(tmp_path / "demo")])
    assert result.exit_code == 0, result.output
    doc = json.loads((tmp_path / "demo" / "results.json").read_text())
    assert doc["study"] == "lung-demo"
    assert len(doc["sites"]) == 4
    assert {"newton_raphson", "pooled"} <= set(doc["methods"])
    nr, pooled = doc["methods"]["newton_raphson"], doc["methods"]["pooled"]
    assert abs(nr["mean_site_cindex"] - pooled["mean_site_cindex"]) < 0.02

"""docs/quickstart.md's "Your own cohort" works when copied literally (#17)."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from accord.cli import app
from accord.synth import COHORT_LOG_HR

ROOT = Path(__file__).resolve().parents[2]
DOC = (ROOT / "docs" / "quickstart.md").read_text()


def _study_block() -> str:
    block = re.search(r"```toml\n(.*?)```", DOC, re.S)
    assert block is not None
    return block.group(1)


def test_the_studies_folder_holds_the_quickstart_study() -> None:
    shipped = (ROOT / "studies" / "your-own-csv.toml").read_text()
    header, _, body = shipped.partition("[study]")
    assert header.startswith("# docs/quickstart.md") and "[study]" + body == _study_block()


def test_the_quickstart_commands_run_as_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    section = DOC[DOC.index("## Your own cohort") :]
    section = section[: section.index("\n## ", 1)] if "\n## " in section[1:] else section
    commands = [
        shlex.split(line) for line in section.splitlines() if line.startswith(".venv/bin/accord ")
    ]
    assert [c[1:3] for c in commands] == [["synth", "cohort"], ["run", "my-study.toml"]]
    (tmp_path / "my-study.toml").write_text(_study_block())
    monkeypatch.chdir(tmp_path)  # the commands' relative paths, as a user types them
    for command in commands:
        result = CliRunner().invoke(app, command[1:])
        assert result.exit_code == 0, result.output
    frame = pd.read_csv(tmp_path / "path" / "to" / "folder" / "cohort.csv")
    assert list(frame.columns) == ["pid", "site", "time_days", "event", "age", "stage", "smoker"]
    assert set(frame.stage) == {"I", "II", "III", "IV"} and len(COHORT_LOG_HR) == 5
    results = json.loads((tmp_path / "runs" / "my-study" / "results.json").read_text())
    fitted = results["methods"]["newton_raphson"]
    assert "error" not in fitted
    assert 0.6 < fitted["consortium_cindex"] < 0.8  # the invented hazard ratios are real signal
    assert fitted["convergence"]["converged"] is True  # NR stops, and says so
    rows = {r["feature"]: r for r in fitted["coefficients"]}
    assert set(rows) == {"age", "stage=II", "stage=III", "stage=IV", "smoker"}
    truth = {**COHORT_LOG_HR, "age": COHORT_LOG_HR["age_per_year"]}
    for name, row in rows.items():  # the invented hazard ratios, within 3 SE (seed 0)
        assert abs(row["coef"] - truth[name]) < 3 * row["se"], name
        assert row["hr_low"] < row["hr"] < row["hr_high"]
    assert "hazard ratios" in result.output  # --show coefficients, after the summary

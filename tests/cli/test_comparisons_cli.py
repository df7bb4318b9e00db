"""The CLI prints the paired comparisons after the summary table, one line each."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from accord.cli import app
from accord.cli._summary import comparison_line, signed_comparison_line
from accord.studies import Comparison
from tests.conftest import write_study

runner = CliRunner()


def test_comparison_line_says_the_interval_and_whether_it_excludes_zero() -> None:
    near = Comparison("fedavg", "clinical_only", 0.012, -0.010, 0.034, 200, 0.95, 120)
    assert comparison_line(near) == (
        "federated (fedavg) vs clinical-only: \u0394C = +0.012 (95 % CI \u22120.010 to "
        "+0.034), paired bootstrap over the same 120 held-out patients (200 site-stratified "
        "resamples): not significant (within noise)"
    )
    worse = Comparison("fedadam", "local", -0.05, -0.08, -0.02, 199, 0.9, None)
    line = comparison_line(worse)
    assert line.startswith("federated (fedadam) vs local-only: \u0394C = \u22120.050 (90 % CI")
    assert "over the same held-out patients" in line and line.endswith(": significant")
    none = Comparison("fedavg", "local", 0.0, None, None, 0, 0.95)
    assert "no 95 % CI" in comparison_line(none)


def test_run_prints_the_comparison_it_records(cohort_dir: Path, tmp_path: Path) -> None:
    study = write_study(cohort_dir, "fedavg", rounds=2, baselines='["local"]')
    out = tmp_path / "out"
    result = runner.invoke(app, ["run", str(study), "--data", str(cohort_dir), "--out", str(out)])
    assert result.exit_code == 0, result.output
    (recorded,) = json.loads((out / "results.json").read_text())["comparisons"]
    assert (recorded["method"], recorded["against"]) == ("fedavg", "local")
    printed = comparison_line(
        Comparison(
            "fedavg",
            "local",
            recorded["difference"],
            recorded["low"],
            recorded["high"],
            recorded["resamples"],
            0.95,
            recorded["patients"],
        )
    )
    output = " ".join(result.output.split())  # rich wraps long lines
    assert printed in output
    assert output.index("consortium") < output.index("federated (fedavg) vs local-only")


def test_signed_comparison_line_names_its_ledger_entry() -> None:
    row = {
        "method": "fedavg",
        "against": "clinical_only",
        "difference": 0.012,
        "low": -0.01,
        "high": 0.034,
        "resamples": 200,
        "ledger": {"metric_seq": 41},
    }
    assert signed_comparison_line(row) == (
        "fedavg vs clinical-only: \u0394C = +0.012 [\u22120.010 to +0.034], 200 paired "
        "resamples (ledger entry 41)"
    )


def test_differences_within_noise_are_said_plainly() -> None:
    from io import StringIO

    from rich.console import Console

    from accord.cli._summary import print_comparisons

    out = StringIO()
    noise = Comparison("fedavg", "clinical_only", 0.02, -0.1, 0.15, 200, 0.95, 45)
    clear = Comparison("fedavg", "local", 0.2, 0.1, 0.3, 200, 0.95, 45)
    print_comparisons(Console(file=out, width=400), [noise, clear])
    *_, note = out.getvalue().splitlines()
    assert note.startswith("note: 1 of these 2 differences are within noise")
    out = StringIO()
    print_comparisons(Console(file=out, width=400), [clear])
    assert "within noise" not in out.getvalue()

"""`accord run --show coefficients`: hazard ratios after the summary, convergence in it."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from accord.cli import app

runner = CliRunner(env={"COLUMNS": "200"})
ROOT = Path(__file__).resolve().parents[2]


def _study(tmp_path: Path) -> Path:
    text = (ROOT / "studies" / "your-own-csv.toml").read_text()
    text = text.replace("bootstrap = 200", "bootstrap = 10").replace(
        'baselines = ["pooled", "local"]', 'baselines = ["local"]'
    )
    path = tmp_path / "study.toml"
    path.write_text(text)
    return path


def test_run_shows_coefficients_and_convergence(tmp_path: Path) -> None:
    data, out = tmp_path / "data", tmp_path / "out"
    made = runner.invoke(app, ["synth", "cohort", str(data), "--patients", "60"])
    assert made.exit_code == 0, made.output
    argv = ["run", str(_study(tmp_path)), "--data", str(data), "--out", str(out)]
    ran = runner.invoke(app, [*argv, "--show", "coefficients"])
    assert ran.exit_code == 0, ran.output
    assert "newton_raphson: hazard ratios" in ran.output
    assert "converged (" in ran.output  # the summary's training row
    doc = json.loads((out / "results.json").read_text())
    rows = doc["methods"]["newton_raphson"]["coefficients"]
    shown = ran.output[ran.output.index("hazard ratios") :]
    for row in rows:  # every feature with its HR as printed
        assert row["feature"] in shown and f"{row['hr']:.3f}" in shown
    assert any(r["feature"].startswith("stage=") for r in rows)
    assert doc["methods"]["newton_raphson"]["convergence"]["converged"] is True


def test_run_refuses_an_unknown_show(tmp_path: Path) -> None:
    ran = runner.invoke(app, ["run", "lung-demo", "--out", str(tmp_path), "--show", "nothing"])
    assert ran.exit_code == 2 and "--show: unknown value 'nothing'" in ran.output


def test_the_summary_says_when_a_fit_did_not_converge() -> None:
    from rich.console import Console

    from accord.cli._summary import print_summary
    from accord.studies import Convergence, MethodResult

    stopped = Convergence(30, False, "step < tol", last_step=0.004, gradient_norm=1.0)
    result = MethodResult(
        "newton_raphson", {"a": {"harrell_c": 0.7}}, 0.7, None, 0.7, 30, ("a",),
        convergence=stopped,
    )  # fmt: skip
    failed = MethodResult(
        "local:a", {}, None, None, None, 0, ("a",), error="failed: DataError: no events"
    )
    console = Console(record=True, width=200)
    print_summary(console, "t", [result, failed])
    text = console.export_text()
    assert "NOT converged (30 it.)" in text
    assert "newton_raphson did not converge in 30 iterations (last step 4.0e-03)" in text
    assert "failed: local:a: failed: DataError: no events" in text

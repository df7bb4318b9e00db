"""Real SIGINT and SIGTERM during `accord run`: a safe stop, a marked folder, then --resume,
--force, and a plain rerun that refuses."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from accord.cli import app

runner = CliRunner(env={"COLUMNS": "200"})
ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")


def _study(tmp_path: Path) -> Path:
    """A gradient-trained study of many short rounds, so that a signal lands mid-training."""
    text = (ROOT / "studies" / "your-own-csv.toml").read_text()
    for old, new in [
        ('strategy = "newton_raphson"', 'strategy = "fedavg"  #'),
        ("rounds = 30", "rounds = 6"),
        ("local_steps = 100", "local_steps = 2"),
        ("bootstrap = 200", "bootstrap = 10"),
        ('baselines = ["pooled", "local"]', "baselines = []"),
    ]:
        assert old in text
        text = text.replace(old, new)
    path = tmp_path / "study.toml"
    path.write_text(text)
    return path


def _start(argv: list[str]) -> subprocess.Popen[str]:
    env = {
        **os.environ,
        "PYTHONPATH": f"{ROOT / 'src'}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
    }
    return subprocess.Popen(
        [sys.executable, "-m", "accord", *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def _interrupt_after_a_round(proc: subprocess.Popen[str], out: Path, signum: int) -> str:
    """Wait (up to 120 s) until the run has checkpointed a round, send ``signum``; stderr.

    (``--force`` removes results.json after an earlier run's checkpoints: while results.json
    is there, a checkpoint seen is the earlier run's.)"""
    deadline = time.monotonic() + 120
    while (out / "results.json").exists() or not (out / "checkpoints/fedavg.state.json").exists():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the run never completed a round"
        time.sleep(0.05)
    proc.send_signal(signum)
    _, err = proc.communicate(timeout=120)
    return err


def _assert_interrupted(out: Path, err: str, name: str) -> None:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err  # one line, no traceback
    assert lines[0].startswith(f"interrupted by {name} at a safe point"), err
    assert json.loads((out / "INTERRUPTED").read_text())["signal"] == name
    assert not (out / "results.json").exists() and not (out / "report.html").exists()
    assert not [p for p in out.rglob("*") if p.name.endswith(".tmp")]
    verified = runner.invoke(
        app,
        [
            "ledger", "verify", str(out / "ledger.sqlite"), "--anchor",
            str(out / "anchor.json"), "--require-cosigned",
        ],
    )  # fmt: skip
    assert verified.exit_code == 0, verified.output
    assert "covered by the last checkpoint" in verified.output  # sealed at the safe point


def test_a_signal_stops_safely_then_resume_force_and_refusal(tmp_path: Path) -> None:
    data, out = tmp_path / "data", tmp_path / "out"
    assert runner.invoke(app, ["synth", "cohort", str(data), "--patients", "40"]).exit_code == 0
    argv = ["run", str(_study(tmp_path)), "--data", str(data), "--out", str(out)]

    proc = _start(argv)
    err = _interrupt_after_a_round(proc, out, signal.SIGINT)
    assert proc.returncode == 130, err
    _assert_interrupted(out, err, "SIGINT")
    done = json.loads((out / "checkpoints" / "fedavg.state.json").read_text())["rounds_done"]
    assert 1 <= done < 6

    refused = runner.invoke(app, argv)  # a plain rerun touches nothing
    assert refused.exit_code == 2
    assert f"{out}: the run folder is not empty" in refused.output
    assert "--resume" in refused.output and "--force" in refused.output
    assert (out / "INTERRUPTED").is_file()

    resumed = runner.invoke(app, [*argv, "--resume"])
    assert resumed.exit_code == 0, resumed.output
    assert not (out / "INTERRUPTED").exists()
    doc = json.loads((out / "results.json").read_text())
    assert "fedavg" in doc["methods"]
    verified = runner.invoke(
        app,
        [
            "ledger", "verify", str(out / "ledger.sqlite"), "--anchor",
            str(out / "anchor.json"), "--require-cosigned",
        ],
    )  # fmt: skip
    assert verified.exit_code == 0, verified.output
    assert "aggregation 6," in verified.output  # every round signed once, none twice
    assert runner.invoke(app, [*argv, "--resume"]).exit_code == 2  # complete: nothing to resume

    (out / "mine.txt").write_text("the user's own file")
    proc = _start([*argv, "--force"])  # starts over: the earlier run's files go first
    err = _interrupt_after_a_round(proc, out, signal.SIGTERM)
    assert proc.returncode == 143, err
    _assert_interrupted(out, err, "SIGTERM")
    assert not (out / "models").exists() and not (out / "figures").exists()
    assert (out / "mine.txt").read_text() == "the user's own file"  # not the run's: kept

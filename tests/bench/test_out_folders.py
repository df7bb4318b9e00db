"""Every benchmark creates its --out folder: a fresh clone has no runs/bench/ (#18)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bench import secagg

BENCH = Path(__file__).resolve().parents[2] / "bench"
SCRIPTS = sorted(p for p in BENCH.glob("*.py") if '"--out"' in p.read_text(encoding="utf-8"))


def test_some_benchmarks_take_out() -> None:
    assert {"secagg.py", "network.py", "ledger.py"} <= {p.name for p in SCRIPTS}


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_each_benchmark_with_out_makes_its_folder(script: Path) -> None:
    text = script.read_text(encoding="utf-8")
    assert re.search(r"mkdir\(parents=True|os\.makedirs\(", text), script.name


def test_secagg_makes_the_out_folder_before_it_runs(tmp_path: Path) -> None:
    out = tmp_path / "runs" / "bench" / "secagg.json"
    secagg.parse(["--out", str(out), "--no-flower"])
    assert out.parent.is_dir() and not out.exists()

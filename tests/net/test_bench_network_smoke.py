"""Smoke run of bench/network.py --quick: hub and sites over mutual TLS, every measure reported."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench" / "network.py"


@pytest.mark.slow
def test_the_quick_network_benchmark_reports_every_measure(tmp_path: Path) -> None:
    out = tmp_path / "network.json"
    done = subprocess.run(
        [sys.executable, str(BENCH), "--quick", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    lines = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    measures = [line["measure"] for line in lines]
    assert measures == ["rounds"] * 4 + ["transfer", "hub_memory", "summary"]

    rounds = [line for line in lines if line["measure"] == "rounds"]
    assert {(r["n_sites"], r["secure"]) for r in rounds} == {
        (3, False), (3, True), (5, False), (5, True)
    }  # fmt: skip
    for r in rounds:
        assert set(r["network_s"]) == {"median", "p90", "min", "max"}
        assert r["network_s"]["median"] > 0 and r["in_memory_s"]["median"] > 0
        assert r["weights_equal"] and r["sum_max_abs_diff"] < 1e-3

    transfer = lines[4]
    assert transfer["accord"]["mb_s"] > 0 and transfer["raw_https"]["mb_s"] > 0
    assert transfer["ratio"] > 0 and isinstance(transfer["meets_target"], bool)

    memory = lines[5]
    assert memory["replies"] == memory["n_sites"] == 5
    assert memory["peak_rss_mib"] >= memory["rss_before_mib"] > 0

    summary = lines[-1]
    assert set(summary["rounds"]) == {
        "3_sites_plain", "3_sites_secure", "5_sites_plain", "5_sites_secure"
    }  # fmt: skip
    assert {"transfer_ratio", "hub_memory", "conditions"} <= set(summary)
    assert json.loads(out.read_text())["summary"] == summary

"""The benchmark script still runs (tiny sizes, no Flower) and its round is exact."""

from __future__ import annotations

import json

import pytest
from bench.secagg import main


def test_bench_prints_one_json_line(capsys: pytest.CaptureFixture[str]) -> None:
    main(["--sizes", "10,40", "--length", "200", "--dropouts", "0,0.3", "--no-flower"])
    line = capsys.readouterr().out.strip()
    report = json.loads(line)
    assert "\n" not in line and report["flower"] is None
    assert [(r["n"], r["dropout"]) for r in report["results"]] == [
        (10, 0.0), (10, 0.3), (40, 0.0), (40, 0.3)
    ]  # fmt: skip
    for row in report["results"][:-1]:
        assert row["max_abs_error"] <= row["error_bound"]
    last = report["results"][-1]  # 12 of 40 dropped: some 11-holder neighbourhood keeps < t = 8
    assert last["k"] == 10 and last["dropped"] == 12 and last["threshold"] == 8
    assert "fewer than 8 shares" in last["aborted"]

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
    for row in report["results"]:
        assert row["max_abs_error"] <= row["error_bound"]
    assert report["results"][-1]["k"] == 10 and report["results"][-1]["dropped"] == 12

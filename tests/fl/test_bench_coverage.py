"""bench/coverage.py runs the real interval code path on a small, seeded set of cohorts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from bench.coverage import main


def test_small_coverage_run_is_deterministic(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["--cohorts", "40", "--seed", "3", "--truth-patients", "3000", "--resamples", "50"]
    main([*argv, "--out", str(tmp_path / "sub" / "coverage.json")])
    line = capsys.readouterr().out.strip()
    report = json.loads(line)
    assert (tmp_path / "sub" / "coverage.json").read_text().strip() == line
    assert report["method"] == "bca" and report["cohorts"] == 40 and report["nominal"] == 0.95
    assert not report["interrupted"] and 0.5 < report["truth"] < 0.8
    for tally in (report, report["percentile"], report["ustat_normal"]):
        misses = tally["misses_below"] + tally["misses_above"] + tally["undefined"]
        assert round(tally["coverage"] * 40) + misses == 40
        assert 0.0 < tally["mean_width"] < 0.5
    main(argv)
    again = json.loads(capsys.readouterr().out)
    for key in ("coverage", "mean_width", "truth", "misses_below", "percentile"):
        assert again[key] == report[key]

"""Tests of accord.studies._report_writer: the report is built from the results document;
each section is there when its data is and absent otherwise; figures are written and
deterministic; nothing patient-level reaches the HTML."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

from accord.report import heatmap_overlay
from accord.studies import build_report

SITE_FIGURES = {"harrell_c": 0.71, "harrell_c_lower": 0.62, "harrell_c_upper": 0.8,
                "uno_c": 0.69, "td_auc": 0.73, "ibs": 0.18, "ledger_seq": 40}  # fmt: skip


def _method(c: float, sites: list[str], **extra: Any) -> dict[str, Any]:
    return {
        "trained_on": sites,
        "rounds": 5,
        "consortium_cindex": c,
        "consortium_cindex_interval": [c - 0.05, c + 0.05],
        "mean_site_cindex": c,
        "per_site": {s: dict(SITE_FIGURES, harrell_c=c) for s in sites},
        "excluded_sites": {},
        "ledger": {"metric_seq": 50},
        **extra,
    }


def minimal_document() -> dict[str, Any]:
    """What every run has: methods with their figures, no optional field."""
    return {
        "config_hash": "ab" * 32,
        "seed": 0,
        "methods": {"fedavg": _method(0.7, ["a", "b"]), "clinical_only": _method(0.66, ["a", "b"])},
    }


COEFFICIENTS = [
    {"feature": "age", "coef": 0.0198, "se": 0.0098, "hr": 1.02, "hr_low": 1.0,
     "hr_high": 1.04, "p": 0.043},
    {"feature": "grade=3", "coef": 0.698, "se": 0.2, "hr": 2.01, "hr_low": 1.36,
     "hr_high": 2.97, "p": 0.0004},
]  # fmt: skip


def full_document(out: Path) -> dict[str, Any]:
    """Every optional field, as the helpers that add them specify them."""
    doc = minimal_document()
    convergence = {"iterations": 7, "converged": True, "criterion": "|step| < 1e-9",
                   "last_step": 3e-10, "gradient_norm": 2e-11}  # fmt: skip
    doc["methods"]["clinical_only"] |= {
        "coefficients": COEFFICIENTS,
        "coefficients_standardised": COEFFICIENTS,
        "convergence": convergence,
    }
    doc["methods"]["fedavg"]["coefficients_note"] = "a MIL model has no linear coefficients"
    doc["methods"]["fedavg"]["convergence"] = {"iterations": 5, "converged": None}
    doc["methods"]["local:a"] = _method(0.64, ["a"])
    doc["methods"]["local:b"] = _method(0.58, ["b"])
    doc["methods"]["local:b"]["excluded_sites"] = {"b": {"evaluation": "too few events"}}
    doc["oracle"] = _method(0.76, ["a", "b"])
    doc["comparisons"] = [
        {"method": "fedavg", "against": "clinical_only", "difference": 0.04, "low": 0.01,
         "high": 0.07, "resamples": 200},
        {"method": "fedavg", "against": "local-only", "difference": 0.09, "low": -0.02,
         "high": 0.2, "resamples": 200},
    ]  # fmt: skip
    doc["sites"] = {
        "a": {"n_train": 70, "n_test": 30, "n_events": 41, "median_follow_up_days": 812.5},
        "b": {"n_train": None, "n_test": None, "n_events": -1},
    }
    doc["consortium_sizes"] = {"n_train": 140, "n_test": 60, "n_events": None}
    doc["preprocessing"] = {"columns": ["age", "grade=3"], "means": [61.25, 0.31],
                            "scales": [9.5, 0.46], "kinds": {}, "levels": {}}  # fmt: skip
    doc["risk_groups"] = {
        "method": "fedavg",
        "groups": ["low risk", "high risk"],
        "curves": [
            {"group": "low risk", "grid_days": [30.0, 90.0, 180.0], "at_risk": [30, 27, 20],
             "events": [0, 5, 6]},
            {"group": "high risk", "grid_days": [60.0, 120.0], "at_risk": [30, 18],
             "events": [9, 7]},
        ],
        "logrank_statistic": 6.1,
        "logrank_p": 0.0135,
        "ledger": {"metric_seq": 77},
    }  # fmt: skip
    doc["notes"] = ["risk groups of pooled: too few held-out patients"]
    doc["excluded_sites"] = {"c": "no dataset registered"}
    folder = out / "exported" / "a"
    folder.mkdir(parents=True)
    thumb = np.full((40, 60, 3), 230, dtype=np.uint8)
    (folder / "risk_rank_1.heatmap.png").write_bytes(
        heatmap_overlay(thumb, [[0, 0]], 64, [1.0], 4.0)
    )
    doc["exported"] = {
        "a": [{"image": "risk_rank_1.heatmap", "file": "exported/a/risk_rank_1.heatmap.png",
               "ledger_seq": 90}]
    }  # fmt: skip
    doc["localisation"] = {"tile AUC against the planted masks": 0.74}
    return doc


def _html(document: dict[str, Any], out: Path) -> str:
    report = build_report(document, out, title="Study", facts=[("seed", 0)])
    report.generated_at = datetime(2026, 1, 1, tzinfo=UTC)
    return report.render()


SECTIONS = ("Comparisons", "Fitted models", "Cohort", "Risk groups", "Notes", "Sites left out",
            "What the model looks at")  # fmt: skip


def test_every_section_is_there_when_its_data_is(tmp_path: Path) -> None:
    html = _html(full_document(tmp_path), tmp_path)
    for title in ("Results", "Each site&#39;s figures", *SECTIONS):
        assert f"<h2>{title}</h2>" in html, title
    # local-only in the method table, the per-site tables and figures, said to be scored at home
    assert "<td>local:a</td><td>local-only</td>" in html
    assert "local-only Harrell C" in html and "scored at home" in html
    assert "scored on its own held-out patients only" in html
    # one plain sentence per metric and per interval
    for term in ("Harrell&#39;s C", "Uno&#39;s C", "td-AUC", "IBS", "95 % interval of a difference",
                 "95 % interval of a consortium C", "95 % interval of a hazard ratio"):  # fmt: skip
        assert f"<dt>{term}</dt>" in html, term
    # convergence, comparisons, coefficients, cohort with suppression
    assert "converged after 7 iterations (|step| &lt; 1e-9; last step 3.0e-10" in html
    assert "not applicable after 5 rounds" in html
    assert "+0.040" in html and "+0.010 to +0.070" in html and "interval excludes 0" in html
    assert "interval includes 0" in html
    assert "<td>grade=3</td>" in html and "1.360–2.970" in html
    assert "a MIL model has no linear coefficients" in html
    assert "&lt;5 (suppressed)" in html and "not released" in html and "812.5" in html
    assert '<td>grade=3</td><td class="num">0.310</td>' in html  # feature summaries
    # heatmaps: one labelled colour scale, a caption true to viridis, localisation quality
    assert "dark purple" in html and "yellow" in html and "red: tiles" not in html
    assert "Measured localisation quality: tile AUC against the planted masks: 0.740." in html
    # one self-contained file: no script, stylesheet link, font or anything fetched
    assert "<script" not in html and "<link" not in html and "@import" not in html
    assert "https://" not in html and "url(http" not in html
    # the footer says that released tiles are patient data
    assert "ARE patient data" in html
    assert "contains no patient-level values" not in html


def test_sections_are_absent_without_their_data(tmp_path: Path) -> None:
    html = _html(minimal_document(), tmp_path)
    assert "<h2>Results</h2>" in html
    for title in SECTIONS:
        assert f"<h2>{title}</h2>" not in html, title
    assert "convergence" not in html and "local-only Harrell C" not in html
    assert "contains no patient-level values or identifiers" in html


def test_figures_are_written_and_deterministic(tmp_path: Path) -> None:
    out = tmp_path / "run"
    document = full_document(out)
    first = build_report(document, out, title="Study")
    second = build_report(copy.deepcopy(document), out, title="Study")
    names = sorted(f.name for f in first.figures)
    assert names == ["cindex_by_method", "cindex_by_site", "cindex_differences",
                     "forest_clinical_only", "heatmap_scale", "risk_groups"]  # fmt: skip
    for a, b in zip(first.figures, second.figures, strict=True):
        assert (a.svg, a.pdf, a.png) == (b.svg, b.pdf, b.png), a.name
    paths = first.write_figures(out / "figures")
    assert sorted(p.name for p in (out / "figures").iterdir()) == sorted(p.name for p in paths)
    assert len(paths) == 12 and all(p.stat().st_size > 0 for p in paths)
    second.generated_at = first.generated_at
    assert first.render() == second.render()


def test_the_km_figure_has_numbers_at_risk_from_the_released_table(tmp_path: Path) -> None:
    document = {"risk_groups": full_document(tmp_path)["risk_groups"]}  # no other figure
    report = build_report(document, tmp_path, title="Study", min_cell_count=5)
    (km,) = report.figures
    assert km.name == "risk_groups"
    assert "At risk" in km.svg and "Numbers at risk" in km.caption
    assert km.stats["n[low risk]"] == 30 and km.stats["logrank_p"] == pytest.approx(0.0135)


def test_a_run_report_has_local_only_figures_and_no_patient_value(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """End to end through the CLI: the run's report, its figures, no patient id or time."""
    from accord.cli import app
    from tests.conftest import synthetic_cohort, write_study

    cohort = synthetic_cohort(n_per_site=40)
    cohort.to_csv(tmp_path / "cohort.csv", index=False)
    study = write_study(tmp_path, "fedavg", rounds=2, baselines='["local"]')
    out = tmp_path / "out"
    args = ["run", str(study), "--data", str(tmp_path), "--out", str(out), "--seed", "1"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    html = (out / "report.html").read_text()
    doc = json.loads((out / "results.json").read_text())
    local = sorted(m for m in doc["methods"] if m.startswith("local:"))
    assert local and all(f"<td>{m}</td><td>local-only</td>" in html for m in local)
    assert (out / "figures" / "cindex_by_method.pdf").exists()
    assert (out / "figures" / "cindex_by_site.png").exists()
    assert "PATIENT-" not in html
    times = {f"{t:.3f}" for t in cohort["time_days"] if not float(t).is_integer()}
    assert not [t for t in times if f">{t}<" in html]  # no survival time in any cell


def test_a_ledger_report_is_built_from_the_ledger_document(tmp_path: Path) -> None:
    """The researcher's report (``accord results``): the same sections from the figures
    read off the ledger; risk groups as their signed figures, with no released table."""
    from accord.studies import write_ledger_report

    document = minimal_document() | {
        "run": "run-1",
        "study": "hcc",
        "status": "finished",
        "submitted_by": "lab",
        "datasets": ["d1", "d2"],
        "ledger": {"size": 120},
        "risk_groups": {"fedavg": {"logrank_statistic": 4.2, "logrank_p": 0.04, "n_low": 30.0,
                                   "n_high": 31.0, "ledger": {"metric_seq": 99}}},
    }  # fmt: skip
    path = write_ledger_report(document, [], tmp_path, None)
    html = path.read_text()
    assert path == tmp_path / "report.html"
    assert "<h2>Results</h2>" in html and "<h2>Risk groups</h2>" in html
    assert "ledger entry 99" in html and "Numbers at risk" not in html
    assert sorted(p.name for p in (tmp_path / "figures").iterdir()) == [
        "cindex_by_method.pdf",
        "cindex_by_method.png",
    ]  # no local-only method: no per-site figure beside it

"""OUT/report.html for a run: site-level figures with the ledger entry behind each one.

Everything in it is a site-level aggregate already in results.json (C-indices with their
bootstrap intervals, counts of sites); the ledger section re-verifies the run's log and
states the result, so a reader knows whether the figures can be trusted.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from accord.ledger import open_source, verify_log
from accord.report import Report, bar_chart_with_ci, km_figure_from_curves
from accord.studies._federated_run import StudyRun
from accord.studies._outcome import MethodResult
from accord.studies._risk_groups import RiskGroups
from accord.survival import LogRankResult

__all__ = ["write_report"]


def _ci(result: MethodResult) -> tuple[float, float, float]:
    c = result.consortium_cindex if result.consortium_cindex is not None else float("nan")
    lo, hi = result.consortium_interval or (float("nan"), float("nan"))
    return c, lo, hi


def _method_table(report: Report, results: list[MethodResult]) -> None:
    main = [r for r in results if not r.method.startswith("local:")]
    rows, provenance = [], []
    for r in main:
        c, lo, hi = _ci(r)
        rows.append(
            [
                r.method,
                ", ".join(r.trained_on),
                f"{c:.3f}",
                f"{lo:.3f}–{hi:.3f}" if r.consortium_interval else "—",
                "—" if r.mean_site_cindex is None else f"{r.mean_site_cindex:.3f}",
            ]
        )
        seq = r.ledger.get("metric_seq")
        provenance.append(f"ledger entry {seq}" if seq is not None else None)
    report.table(
        ["method", "trained on", "consortium C", "95 % interval", "mean site C"],
        rows,
        provenance,
        caption="Consortium C-index from summed pair counts.",
    )
    table = np.array([_ci(r) for r in main], dtype=np.float64).reshape(-1, 3)
    report.figure(
        bar_chart_with_ci(
            [r.method for r in main],
            table[:, 0],
            table[:, 1],
            table[:, 2],
            reference_lines={"chance": 0.5},
            value_range=(0.3, 1.0),
        ),
        "Consortium C-index with 95 % site-stratified bootstrap intervals.",
        provenance=None,
    )


def _fmt(value: float | int | None) -> str:
    return "—" if value is None else f"{float(value):.3f}"


def _site_table(report: Report, result: MethodResult) -> None:
    rows, provenance = [], []
    for site, m in sorted(result.per_site.items()):
        c, lo, hi = m.get("harrell_c"), m.get("harrell_c_lower"), m.get("harrell_c_upper")
        rows.append(
            [
                site,
                _fmt(c),
                f"{_fmt(lo)}–{_fmt(hi)}",
                _fmt(m.get("uno_c")),
                _fmt(m.get("td_auc")),
                _fmt(m.get("ibs")),
            ]
        )
        seq = m.get("ledger_seq")
        provenance.append(f"ledger entry {seq} (signed by {site})" if seq is not None else None)
    report.table(
        ["site", "Harrell C", "95 % interval", "Uno C", "td-AUC", "IBS"],
        rows,
        provenance,
        caption=f"{result.method}: each site's figures on its own test rows.",
    )


def _risk_group_section(report: Report, groups: RiskGroups, min_cell_count: int) -> None:
    report.section(
        "Risk groups",
        f"{groups.method}: held-out patients split at the consortium's median training risk. "
        "Curves are drawn from numbers at risk and events summed over sites on a 30-day grid "
        "(securely aggregated: sites answer these tasks only masked); no survival time "
        "left a site. Intervals are merged until each holds no event or at least "
        f"{min_cell_count}, and a curve stops where fewer remain at risk.",
    )
    seq = groups.ledger.get("metric_seq")
    test = LogRankResult(groups.logrank_statistic, groups.logrank_p, len(groups.curves) - 1)
    figure = km_figure_from_curves(
        [(c.label, c.grid_days, c.at_risk, c.events) for c in groups.curves],
        test,
        f"Survival by predicted risk ({groups.method})",
        min_at_risk=min_cell_count,
    )
    report.figure(
        figure.svg, figure.caption, provenance=f"ledger entry {seq}" if seq is not None else None
    )


def _exclusion_section(report: Report, results: list[MethodResult], setup: dict[str, str]) -> None:
    """Every site left out of a step, where and why (the reasons are signed on the ledger:
    the site's task entries, the hub's aggregation and metric entries)."""
    rows = [[site, "set-up", reason] for site, reason in sorted(setup.items())]
    for result in results:
        for site, where in sorted(result.excluded.items()):
            for place, reason in where.items():
                rows.append([site, f"{result.method}, {place}", reason])
    if not rows:
        return
    report.section(
        "Sites left out",
        "Each site that failed, refused or dropped out of a step, and why; the figures "
        "above are computed without it there.",
    )
    report.table(["site", "where", "why"], rows)


def _exported_section(report: Report, run: StudyRun) -> None:
    report.section(
        "What the model looks at",
        "Each site's highest-risk held-out patient: tile scores over the slide (red: tiles "
        "that raise the predicted risk) and the slide's top- and bottom-scoring tiles. Tile "
        "images are patient data: a site releases them only when its policy allows it "
        "(allow-tile-export), and the release is a signed ledger entry. Everything else "
        "stays in each site's own interpretability folder.",
    )
    for site, images in sorted(run.exported.items()):
        for image in images:
            what = "heatmap" if image.name.endswith("heatmap") else "top and bottom tiles"
            seq = image.ledger_seq
            report.figure(
                image.path.read_bytes(),
                f"{site}, {image.name.split('.')[0].replace('_', ' ')}: {what}.",
                provenance=f"ledger entry {seq} (signed by {site})" if seq is not None else None,
            )


def _ledger_section(report: Report, ledger: Path) -> None:
    report.section("Audit", "Every operation of this run is signed into the consortium ledger.")
    source = open_source(ledger)
    try:
        verdict = verify_log(
            source.entries(),
            source.checkpoints,
            source.cosignatures,
            read_node=source.read_node,
        )
    finally:
        source.close()
    report.status(verdict.ok, f"{verdict.summary()}; {verdict.tail()}")
    anchor = ledger.parent / "anchor.json"
    report.paragraph(
        f"Check it yourself: accord ledger verify {ledger} --anchor {anchor} --require-cosigned "
        "(compare anchor.json with each member's copy first)"
    )


def write_report(
    run: StudyRun,
    results: list[MethodResult],
    document: dict[str, Any],
    out: Path,
    oracle: MethodResult | None = None,
) -> Path:
    """Build and atomically write ``out/report.html``; ``oracle``: the simulation's C of
    the true risk, shown beside the models."""
    report = Report(run.study.study.name, subtitle=run.study.study.description)
    report.summary(
        {
            "sites": len(run.view.members),
            "config hash": str(document["config_hash"])[:16],
            "seed": run.seed,
            "secure aggregation": run.study.privacy.secure_aggregation,
            "ledger entries": document.get("ledger", {}).get("size", "—"),
        }
    )
    report.section("Results", "Harrell's C-index on each site's held-out patients.")
    _method_table(report, results + ([oracle] if oracle else []))
    if oracle is not None:
        report.paragraph(
            "oracle: the C-index of the true risk the synthetic consortium was generated "
            "with (truth.csv), on the same patients and pairs; no model can expect to beat it."
        )
    if run.risk_groups is not None:
        _risk_group_section(report, run.risk_groups, run.study.preprocessing.min_cell_count)
    for note in run.notes:
        report.paragraph(f"Not released: {note}.")
    for result in results:
        if not result.method.startswith("local:") and result.per_site:
            _site_table(report, result)
    _exclusion_section(report, results, run.excluded)
    if run.exported:
        _exported_section(report, run)
    if run.audit is not None:
        _ledger_section(report, run.audit.path)
    return report.write(out / "report.html")


def write_ledger_report(
    document: dict[str, Any], results: list[MethodResult], out: Path, ledger: Path | None
) -> Path:
    """``out/report.html`` for a submitted run, from the figures :func:`ledger_results` read
    off the verified ledger (``ledger``: the replica they were read from)."""
    report = Report(str(document["study"]), subtitle=f"run {document['run']}")
    report.summary(
        {
            "status": document["status"],
            "submitted by": document["submitted_by"],
            "datasets": len(document["datasets"]),
            "config hash": str(document.get("config_hash") or "—")[:16],
            "seed": document["seed"],
            "ledger entries": document["ledger"]["size"],
        }
    )
    if document.get("reason"):
        report.paragraph(f"The hub ended the run: {document['reason']}.")
    if results:
        report.section(
            "Results",
            "Harrell's C-index on each site's held-out patients, as signed on the ledger "
            "(hub-signed consortium figures; each site's own figures signed by that site).",
        )
        _method_table(report, results)
        for result in results:
            if result.per_site:
                _site_table(report, result)
        _exclusion_section(report, results, {})
    if ledger is not None:
        _ledger_section(report, ledger)
    return report.write(out / "report.html")

"""OUT/report.html for a run, and each of its figures as OUT/figures/NAME.pdf and .png.

The report is built from the results document (results.json's dict) alone, plus the
run's folder (for the tile images sites released) and its ledger (re-verified, so a reader
knows whether the figures can be trusted): :func:`build_report`. Everything in it is a
site-level or consortium-level aggregate already in results.json, except tile images that
a site's policy released, which are patient data and are said to be.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from accord.ledger import open_source, verify_log
from accord.report import Report, colour_scale_figure, km_figure_from_curves
from accord.studies._federated_run import StudyRun
from accord.studies._outcome import MethodResult
from accord.studies._report_methods import (
    comparisons_section,
    fitted_model_section,
    results_section,
    site_sections,
)
from accord.survival import LogRankResult

__all__ = ["build_report", "write_ledger_report", "write_report"]

Doc = Mapping[str, Any]

_SIZE_LABELS = {
    "n_train": "training patients",
    "n_test": "held-out patients",
    "n_events": "events",
    "median_follow_up_days": "median follow-up (days)",
}


def _size_text(value: object, min_cell_count: int) -> object:
    """A released size: ``None`` was summed securely (not released), -1 was suppressed."""
    if value is None:
        return "not released"
    if value == -1:
        return f"<{min_cell_count} (suppressed)"
    if isinstance(value, float) and not value.is_integer():
        return f"{value:,.1f}"
    return value


def _flat(prefix: str, value: object) -> list[tuple[str, object]]:
    """Nested feature summaries as ``features.age.mean``-style columns."""
    if isinstance(value, Mapping):
        return [kv for k, v in value.items() for kv in _flat(f"{prefix}.{k}", v)]
    return [(prefix, value)]


def _patients(sizes: Mapping[str, Any]) -> object:
    train, test = sizes.get("n_train"), sizes.get("n_test")
    if isinstance(train, int) and isinstance(test, int) and train >= 0 and test >= 0:
        return train + test
    return None


def cohort_section(report: Report, document: Doc, min_cell_count: int) -> None:
    """Each site's released sizes (and whatever summaries it released), and the totals."""
    sites = document.get("sites")
    if not isinstance(sites, Mapping) or not sites:
        return
    flat = {s: dict(kv for k, v in r.items() for kv in _flat(k, v)) for s, r in sites.items()}
    keys = [k for k in _SIZE_LABELS if any(k in r for r in flat.values())]
    keys += sorted({k for r in flat.values() for k in r} - set(keys))
    headers = ["site", "patients", *(_SIZE_LABELS.get(k, k) for k in keys)]
    rows = [
        [site, _size_text(_patients(r), min_cell_count) if _patients(r) is not None else "—",
         *(_size_text(r.get(k), min_cell_count) for k in keys)]
        for site, r in sorted(flat.items())
    ]  # fmt: skip
    totals = document.get("consortium_sizes")
    if isinstance(totals, Mapping):
        rows.append(["consortium (sum)", _patients(totals),
                     *(_size_text(totals.get(k), min_cell_count) if k in totals else "—"
                       for k in keys)])  # fmt: skip
    report.section(
        "Cohort",
        "What each site released about its cohort: its sizes and any summaries, never a "
        "row. Under secure aggregation a site's sizes are summed with the others' and not "
        f"released ('not released'); a count below min-cell-count ({min_cell_count}) is "
        "suppressed.",
    )
    report.table(headers, rows, caption="Cohort per site, as each site released it.")
    _feature_table(report, document.get("preprocessing"))


def _feature_table(report: Report, preprocessing: object) -> None:
    """The consortium's feature summaries: the means and standard deviations the model's
    standardisation uses, from the sites' summed statistics (a categorical level's mean is
    its share of the training patients)."""
    if not isinstance(preprocessing, Mapping):
        return
    columns, means = preprocessing.get("columns", []), preprocessing.get("means", [])
    scales = preprocessing.get("scales", [])
    if not columns or len(columns) != len(means) or len(columns) != len(scales):
        return
    rows = [[str(c), m, s] for c, m, s in zip(columns, means, scales, strict=True)]
    report.table(
        ["feature", "mean (share for a level)", "SD"],
        rows,
        caption="Consortium feature summaries of the training patients, from the sites' "
        "summed statistics (the standardisation the models use).",
    )


def _risk_groups_section(report: Report, document: Doc, min_cell_count: int) -> None:
    groups = document.get("risk_groups")
    if not isinstance(groups, Mapping) or not groups:
        return
    if "curves" not in groups:  # a ledger report: the signed figures, no released table
        _signed_risk_groups(report, groups)
        return
    method = str(groups.get("method", ""))
    report.section(
        "Risk groups",
        f"{method}: held-out patients split at the consortium's median training risk. "
        "Curves are drawn from numbers at risk and events summed over sites on a 30-day grid "
        "(securely aggregated: sites answer these tasks only masked); no survival time "
        "left a site. Intervals are merged until each holds no event or at least "
        f"{min_cell_count}, and a curve stops where fewer remain at risk. Local-only models "
        "have no risk groups: each is scored only at its own site.",
    )
    curves = [(c["group"], c["grid_days"], c["at_risk"], c["events"]) for c in groups["curves"]]
    statistic, p = groups.get("logrank_statistic"), groups.get("logrank_p")
    test = None
    if isinstance(statistic, (int, float)) and isinstance(p, (int, float)):
        test = LogRankResult(float(statistic), float(p), max(len(curves) - 1, 1))
    figure = km_figure_from_curves(
        curves,
        test,
        f"Survival by predicted risk ({method})",
        name="risk_groups",
        min_at_risk=min_cell_count,
    )
    seq = groups.get("ledger", {}).get("metric_seq")
    report.figure(figure, provenance=f"ledger entry {seq}" if seq is not None else None)


def _signed_risk_groups(report: Report, groups: Mapping[str, Any]) -> None:
    report.section("Risk groups", "The log-rank test of each model's risk groups, as signed.")
    rows, sources = [], []
    for method, figures in sorted(groups.items()):
        rows.append([method, figures.get("logrank_statistic"), figures.get("logrank_p"),
                     figures.get("n_low"), figures.get("n_high")])  # fmt: skip
        seq = figures.get("ledger", {}).get("metric_seq")
        sources.append(f"ledger entry {seq}" if seq is not None else None)
    report.table(["method", "log-rank χ²", "p", "low-risk group", "high-risk group"], rows, sources)


def _notes_section(report: Report, document: Doc) -> None:
    notes = [str(n) for n in document.get("notes", [])]
    if not notes:
        return
    report.section("Notes", "What the run could not release or had to adjust, and why.")
    for note in notes:
        report.paragraph(f"{note}.")


def _exclusion_section(report: Report, document: Doc) -> None:
    """Every site left out of a step, where and why (the reasons are signed on the ledger:
    the site's task entries, the hub's aggregation and metric entries)."""
    setup = document.get("excluded_sites", {})
    rows = [[site, "set-up", reason] for site, reason in sorted(setup.items())]
    for method, m in sorted(document.get("methods", {}).items()):
        for site, where in sorted(m.get("excluded_sites", {}).items()):
            for place, reason in sorted(where.items()):
                rows.append([site, f"{method}, {place}", reason])
    if not rows:
        return
    report.section(
        "Sites left out",
        "Each site that failed, refused or dropped out of a step, and why; the figures "
        "above are computed without it there.",
    )
    report.table(["site", "where", "why"], rows)


def _localisation_text(value: object) -> str:
    if isinstance(value, Mapping):
        return "; ".join(f"{k}: {_localisation_text(v)}" for k, v in sorted(value.items()))
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)


def _exported_section(report: Report, document: Doc, out: Path) -> None:
    exported = document.get("exported")
    if not isinstance(exported, Mapping) or not exported:
        return
    report.section(
        "What the model looks at",
        "Each site's highest-risk held-out patient: tile scores over the slide and the "
        "slide's top- and bottom-scoring tiles. These images are patient data: a site "
        "releases them only when its policy allows it (allow-tile-export), and the release "
        "is a signed ledger entry. Everything else stays in each site's own "
        "interpretability folder.",
    )
    report.figure(
        colour_scale_figure(
            "tile's percentile rank within its slide (higher: raises the predicted risk)",
            "0: lowest on the slide",
            "1: highest on the slide",
        ),
        "The one colour scale of every heatmap below: viridis over each tile's percentile "
        "rank within its slide, from dark purple (the slide's lowest-scoring tile) through "
        "blue and green to yellow (its highest-scoring tile, the one that raises the "
        "predicted risk most). Every heatmap uses this scale, so yellow marks a slide's top "
        "tiles on every site alike; it ranks tiles within a slide and says nothing of how "
        "one slide's risk compares with another's. Untinted areas had no tile.",
    )
    localisation = document.get("localisation")
    if localisation is not None:
        report.note(f"Measured localisation quality: {_localisation_text(localisation)}.")
    else:
        report.note(
            "Localisation quality was not measured for this run (it needs annotated "
            "regions, e.g. the synthetic consortium's planted masks): read the heatmaps as "
            "what the model weighs, not as verified tumour maps."
        )
    for site, images in sorted(exported.items()):
        for image in images:
            name = str(image["image"])
            what = "heatmap" if name.endswith("heatmap") else "top and bottom tiles"
            seq = image.get("ledger_seq")
            quality = image.get("localisation_auc")
            extra = f" Localisation AUC {quality:.3f}." if isinstance(quality, float) else ""
            report.figure(
                (out / str(image["file"])).read_bytes(),
                f"{site}, {name.split('.')[0].replace('_', ' ')}: {what} (patient data, "
                f"released under {site}'s policy).{extra}",
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


def _footer(document: Doc) -> list[str] | None:
    if document.get("exported"):
        return [
            "Every table and figure is a site-level or consortium-level aggregate, except the "
            "tile images under 'What the model looks at': those ARE patient data (a slide's "
            "tissue), released by the sites whose policies allow it, each release a signed "
            "ledger entry. The report holds no patient identifier.",
        ]
    return None  # the report's own: aggregates only


def build_report(
    document: Doc,
    out: Path,
    *,
    title: str,
    subtitle: str = "",
    facts: Sequence[tuple[str, object]] = (),
    ledger: Path | None = None,
    min_cell_count: int = 5,
) -> Report:
    """The report of a results document: every section whose data the document holds.

    Args:
        document: results.json's dict (:func:`results_document` or :func:`ledger_results`).
        out: the run's folder, where the released tile images are (``exported[*].file``).
        facts: the summary box's key facts.
        ledger: the run's ledger file, re-verified in the "Audit" section.
        min_cell_count: the study's threshold, for the suppression notes.
    """
    report = Report(title, subtitle=subtitle, footer=_footer(document))
    report.summary(list(facts))
    if document.get("reason"):
        report.paragraph(f"The hub ended the run: {document['reason']}.")
    results_section(
        report,
        document,
        "Harrell's C-index on each site's held-out patients; each figure cites the ledger "
        "entry that signed it.",
    )
    comparisons_section(report, document)
    fitted_model_section(report, document)
    cohort_section(report, document, min_cell_count)
    _risk_groups_section(report, document, min_cell_count)
    site_sections(report, document)
    _notes_section(report, document)
    _exclusion_section(report, document)
    _exported_section(report, document, out)
    if ledger is not None:
        _ledger_section(report, ledger)
    return report


def _write(report: Report, out: Path) -> Path:
    report.write_figures(out / "figures")
    return report.write(out / "report.html")


def write_report(
    run: StudyRun,
    results: list[MethodResult],
    document: dict[str, Any],
    out: Path,
    oracle: MethodResult | None = None,
) -> Path:
    """Build and atomically write ``out/report.html`` and ``out/figures/``.

    Every figure comes from ``document`` (``results`` and ``oracle`` are in it already:
    the methods and ``oracle``); ``run`` gives the study's title, threshold and ledger.
    """
    del results, oracle  # in the document; kept so that every caller passes the same
    study = run.study
    facts = [
        ("sites", len(run.view.members)),
        ("config hash", str(document["config_hash"])[:16]),
        ("seed", run.seed),
        ("secure aggregation", study.privacy.secure_aggregation),
        ("ledger entries", document.get("ledger", {}).get("size", "—")),
    ]
    report = build_report(
        document,
        out,
        title=study.study.name,
        subtitle=study.study.description,
        facts=facts,
        ledger=run.audit.path if run.audit is not None else None,
        min_cell_count=study.preprocessing.min_cell_count,
    )
    return _write(report, out)


def write_ledger_report(
    document: dict[str, Any], results: list[MethodResult], out: Path, ledger: Path | None
) -> Path:
    """``out/report.html`` (and ``out/figures/``) for a submitted run, from the figures
    :func:`ledger_results` read off the verified ledger (``ledger``: the replica they were
    read from; ``results`` are in ``document``)."""
    del results
    facts = [
        ("status", document["status"]),
        ("submitted by", document["submitted_by"]),
        ("datasets", len(document["datasets"])),
        ("config hash", str(document.get("config_hash") or "—")[:16]),
        ("seed", document["seed"]),
        ("ledger entries", document["ledger"]["size"]),
    ]
    report = build_report(
        document, out, title=str(document["study"]), subtitle=f"run {document['run']}",
        facts=facts, ledger=ledger,
    )  # fmt: skip
    return _write(report, out)

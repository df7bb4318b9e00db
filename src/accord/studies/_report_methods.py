"""The report's sections on methods, read from a results document (results.json's dict):
the C-index of every method (local-only included), the paired comparisons, the fitted Cox
models and each site's own figures.

Every function takes the document's plain JSON values, so a field another part of the run
adds (``coefficients``, ``convergence``, ``comparisons``) shows up here without the runner
passing anything new.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from accord.report import Report, forest_figure, interval_figure
from accord.studies._report_text import INTERVALS, METRICS, ROLES, role

__all__ = [
    "comparisons_section",
    "convergence_text",
    "fitted_model_section",
    "methods_of",
    "results_section",
    "site_sections",
]

Doc = Mapping[str, Any]


def _num(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def _fmt(value: object, decimals: int = 3) -> str:
    number = _num(value)
    return "—" if number is None else f"{number:.{decimals}f}"


def _interval(pair: object, decimals: int = 3) -> str:
    if not isinstance(pair, (list, tuple)) or len(pair) != 2:
        return "—"
    lo, hi = (_num(v) for v in pair)
    return "—" if lo is None or hi is None else f"{lo:.{decimals}f}–{hi:.{decimals}f}"


def _source(ledger: object, site: str | None = None) -> str | None:
    seq = ledger.get("metric_seq") if isinstance(ledger, Mapping) else ledger
    if seq is None:
        return None
    return f"ledger entry {seq}" + (f" (signed by {site})" if site else "")


def methods_of(document: Doc) -> dict[str, Doc]:
    """Every method of the document by name, the oracle (a reference) last."""
    methods = {str(k): v for k, v in document.get("methods", {}).items()}
    if isinstance(document.get("oracle"), Mapping):
        methods["oracle"] = document["oracle"]
    return methods


def _order(name: str) -> tuple[int, str]:
    ranks = {"study model": 0, "clinical-only": 1, "local-only": 2, "pooled": 3, "oracle": 4}
    return ranks[role(name)], name


def convergence_text(convergence: object) -> str:
    """One cell for ``methods.NAME.convergence``: converged or not, after how many
    iterations, and the last step and gradient norm where they apply."""
    if not isinstance(convergence, Mapping):
        return "—"
    iterations = convergence.get("iterations")
    done = convergence.get("converged")
    after = f" after {iterations} iterations" if iterations is not None else ""
    if done is True:
        text = f"converged{after}"
    elif done is False:
        text = f"not converged{after}"
    else:
        text = f"not applicable{after.replace(' iterations', ' rounds')}"
    details = [str(convergence["criterion"])] if convergence.get("criterion") else []
    for key, label in (("last_step", "last step"), ("gradient_norm", "gradient norm")):
        number = _num(convergence.get(key))
        if number is not None:
            details.append(f"{label} {number:.1e}")
    return text + (f" ({'; '.join(details)})" if details else "")


def results_section(report: Report, document: Doc, heading: str) -> None:
    """Every method's consortium C with its interval, in a table and a figure."""
    methods = methods_of(document)
    if not methods:
        return
    report.section("Results", heading)
    report.glossary([(k, METRICS[k]) for k in ("Harrell's C", "Consortium C", "Mean site C")])
    report.glossary([(k, INTERVALS[k]) for k in ("95 % interval of a consortium C",)])
    names = sorted(methods, key=_order)
    with_convergence = any("convergence" in methods[n] for n in names)
    headers = ["method", "role", "trained on", "consortium C", "95 % interval", "mean site C",
               "rounds"] + (["convergence"] if with_convergence else []) + ["note"]  # fmt: skip
    rows, sources = [], []
    for name in names:
        m = methods[name]
        row = [
            name,
            role(name),
            ", ".join(m.get("trained_on", [])) or "—",
            _fmt(m.get("consortium_cindex")),
            _interval(m.get("consortium_cindex_interval")),
            _fmt(m.get("mean_site_cindex")),
            m.get("rounds"),
        ]
        if with_convergence:
            row.append(convergence_text(m.get("convergence")))
        row.append(f"failed: {m['error']}" if m.get("error") else "")
        rows.append(row)
        sources.append(_source(m.get("ledger")))
    report.table(headers, rows, sources, caption="Consortium C-index of every method.")
    present = [r for r in ROLES if any(role(n) == r for n in names)]
    report.glossary([(r, ROLES[r]) for r in present])
    if any(role(n) == "local-only" for n in names):
        report.note(
            "Local-only rows: each site's own model, scored at that site only (its C is the "
            "site's Harrell C on its own held-out patients, not a consortium figure); the "
            "comparison is what each site could reach without the consortium."
        )
    estimates = [(n, methods[n].get("consortium_cindex"), *(_pair(methods[n]))) for n in names]
    report.figure(
        interval_figure(
            estimates,
            "Consortium C-index by method",
            "Consortium C-index of each method with its 95 % interval (site-stratified "
            "bootstrap of the held-out patients); local-only rows are each site's own model "
            "scored at home. The dashed line is chance (0.5).",
            name="cindex_by_method",
            groups=[role(n) for n in names],
            reference_lines={"chance": 0.5},
        )
    )


def _pair(method: Doc) -> tuple[float | None, float | None]:
    pair = method.get("consortium_cindex_interval")
    if isinstance(pair, (list, tuple)) and len(pair) == 2:
        return _num(pair[0]), _num(pair[1])
    return None, None


def comparisons_section(report: Report, document: Doc) -> None:
    """``comparisons``: paired differences in consortium C with their intervals."""
    comparisons = [c for c in document.get("comparisons", []) if isinstance(c, Mapping)]
    if not comparisons:
        return
    report.section(
        "Comparisons",
        "The study's model against its baselines: the difference in consortium C on the "
        "same held-out patients.",
    )
    report.glossary([("95 % interval of a difference", INTERVALS["95 % interval of a difference"])])
    rows = []
    for c in comparisons:
        lo, hi = _num(c.get("low")), _num(c.get("high"))
        verdict = "—"
        if lo is not None and hi is not None:
            verdict = "interval excludes 0" if lo > 0 or hi < 0 else "interval includes 0"
        diff = _num(c.get("difference"))
        rows.append([
            str(c.get("method", "—")), str(c.get("against", "—")),
            "—" if diff is None else f"{diff:+.3f}",
            "—" if lo is None or hi is None else f"{lo:+.3f} to {hi:+.3f}",
            c.get("resamples"), verdict,
        ])  # fmt: skip
    report.table(
        ["method", "against", "ΔC", "95 % interval", "resamples", "reading"],
        rows,
        caption="Paired differences in consortium C (method minus the one it is against).",
    )
    estimates = [
        (f"{c.get('method')} − {c.get('against')}", c.get("difference"), c.get("low"),
         c.get("high"))
        for c in comparisons
    ]  # fmt: skip
    report.figure(
        interval_figure(
            estimates,
            "Differences in consortium C",
            "Paired difference in consortium C with its 95 % paired-bootstrap interval; "
            "right of the dashed line (0) the study's model ranks patients better.",
            name="cindex_differences",
            value_label="Difference in consortium C",
            reference_lines={"no difference": 0.0},
            value_range=None,
        )
    )


def fitted_model_section(report: Report, document: Doc) -> None:
    """``methods.NAME.coefficients``: a table and a forest plot per Cox model."""
    methods = methods_of(document)
    fitted = {n: m for n, m in methods.items() if m.get("coefficients")}
    notes = {
        n: str(m["coefficients_note"]) for n, m in methods.items() if m.get("coefficients_note")
    }
    if not fitted and not notes:
        return
    report.section(
        "Fitted models",
        "Hazard ratios of the Cox models, per unit of each feature on its original scale "
        "(per level against the reference level for a categorical feature).",
    )
    report.glossary(
        [("95 % interval of a hazard ratio", INTERVALS["95 % interval of a hazard ratio"])]
    )
    for name, method in sorted(fitted.items(), key=lambda item: _order(item[0])):
        rows = [
            [str(c.get("feature")), _fmt(c.get("coef"), 4), _fmt(c.get("se"), 4),
             _fmt(c.get("hr")), _interval([c.get("hr_low"), c.get("hr_high")]), _p(c.get("p"))]
            for c in method["coefficients"]
        ]  # fmt: skip
        report.table(
            ["feature", "coef", "SE", "HR", "95 % interval", "p"],
            rows,
            caption=f"{name}: coefficients (log hazard ratio per unit) and hazard ratios.",
        )
        forest = forest_figure(
            method["coefficients"], f"Hazard ratios: {name}", name=f"forest_{_stem(name)}"
        )
        report.figure(forest)
        if method.get("coefficients_standardised"):
            report.paragraph(
                f"{name}: results.json also lists the coefficients per standard deviation of "
                "each feature (methods.NAME.coefficients_standardised), as the model was fitted."
            )
    for name, note in sorted(notes.items()):
        report.paragraph(f"{name}: no hazard ratios ({note}).")


def _p(value: object) -> str:
    p = _num(value)
    if p is None:
        return "—"
    return "<0.001" if p < 0.001 else f"{p:.3f}"


def _stem(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in name)


_SITE_METRICS = (("harrell_c", "Harrell C"), ("uno_c", "Uno C"), ("td_auc", "td-AUC"),
                 ("ibs", "IBS"))  # fmt: skip


def site_sections(report: Report, document: Doc) -> None:
    """Each method's figures at each site, beside that site's local-only model."""
    methods = methods_of(document)
    local = {n.split(":", 1)[1]: m for n, m in methods.items() if role(n) == "local-only"}
    shown = [n for n in sorted(methods, key=_order) if role(n) != "local-only"]
    shown = [n for n in shown if methods[n].get("per_site")]
    if not shown and not local:
        return
    report.section("Each site's figures", "Each site's metrics on its own held-out patients.")
    report.glossary([(k, METRICS[k]) for k in ("Uno's C", "td-AUC", "IBS")])
    report.glossary([("95 % interval of a site's C", INTERVALS["95 % interval of a site's C"])])
    for name in shown:
        _site_table(report, name, methods[name]["per_site"], local)
    if local:
        own = {site: m.get("per_site", {}).get(site, {}) for site, m in local.items()}
        _site_table(report, "local-only", own, {})
        _site_figure(report, methods, shown[0] if shown else None, local)


def _site_table(
    report: Report, name: str, per_site: Mapping[str, Any], local: Mapping[str, Doc]
) -> None:
    headers = ["site", "Harrell C", "95 % interval", *(h for _, h in _SITE_METRICS[1:])]
    if local:
        headers.append("local-only Harrell C")
    rows, sources = [], []
    for site, m in sorted(per_site.items()):
        m = m if isinstance(m, Mapping) else {}
        row = [site, _fmt(m.get("harrell_c")),
               _interval([m.get("harrell_c_lower"), m.get("harrell_c_upper")]),
               *(_fmt(m.get(k)) for k, _ in _SITE_METRICS[1:])]  # fmt: skip
        if local:
            own = local.get(site, {}).get("per_site", {}).get(site, {})
            row.append(_fmt(own.get("harrell_c")) if isinstance(own, Mapping) else "—")
        rows.append(row)
        sources.append(_source(m.get("ledger_seq"), site))
    caption = (
        "local-only: each site's own model, scored on its own held-out patients only."
        if name == "local-only"
        else f"{name}: each site's figures on its own held-out patients"
        + ("; the last column is that site's local-only model, scored at home." if local else ".")
    )
    report.table(headers, rows, sources, caption=caption)


def _site_figure(
    report: Report, methods: Mapping[str, Doc], study: str | None, local: Mapping[str, Doc]
) -> None:
    """Harrell C per site: the study's model beside each site's own model."""
    estimates, groups = [], []
    sites = sorted(set(local) | set(methods[study]["per_site"] if study else ()))
    for site in sites:
        rows = [(study, methods[study]["per_site"].get(site, {}))] if study else []
        rows.append(("local-only", local.get(site, {}).get("per_site", {}).get(site, {})))
        for label, m in rows:
            m = m if isinstance(m, Mapping) else {}
            estimates.append((f"{site} · {label}", m.get("harrell_c"), m.get("harrell_c_lower"),
                              m.get("harrell_c_upper")))  # fmt: skip
            groups.append("local-only" if label == "local-only" else f"{label} (study model)")
    report.figure(
        interval_figure(
            estimates,
            "Harrell C per site",
            "Each site's Harrell C on its own held-out patients with its 95 % bootstrap "
            "interval: the study's model beside the site's local-only model (trained and "
            "scored at that site alone).",
            name="cindex_by_site",
            value_label="Harrell C",
            groups=groups,
            reference_lines={"chance": 0.5},
        )
    )

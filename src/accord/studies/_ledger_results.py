"""A submitted study's results, read from the ledger alone.

A researcher (``accord results --hub URL PLAN``) does not take the hub's word for its
figures: after pulling and verifying the hub's log against the consortium's anchor, it
rebuilds ``results.json`` from the entries the figures were signed in — the hub's
``metric`` entries of the run's plans, each site's ``task.completed`` entry they cite (a
site's own C-index and counts, signed by the site) — and the run's ``study.submitted`` and
``study.finished`` entries. Metric values carry the ledger's six decimals.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from accord.core import ConfigError, StudySpec
from accord.fl.governance import STUDY_FINISHED, STUDY_SUBMITTED
from accord.ledger import Entry
from accord.studies._outcome import MethodResult

__all__ = ["LedgerFigures", "ledger_results", "run_ids"]

LedgerFigures = tuple[dict[str, Any], list[MethodResult]]


def _number(value: Any) -> float | None:
    if value is None:
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def run_ids(entries: Sequence[Entry]) -> list[str]:
    """Every submitted run on the log, in submission order."""
    return [str(e.payload.get("run")) for e in entries if e.kind == STUDY_SUBMITTED]


def _find(entries: Sequence[Entry], kind: str, run: str) -> Entry | None:
    return next((e for e in entries if e.kind == kind and e.payload.get("run") == run), None)


def _site_figures(entries: Mapping[int, Entry], metric: Entry) -> dict[str, dict[str, Any]]:
    per_site: dict[str, dict[str, Any]] = {}
    for seq in metric.payload.get("derived_from", []):
        cited = entries.get(seq) if isinstance(seq, int) else None
        if cited is None or cited.kind != "task.completed":
            continue
        if cited.org != cited.payload.get("site"):
            continue  # a site's figures count only when that site signed them
        figures: dict[str, Any] = {
            k: _number(v) for k, v in (cited.payload.get("metrics") or {}).items()
        }
        figures.update(cited.payload.get("counts") or {})
        figures["ledger_seq"] = cited.seq
        per_site[cited.org] = figures
    return per_site


def _trained_on(plan: Entry, metric: Entry | None) -> tuple[str, ...]:
    """The sites a method's model was trained on: a local baseline's one site."""
    method = str(metric.payload.get("method")) if metric is not None else ""
    if method.startswith("local:"):
        return (method.split(":", 1)[1],)
    return tuple(plan.payload.get("trained_on", ()))


def _method(
    plan: Entry, metric: Entry | None, by_seq: Mapping[int, Entry]
) -> tuple[dict[str, Any], MethodResult]:
    payload = plan.payload
    metrics = metric.payload.get("metrics", {}) if metric is not None else {}
    lower = _number(metrics.get("consortium_cindex_lower"))
    upper = _number(metrics.get("consortium_cindex_upper"))
    interval = (lower, upper) if lower is not None and upper is not None else None
    per_site = _site_figures(by_seq, metric) if metric is not None else {}
    excluded = dict(metric.payload.get("excluded", {})) if metric is not None else {}
    ledger = {"plan_seq": plan.seq}
    if metric is not None:
        ledger["metric_seq"] = metric.seq
    result = MethodResult(
        method=str((metric or plan).payload.get("method")),
        per_site=per_site,
        consortium_cindex=_number(metrics.get("consortium_cindex")),
        consortium_interval=interval,
        mean_site_cindex=_number(metrics.get("mean_site_cindex")),
        rounds=int(payload.get("rounds", 0)),
        trained_on=_trained_on(plan, metric),
        ledger=ledger,
        excluded={
            s: {str(k): str(v) for k, v in r.items()}
            if isinstance(r, dict)
            else {"evaluation": str(r)}
            for s, r in excluded.items()
        },
    )
    doc = {
        "plan": payload.get("plan"),
        "trained_on": list(result.trained_on),
        "rounds": result.rounds,
        "secure_aggregation": bool(payload.get("secure_aggregation")),
        "consortium_cindex": result.consortium_cindex,
        "consortium_cindex_interval": list(interval) if interval else None,
        "mean_site_cindex": result.mean_site_cindex,
        "per_site": per_site,
        "excluded_sites": result.excluded,
        "ledger": ledger,
    }
    return doc, result


def _comparison(method: str, metric: Entry) -> dict[str, Any]:
    """A ``comparisons`` row of results.json from its signed ``comparison:M:A`` entry."""
    _, model, against = method.split(":", 2)
    figures = {k: _number(v) for k, v in metric.payload.get("metrics", {}).items()}
    resamples = figures.pop("resamples", None)
    return {
        "method": model,
        "against": against,
        **figures,
        "resamples": round(resamples) if resamples is not None else None,
        "ledger": {"metric_seq": metric.seq},
    }


def ledger_results(entries: Sequence[Entry], run: str, log_id: str = "") -> LedgerFigures:
    """The results document of ``run`` and its methods' results, from verified entries."""
    submitted = _find(entries, STUDY_SUBMITTED, run)
    if submitted is None:
        raise ConfigError(f"PLAN {run}: no study of that id was submitted on this ledger")
    registered = {e.payload.get("function"): e for e in entries if e.kind == "function.registered"}
    main = registered.get(submitted.payload.get("functions", {}).get("study"))
    study = StudySpec.model_validate(main.payload["archive"]["config"]) if main else None
    hub = next((e.org for e in entries if e.kind == "genesis"), "")
    plans = [
        e
        for e in entries
        if e.kind == "plan.submitted" and e.org == hub and e.payload.get("submission") == run
    ]
    by_seq = {e.seq: e for e in entries}
    metrics: dict[Any, list[Entry]] = {}
    for e in entries:
        if e.kind == "metric" and e.org == hub:
            metrics.setdefault(e.payload.get("plan"), []).append(e)
    methods: dict[str, Any] = {}
    results: list[MethodResult] = []
    risk: dict[str, Any] = {}
    comparisons: list[dict[str, Any]] = []
    for plan in plans:
        if plan.payload.get("method") in ("preprocessing", "export_tiles"):
            continue
        signed: list[Entry | None] = [*metrics.get(plan.payload.get("plan"), [])]
        for metric in signed or [None]:  # a plan without figures is listed without them
            method = str((metric or plan).payload.get("method"))
            if method.startswith("risk_groups:") and metric is not None:
                figures = {k: _number(v) for k, v in metric.payload.get("metrics", {}).items()}
                ledger = {"plan_seq": plan.seq, "metric_seq": metric.seq}
                risk[method.split(":", 1)[1]] = {**figures, "ledger": ledger}
                continue
            if method.startswith("comparison:") and metric is not None:
                comparisons.append(_comparison(method, metric))
                continue
            doc, result = _method(plan, metric, by_seq)
            methods[method] = doc
            results.append(result)
    finished = _find(entries, STUDY_FINISHED, run)
    document: dict[str, Any] = {
        "run": run,
        "study": str(submitted.payload.get("study")),
        "submitted_by": submitted.org,
        "config_hash": study.config_hash() if study else None,
        "seed": submitted.payload.get("seed"),
        "datasets": list(submitted.payload.get("datasets", [])),
        "status": finished.payload.get("status") if finished else "running",
        "ledger": {
            "log_id": log_id,
            "size": len(entries),
            "submission_seq": submitted.seq,
            **({"finished_seq": finished.seq} if finished else {}),
        },
        "methods": methods,
        **({"risk_groups": risk} if risk else {}),
        **({"comparisons": comparisons} if comparisons else {}),
        "source": "ledger: hub-signed metric entries and the site-signed entries they cite",
    }
    if finished is not None and finished.payload.get("reason"):
        document["reason"] = finished.payload["reason"]
    return document, results

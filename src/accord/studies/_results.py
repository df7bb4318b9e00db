"""results.json: every figure of a run, with the study's config hash and seed."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import accord
from accord.studies._federated_run import StudyRun
from accord.studies._outcome import MethodResult

__all__ = ["results_document"]


def _method(result: MethodResult) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "trained_on": list(result.trained_on),
        "rounds": result.rounds,
        "consortium_cindex": result.consortium_cindex,
        "consortium_cindex_interval": list(result.consortium_interval)
        if result.consortium_interval
        else None,
        "mean_site_cindex": result.mean_site_cindex,
        "per_site": result.per_site,
        "excluded_sites": result.excluded,  # site -> {"round R" | "evaluation": reason}
    }
    if result.convergence is not None:
        doc["convergence"] = result.convergence.to_dict()
    if result.coefficients:
        doc["coefficients"] = [c.to_dict() for c in result.coefficients]
        doc["coefficients_standardised"] = [c.to_dict() for c in result.coefficients_standardised]
    if result.coefficients_note:
        doc["coefficients_note"] = result.coefficients_note
    if result.error:
        doc["error"] = result.error
    if result.ledger:
        doc["ledger"] = result.ledger
    return doc


def _exported(run: StudyRun) -> dict[str, list[dict[str, Any]]]:
    return {
        site: [
            {"image": i.name, "file": f"exported/{site}/{i.path.name}", "ledger_seq": i.ledger_seq}
            for i in images
        ]
        for site, images in run.exported.items()
    }


def _ledger(run: StudyRun) -> dict[str, Any]:
    if run.audit is None:
        return {}
    store = run.audit.ledger.store
    return {
        "ledger": {
            "path": "ledger.sqlite",
            "log_id": run.audit.ledger.log_id,
            "size": store.size(),
            "root": store.root().hex(),
            "replicas": {name: f"sites/{name}/ledger.sqlite" for name in run.audit.datasets},
        }
    }


def results_document(
    run: StudyRun,
    results: list[MethodResult],
    *,
    oracle: MethodResult | None = None,
    notes: Sequence[str] = (),
    models: Mapping[str, Mapping[str, str]] | None = None,
) -> dict[str, Any]:
    """The JSON-able record of a run (site-level aggregates only); ``oracle`` and the
    cohort's loading ``notes`` come from a simulation; ``models`` are the model files
    :func:`~accord.studies._model_files.write_model_files` wrote (method -> ``card``,
    ``weights``, ``sha256``).

    With a ledger, each method cites the sequence numbers of its plan submission and of
    its consortium metric entry, and each site's figures the site-signed entry they come from.
    """
    return {
        **_ledger(run),
        "accord_version": accord.__version__,
        "study": run.study.study.name,
        "config_hash": run.study.config_hash(),
        "seed": run.seed,
        # sizes a site released in clear (null: summed securely; -1: suppressed), totals
        "sites": {name: r.to_dict() for name, r in run.view.reports.items()},
        "consortium_sizes": run.view.totals.to_dict() if run.view.totals else None,
        "notes": [*notes, *run.notes],
        "excluded_sites": dict(run.excluded),
        "preprocessing": run.preprocessor.to_dict(),
        "methods": {r.method: _method(r) for r in results},
        # paired differences in consortium C of the study's model against its baselines
        "comparisons": [c.to_dict() for c in run.comparisons],
        **({"risk_groups": run.risk_groups.to_dict()} if run.risk_groups else {}),
        **({"oracle": _method(oracle)} if oracle else {}),
        **({"exported": _exported(run)} if run.exported else {}),
        **({"models": {m: dict(f) for m, f in models.items()}} if models else {}),
    }

"""results.json: every figure of a run, with the study's config hash and seed."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import accord
from accord.studies.runner import MethodResult, StudyRun

__all__ = ["results_document", "write_json_atomic"]


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
    }
    if result.error:
        doc["error"] = result.error
    return doc


def results_document(run: StudyRun, results: list[MethodResult]) -> dict[str, Any]:
    """The JSON-able record of a run (site-level aggregates only)."""
    return {
        "accord_version": accord.__version__,
        "study": run.study.study.name,
        "config_hash": run.study.config_hash(),
        "seed": run.seed,
        "sites": {
            name: {"n_train": c.n_train, "n_test": c.n_test} for name, c in run.cohort.sites.items()
        },
        "notes": list(run.cohort.notes),
        "preprocessing": run.preprocessor.to_dict(),
        "methods": {r.method: _method(r) for r in results},
    }


def write_json_atomic(path: Path, document: dict[str, Any]) -> None:
    """Write-then-rename so a reader never sees a half-written file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(document, fh, indent=2, sort_keys=True, allow_nan=False)
            fh.write("\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise

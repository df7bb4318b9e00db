"""Paired comparisons: the study's model against its baselines, on the same patients.

Every evaluation at a site draws the same bootstrap resamples of its test rows
(:func:`~accord.fl.tasks._handlers.bootstrap_seed`), and the hub sums each resample's pair
counts over sites (securely where the plan says so). Column b of two models' summed
counts is thus the same site-stratified resample of the same held-out patients, and
C_model(b) − C_other(b) over b is a paired bootstrap of the difference in consortium C
(:func:`~accord.fl.difference_interval`). Against local-only, "C_other" is the C of the
sum over sites of each site's own model's counts on its own test rows.

A comparison is made only when both sums count the same sites; otherwise a note says why.
Its figures are signed by the hub (method ``comparison:METHOD:AGAINST``, on the study
model's plan), citing the metric entries of both sides.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import numpy as np

from accord.fl import difference_interval
from accord.studies._federated_run import StudyRun
from accord.studies._outcome import Comparison, MethodResult

__all__ = ["compare", "with_comparisons"]


def with_comparisons(run: StudyRun, results: Sequence[MethodResult]) -> list[Comparison]:
    """The first (the study's federated) result against the clinical-only baseline and
    against the local-only models, where each was computed; kept in ``run.comparisons``."""
    if not results or results[0].error:
        return run.comparisons
    model = results[0]
    local = [r for r in results if r.method.startswith("local:")]
    others: list[tuple[MethodResult | None, str, list[MethodResult]]] = [
        (next((r for r in results if r.method == "clinical_only"), None), "clinical_only", []),
        (run.local_only if local else None, "local", local),
    ]
    for other, against, cited in others:
        if other is None or other is model:
            continue
        found = compare(run, model, other, against, cited=cited or [other])
        if found is not None:
            run.comparisons.append(found)
    return run.comparisons


def compare(
    run: StudyRun,
    model: MethodResult,
    other: MethodResult,
    against: str,
    *,
    cited: Sequence[MethodResult] = (),
) -> Comparison | None:
    """The paired difference in consortium C of ``model`` minus ``other``, signed; None
    (and a note in ``run.notes``) when the two were not scored on the same sites' rows."""
    a, b = model.bootstrap_counts, other.bootstrap_counts
    pairs, other_pairs = model.pair_counts, other.pair_counts
    if pairs is None or other_pairs is None or a is None or b is None:
        return None
    if pairs[3] <= 0 or other_pairs[3] <= 0:  # no comparable pair: no C to compare
        return None
    label = f"comparison of {model.method} with {against}"
    if not model.scored_at or set(model.scored_at) != set(other.scored_at) or a.shape != b.shape:
        run.notes.append(
            f"{label}: not made, the two evaluations did not count the same sites' "
            "held-out patients (a site left one of them out)"
        )
        return None
    confidence = run.study.evaluation.confidence
    interval = difference_interval(a, b, confidence)
    low, high = interval if interval is not None else (None, None)
    resamples = int(np.count_nonzero((a[3] > 0) & (b[3] > 0)))
    difference = _cindex(pairs) - _cindex(other_pairs)
    totals = run.view.totals
    everyone = set(model.scored_at) == set(run.view.members)
    patients = totals.n_test if totals is not None and everyone else None
    found = Comparison(
        model.method, against, difference, low, high, resamples, confidence, patients
    )
    metrics = {"difference": difference, "low": low, "high": high, "resamples": resamples}
    derived = sorted(r.ledger["metric_seq"] for r in [model, *cited] if "metric_seq" in r.ledger)
    seq = run.sign_metrics(
        f"comparison:{model.method}:{against}", metrics, derived, plan_id=model.plan_id or None
    )
    return found if seq is None else replace(found, ledger={"metric_seq": seq})


def _cindex(pairs: np.ndarray) -> float:
    """C of pair counts (4,) in ``COUNT_KEYS`` order: ties in risk count one half."""
    return float((pairs[0] + 0.5 * pairs[2]) / pairs[3])

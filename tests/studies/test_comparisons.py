"""Paired differences in consortium C: the study's model against clinical-only and
against local-only, over the same bootstrap resamples of the same held-out patients."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from accord.core import Arrays, ModelSpec, StudySpec
from accord.fl import COUNT_KEYS, difference_interval
from accord.fl._evaluation import bootstrap_counts
from accord.fl.tasks._handlers import bootstrap_seed
from accord.ledger import Entry, open_source
from accord.models import build_model, set_arrays
from accord.studies import Simulation, clinical_variant, results_document
from accord.studies._comparisons import compare, with_comparisons
from accord.studies._ledger_results import _comparison

QuickStudy = Callable[..., StudySpec]  # the quick_hcc fixture (conftest)


def _boot(sim: Simulation, model: ModelSpec, params: Arrays, site: str) -> np.ndarray:
    """(4, B) bootstrap pair counts of ``params``' risk on ``site``'s test rows, computed
    here from the rows: what the site must have drawn."""
    test = sim.cohort.sites[site].subset(test=True)
    x = sim.run.preprocessor.transform(test.features)
    net = build_model(model, x.shape[1], seed=0)
    set_arrays(net, params)
    with torch.no_grad():
        risk = net(torch.as_tensor(x)).numpy()
    b = sim.run.study.evaluation.bootstrap
    return bootstrap_counts(test.time_days, test.event, risk, b, bootstrap_seed(0, site))


def _c(counts: np.ndarray) -> np.ndarray:
    return np.asarray((counts[0] + 0.5 * counts[2]) / counts[3])


def test_difference_interval_of_hand_made_counts() -> None:
    model = np.array([[6.0, 8.0, 9.0], [4.0, 2.0, 1.0], [0.0, 0.0, 0.0], [10.0, 10.0, 10.0]])
    other = np.array([[5.0, 5.0, 5.0], [5.0, 5.0, 5.0], [0.0, 0.0, 0.0], [10.0, 10.0, 10.0]])
    assert difference_interval(model, model, 0.95) == (0.0, 0.0)
    low, high = difference_interval(model, other, 0.5) or (0.0, 0.0)
    assert (low, high) == pytest.approx(np.quantile([0.1, 0.3, 0.4], [0.25, 0.75]))
    other[3, :2] = 0  # resamples without comparable pairs are left out
    assert difference_interval(model, other, 0.95) == pytest.approx((0.4, 0.4))
    other[3, 2] = 0
    assert difference_interval(model, other, 0.95) is None
    with pytest.raises(ValueError, match="same resamples"):
        difference_interval(model, other[:, :2], 0.95)


@pytest.mark.parametrize("secure", ["auto", pytest.param("off", marks=pytest.mark.slow)])
def test_comparisons_are_paired_bootstraps_over_the_same_patients(
    hcc_three_sites: Path, quick_hcc: QuickStudy, secure: str, tmp_path: Path
) -> None:
    """Every method's evaluation at a site draws the same resamples (federated,
    clinical-only and local-only plans alike); the hub's differences and intervals equal
    those computed from the rows; they are in results.json and signed on the ledger."""
    study = quick_hcc(secure=secure)
    out = tmp_path / "out"
    sim = Simulation.prepare(study, hcc_three_sites, 0, ledger_dir=out)
    run = sim.run
    fed, clinical = run.federated(), run.clinical_only()
    local = run.local_baselines()
    assert run.local_only is not None
    sites = sorted(sim.cohort.sites)
    boots = [fed.bootstrap_counts, clinical.bootstrap_counts, run.local_only.bootstrap_counts]
    assert all(b is not None and b.shape == (len(COUNT_KEYS), 10) for b in boots)
    for b in boots[1:]:  # the same resamples: the same comparable pairs in each
        np.testing.assert_allclose(b[3], boots[0][3], atol=1e-6)  # type: ignore[index]
    assert fed.scored_at == clinical.scored_at == run.local_only.scored_at == tuple(sites)

    found = {c.against: c for c in with_comparisons(run, [fed, clinical, *local])}
    assert sorted(found) == ["clinical_only", "local"]
    fed_rows = sum(_boot(sim, study.model, fed.params, s) for s in sites)
    clin_rows = sum(_boot(sim, clinical_variant(study).model, clinical.params, s) for s in sites)
    own_rows = 0.0
    for site in sites:  # each site's own model, as the in-hub reference trains it
        run.begin_plan(f"local:{site}", study, [site])
        state, _ = sim.references._alone({site: sim.cohort.sites[site]}, study, site)
        own_rows = own_rows + _boot(sim, study.model, state.params, site)
    for against, rows in (("clinical_only", clin_rows), ("local", own_rows)):
        comparison = found[against]
        assert comparison.method == fed.method
        diff = _c(fed_rows) - _c(np.asarray(rows))
        lo, hi = np.quantile(diff, [0.025, 0.975])
        assert (comparison.low, comparison.high) == pytest.approx((lo, hi), abs=1e-9)
        assert comparison.resamples == 10
        assert comparison.patients == sum(c.n_test for c in sim.cohort.sites.values())
    assert found["clinical_only"].difference == pytest.approx(
        (fed.consortium_cindex or 0.0) - (clinical.consortium_cindex or 0.0), abs=1e-12
    )

    document = json.loads(json.dumps(results_document(run, [fed, clinical, *local])))
    rows_out = {c["against"]: c for c in document["comparisons"]}
    keys = {"method", "against", "difference", "low", "high", "resamples"}
    assert all(keys <= set(c) for c in rows_out.values())
    assert rows_out["local"]["difference"] == pytest.approx(found["local"].difference)

    source = open_source(out / "ledger.sqlite")
    try:
        entries = {e.seq: Entry.parse(e.entry) for e in source.entries()}
    finally:
        source.close()
    for against, comparison in found.items():
        signed = entries[comparison.ledger["metric_seq"]]
        assert signed.kind == "metric"
        assert signed.payload["method"] == f"comparison:{fed.method}:{against}"
        assert signed.payload["plan"] == fed.plan_id
        assert float(signed.payload["metrics"]["difference"]) == pytest.approx(
            comparison.difference, abs=1e-6
        )
        assert fed.ledger["metric_seq"] in signed.payload["derived_from"]
        read = _comparison(signed.payload["method"], signed)  # results from the ledger alone
        assert (read["method"], read["against"]) == (fed.method, against)
        assert read["resamples"] == comparison.resamples
        assert read["low"] == pytest.approx(comparison.low, abs=1e-6)

    # sums over different sites are no paired comparison: none is made, a note says why
    fewer = replace(clinical, scored_at=fed.scored_at[:2])
    assert compare(run, fed, fewer, "clinical_only") is None
    assert "not made" in run.notes[-1] and "clinical_only" in run.notes[-1]

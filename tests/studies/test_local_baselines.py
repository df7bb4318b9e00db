"""Local-only baselines trained and scored at each site: only the metrics come back."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from accord.core import StudySpec
from accord.fl.governance import SitePolicy
from accord.ledger import Entry, open_source
from accord.studies import Simulation

QuickStudy = Callable[..., StudySpec]  # the quick_hcc fixture (conftest)


@pytest.mark.parametrize(
    ("strategy", "secure"), [("fedavg", "auto"), ("fedavg", "off"), ("newton_raphson", "auto")]
)
def test_site_run_local_baselines_equal_the_in_hub_reference(
    hcc_three_sites: Path, quick_hcc: QuickStudy, strategy: str, secure: str
) -> None:
    """The figures each site returns are those the old in-hub reference (the model trained
    on the site's rows in the hub's process, scored by that site) gave, for the same seed."""
    sim = Simulation.prepare(quick_hcc(strategy=strategy, secure=secure), hcc_three_sites, 0)
    run = sim.run
    results = {r.method: r for r in run.local_baselines()}
    assert sorted(results) == ["local:site01", "local:site02", "local:site03"]
    totals = run.view.totals
    assert totals is not None
    assert totals.n_train == sum(c.n_train for c in sim.cohort.sites.values())
    for site, cohort in sim.cohort.sites.items():  # a site's sizes reach the hub only in clear
        report = run.view.reports[site]
        sizes = (cohort.n_train, cohort.n_test) if secure == "off" else (None, None)
        assert (report.n_train, report.n_test) == sizes
    for site, cohort in sim.cohort.sites.items():
        mine = results[f"local:{site}"]
        assert mine.trained_on == (site,) and list(mine.per_site) == [site]
        assert mine.params == {}  # the model never left the site
        run.begin_plan(f"local:{site}", run.study, [site])
        state, _ = sim.references._alone({site: cohort}, run.study, f"local {site}")
        old = run.evaluate(f"local:{site}", state, [site])
        expected = old.per_site[site]
        got = mine.per_site[site]
        for key in ("harrell_c", "harrell_c_lower", "harrell_c_upper", "uno_c"):
            assert got[key] == pytest.approx(expected[key], abs=1e-12), key
        if secure == "off":  # in clear, the counts too (suppressed below min_cell_count)
            assert (got["n_test"], got["n_events"]) == (expected["n_test"], expected["n_events"])
        assert mine.consortium_cindex == got["harrell_c"] == mine.mean_site_cindex
        assert mine.rounds == old.rounds


def test_local_baselines_are_signed_and_governed_like_training(
    hcc_three_sites: Path, quick_hcc: QuickStudy, tmp_path: Path
) -> None:
    """One signed plan (method "local"); each site signs its completion with its figures,
    the hub signs each baseline's metrics citing it; a site whose policy refuses the task
    (cohort below its minimum) is a result with the reason, on the ledger."""
    out = tmp_path / "out"
    sim = Simulation.prepare(quick_hcc(), hcc_three_sites, 0, ledger_dir=out)
    run = sim.run
    assert run.audit is not None
    run.audit.governance["site02"].policy = SitePolicy(min_cohort_size=1000)
    results = {r.method: r for r in run.local_baselines()}
    assert "below the site minimum (1000)" in results["local:site02"].error
    assert results["local:site02"].per_site == {}
    source = open_source(out / "ledger.sqlite")
    try:
        entries = {e.seq: Entry.parse(e.entry) for e in source.entries()}
        orgs = {e.seq: e.org for e in source.entries()}
    finally:
        source.close()
    plans = [e for e in entries.values() if e.kind == "plan.submitted"]
    assert plans[-1].payload["method"] == "local"
    for site in ("site01", "site03"):
        result = results[f"local:{site}"]
        seq = result.per_site[site]["ledger_seq"]
        assert isinstance(seq, int) and orgs[seq] == site
        completed = entries[seq]
        assert completed.kind == "task.completed"
        assert completed.payload["task_kind"] == "local_baseline"
        signed = float(completed.payload["metrics"]["harrell_c"])  # decimal, 6 places
        assert signed == pytest.approx(result.per_site[site]["harrell_c"], abs=1e-6)
        metric = entries[result.ledger["metric_seq"]]
        assert metric.kind == "metric" and metric.payload["method"] == f"local:{site}"
        assert metric.payload["derived_from"] == [seq]
        assert result.ledger["plan_seq"] == max(s for s, e in entries.items() if e is plans[-1])
    refused = [e.payload for e in entries.values() if e.kind == "task.refused"]
    assert [(p["site"], p["task_kind"]) for p in refused] == [("site02", "local_baseline")]
    text = json.dumps([e.payload for e in entries.values()])
    assert "HCC-" not in text  # no patient id on the ledger

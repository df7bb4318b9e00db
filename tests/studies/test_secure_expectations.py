"""Every site of a run checks each secure round against the plan it knows — the signed
plan on its replica (governed), or the run's plan book (ledger-less simulation) — so a hub
that strips secure aggregation off a task, or narrows a round, is refused at every site."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from accord.core import AggregationError, StudySpec, load_study
from accord.fl import Hub, Plan, secure_round
from accord.ledger import Entry
from accord.studies import RunLedger, Simulation, init_workspace, open_workspace
from tests.conftest import synthetic_cohort, write_study

IN_CLEAR = "the signed plan runs secure aggregation; refusing to answer task 'stats' in clear"


@pytest.fixture
def data(tmp_path: Path) -> Path:
    folder = tmp_path / "data"
    folder.mkdir()
    synthetic_cohort().to_csv(folder / "cohort.csv", index=False)
    return folder


def _study(data: Path) -> StudySpec:
    return load_study(write_study(data, "newton_raphson", rounds=3, l2=0.01))


def _governed(tmp_path: Path, data: Path) -> tuple[RunLedger, Simulation]:
    study = _study(data)
    init_workspace(tmp_path / "ws", study, data)
    run, _ = open_workspace(tmp_path / "ws")
    function = run.register_function(study)
    for site in run.sites:
        run.ledger.record(
            run.sites[site],
            "function.approved",
            {"function": function, "dataset": run.datasets[site]},
        )
    return run, Simulation.prepare(study, data, 0, audit=run)


def _in_clear(hub: Hub, plan: Plan, rnd: int) -> dict[str, str]:
    """The hub's attack: the secure plan's statistics asked for in clear; each site's reason."""
    tasks = hub.tasks(plan, "stats", rnd, config={"stage": "sums"})
    with pytest.raises(AggregationError, match=r"0 of 3 sites answered"):
        hub.exchange(rnd, tasks, 1)
    return dict(hub.log[-1].missing)


def test_a_governed_site_refuses_a_secure_plans_task_in_clear(tmp_path: Path, data: Path) -> None:
    run, sim = _governed(tmp_path, data)
    plan = sim.run.plan
    assert plan.method == "preprocessing" and plan.secure is not None
    reasons = _in_clear(sim.run.consortium.hub, plan, 90)
    assert set(reasons) == set(run.sites)
    assert all(IN_CLEAR in reason for reason in reasons.values())
    refused = [
        Entry.parse(s.entry)
        for s in run.ledger.store.find(kind="task.refused")
        if Entry.parse(s.entry).payload.get("round") == 90
    ]
    assert {e.org for e in refused} == set(run.sites)  # signed by each site
    assert all(IN_CLEAR in str(e.payload["reason"]) for e in refused)


def test_a_governed_site_refuses_a_round_of_fewer_sites_than_the_signed_plan(
    tmp_path: Path, data: Path
) -> None:
    run, sim = _governed(tmp_path, data)
    hub = sim.run.consortium.hub
    plan = sim.run.plan
    narrowed = replace(plan, sites=plan.sites[:2])  # the hub drops a site it wants to isolate
    tasks = hub.tasks(narrowed, "stats", 91, config={"stage": "sums"})
    with pytest.raises(AggregationError):
        secure_round(hub._exchange_for(narrowed), narrowed, 91, tasks)
    reasons = hub.log[-1].missing
    assert set(reasons) == set(plan.site_ids[:2])
    assert all("invites 2 of the signed plan's 3 sites" in r for r in reasons.values())
    refused = [Entry.parse(s.entry) for s in run.ledger.store.find(kind="task.refused")]
    assert {e.org for e in refused if e.payload.get("round") == 91} == set(plan.site_ids[:2])


def test_a_ledgerless_simulations_sites_check_the_runs_plans(data: Path) -> None:
    sim = Simulation.prepare(_study(data), data, 0)
    plan = sim.run.plan
    assert plan.secure is not None  # three sites: on by default
    reasons = _in_clear(sim.run.consortium.hub, plan, 90)
    assert set(reasons) == set(sim.cohort.sites)
    assert all(IN_CLEAR in r for r in reasons.values())
    unknown = replace(plan, plan_id="plan-forged")
    with pytest.raises(AggregationError):
        sim.run.consortium.hub.exchange(92, sim.run.consortium.hub.tasks(unknown, "stats", 92), 1)
    assert all(
        "plan plan-forged is not a plan this site knows" in r
        for r in sim.run.consortium.hub.log[-1].missing.values()
    )
    result = sim.run.federated()  # the honest run goes through every check
    assert result.mean_site_cindex is not None and not result.excluded


def test_the_securely_summed_preprocessing_equals_the_plain_one(data: Path) -> None:
    study = _study(data)
    plain_privacy = study.privacy.model_copy(update={"secure_aggregation": "off"})
    plain_study = study.model_copy(update={"privacy": plain_privacy})
    secure = Simulation.prepare(study, data, 0).run
    plain = Simulation.prepare(plain_study, data, 0).run
    assert secure.plan.secure is not None and plain.plan.secure is None
    assert secure.preprocessor.columns == plain.preprocessor.columns
    np.testing.assert_allclose(secure.preprocessor.means, plain.preprocessor.means, rtol=1e-12)
    np.testing.assert_allclose(secure.preprocessor.scales, plain.preprocessor.scales, rtol=1e-12)

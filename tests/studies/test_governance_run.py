"""Site policy enforced in real runs: each refusal has its reason on the ledger and no data
is touched (no task.accepted, no task.completed for the refused site)."""

from __future__ import annotations

from pathlib import Path

import pytest

from accord.core import (
    AggregationError,
    ConfigError,
    PolicyError,
    StudySpec,
    canonical_json,
    load_study,
    sha256_hex,
)
from accord.fl.governance import archive_hash, function_archive, site_code
from accord.ledger import KEY_REVOKE, Entry
from accord.net import Task
from accord.studies import RunLedger, Simulation, init_workspace, open_workspace
from tests.conftest import synthetic_cohort, write_study


@pytest.fixture
def workspace(tmp_path: Path) -> tuple[Path, Path, StudySpec]:
    data = tmp_path / "data"
    data.mkdir()
    synthetic_cohort().to_csv(data / "cohort.csv", index=False)
    study = load_study(write_study(data, "newton_raphson", rounds=5, l2=0.01))
    init_workspace(tmp_path / "ws", study, data)
    return tmp_path / "ws", data, study


def _entries(run: RunLedger) -> list[Entry]:
    return [Entry.parse(s.entry) for s in run.ledger.store.read()]


def _site_tasks(run: RunLedger, site: str) -> list[Entry]:
    return [e for e in _entries(run) if e.kind.startswith("task.") and e.org == site]


def _approve(run: RunLedger, study: StudySpec, sites: list[str]) -> str:
    function = run.register_function(study)
    for site in sites:
        run.ledger.record(
            run.sites[site],
            "function.approved",
            {"function": function, "dataset": run.datasets[site]},
        )
    return function


def test_an_unapproved_function_is_refused_everywhere(workspace) -> None:  # type: ignore[no-untyped-def]
    ws, data, study = workspace
    run, _ = open_workspace(ws)
    with pytest.raises(AggregationError, match="not approved for dataset"):
        Simulation.prepare(study, data, 0, audit=run)
    for site in run.sites:
        kinds = {e.kind for e in _site_tasks(run, site)}
        assert kinds == {"task.refused"}  # refused before accepting: data never touched


def test_approved_sites_run_and_others_refuse(workspace) -> None:  # type: ignore[no-untyped-def]
    ws, data, study = workspace
    run, _ = open_workspace(ws)
    _approve(run, study, ["hospital_0", "hospital_1"])
    result = Simulation.prepare(study, data, 0, audit=run).run.federated()
    assert set(result.per_site) == {"hospital_0", "hospital_1"}
    refused = [e for e in _site_tasks(run, "hospital_2") if e.kind == "task.refused"]
    assert refused and all("not approved" in str(e.payload["reason"]) for e in refused)
    assert not [e for e in _site_tasks(run, "hospital_2") if e.kind == "task.accepted"]


def test_an_approval_does_not_carry_over_to_another_dataset(workspace) -> None:  # type: ignore[no-untyped-def]
    ws, data, study = workspace
    # one approved site: secure aggregation (on by default for 3 sites) would rightly abort
    privacy = study.privacy.model_copy(update={"secure_aggregation": "off"})
    study = study.model_copy(update={"privacy": privacy})
    run, _ = open_workspace(ws)
    function = _approve(run, study, ["hospital_0"])
    # hospital_1 replays hospital_0's approval (same function, hospital_0's dataset)
    run.ledger.record(
        run.sites["hospital_1"],
        "function.approved",
        {"function": function, "dataset": run.datasets["hospital_0"]},
    )
    result = Simulation.prepare(study, data, 0, audit=run).run.federated()
    assert set(result.per_site) == {"hospital_0"}
    reasons = {
        str(e.payload["reason"]) for e in _site_tasks(run, "hospital_1") if e.kind == "task.refused"
    }
    assert any(f"not approved for dataset {run.datasets['hospital_1']}" in r for r in reasons)


def test_an_organisation_without_permission_is_refused(workspace) -> None:  # type: ignore[no-untyped-def]
    ws, data, study = workspace
    path = ws / "sites" / "hospital_1" / "site.toml"
    path.write_text(
        path.read_text().replace("allowed-organisations = []", 'allowed-organisations = ["lab"]')
    )
    run, _ = open_workspace(ws)
    _approve(run, study, list(run.sites))
    Simulation.prepare(study, data, 0, audit=run).run.federated()
    reasons = [
        str(e.payload["reason"]) for e in _site_tasks(run, "hospital_1") if e.kind == "task.refused"
    ]
    assert reasons and all("organisation researcher may not process" in r for r in reasons)


def test_a_cohort_below_the_site_minimum_is_refused_without_its_size(workspace) -> None:  # type: ignore[no-untyped-def]
    ws, data, study = workspace
    text = (ws / "sites" / "hospital_0" / "site.toml").read_text()
    (ws / "sites" / "hospital_0" / "site.toml").write_text(
        text.replace("min-cohort-size = 20", "min-cohort-size = 500")
    )
    run, _ = open_workspace(ws)
    _approve(run, study, list(run.sites))
    result = Simulation.prepare(study, data, 0, audit=run).run.federated()
    assert "hospital_0" not in result.per_site
    reasons = [
        str(e.payload["reason"]) for e in _site_tasks(run, "hospital_0") if e.kind == "task.refused"
    ]
    assert reasons and all("below the site minimum (500)" in r for r in reasons)


def _check(
    run: RunLedger, site: str, plan: str, function: str, data: Path, study: StudySpec
) -> None:
    from accord.data import load_cohort
    from accord.fl import SiteContext

    cohort = load_cohort(study.cohort, data, 0).sites[site]
    ctx = SiteContext(site, cohort, study, 0, dataset_id=run.datasets[site])
    task = Task.build(
        task_id="t", plan_id=plan, round=0, site=site, kind="train", config={"function": function}
    )
    calls: list[str] = []
    middleware = run.recorder.middleware(run.sites[site], run.policy_check(site))
    middleware(task, ctx, lambda t, c: calls.append("ran"))  # type: ignore[arg-type,return-value]
    assert not calls


def _plan_payload(run: RunLedger, function: str, **over: object) -> dict[str, object]:
    """A plan entry of ``function`` as the researcher signs it (its config and code hashes)."""
    registered = run.hub_view().functions[function]
    payload: dict[str, object] = {
        "study": "s",
        "method": "fedavg",
        "config_hash": registered.config_hash,
        "code_hash": registered.code_hash,
        "function": function,
        "sites": sorted(run.sites),
        "rounds": 1,
        "secure_aggregation": False,
        "secure": None,
        "dp_epsilon": None,
        "trained_on": [],
        "seed": 0,
    }
    return {**payload, **over}


def test_a_tampered_function_archive_is_refused(workspace) -> None:  # type: ignore[no-untyped-def]
    ws, data, study = workspace
    run, _ = open_workspace(ws)
    archive = function_archive(study)
    archive["code"] = {**archive["code"], "accord/models/_cox.py": "0" * 64}  # code the site lacks
    forged = archive_hash(archive)
    run.ledger.record(
        run.researcher,
        "function.registered",
        {"function": forged, "name": "forged", "archive": archive},
    )
    run.ledger.record(
        run.sites["hospital_0"],
        "function.approved",
        {"function": forged, "dataset": run.datasets["hospital_0"]},
    )
    run.submit_plan("plan-x", _plan_payload(run, forged))
    with pytest.raises(
        PolicyError, match=r"does not match the code this site runs \(1 file differs"
    ):
        _check(run, "hospital_0", "plan-x", forged, data, study)
    assert _entries(run)[-1].kind == "task.refused"


def test_a_plan_signed_with_a_revoked_key_is_refused(workspace) -> None:  # type: ignore[no-untyped-def]
    ws, data, study = workspace
    run, _ = open_workspace(ws)
    function = _approve(run, study, list(run.sites))
    run.submit_plan("plan-r", _plan_payload(run, function))
    run.ledger.record(
        run.hub,
        KEY_REVOKE,
        {"org": "researcher", "key_id": run.researcher.key_id, "reason": "lost"},
    )
    with pytest.raises(PolicyError, match="revoked key"):
        _check(run, "hospital_1", "plan-r", function, data, study)
    last = _entries(run)[-1]
    assert last.kind == "task.refused" and "revoked" in str(last.payload["reason"])


# --- what an approval covers --------------------------------------------------------------


def _changed(study: StudySpec, change: str) -> StudySpec:
    """``study`` after approval: two more patient columns, a lower min_cell_count, or
    another [evaluation]."""
    if change == "features":
        features = {**study.cohort.features, "marker": "numeric", "smoker": "binary"}
        return study.model_copy(
            update={"cohort": study.cohort.model_copy(update={"features": features})}
        )
    if change == "min_cell_count":
        prep = study.preprocessing.model_copy(update={"min_cell_count": 1})
        return study.model_copy(update={"preprocessing": prep})
    evaluation = study.evaluation.model_copy(update={"bootstrap": 0, "horizons_days": (365.0,)})
    return study.model_copy(update={"evaluation": evaluation})


@pytest.fixture
def approved(workspace):  # type: ignore[no-untyped-def]
    """The workspace with a two-column study approved by every site."""
    ws, data, study = workspace
    features = {"age": "numeric", "stage": "categorical"}
    study = study.model_copy(
        update={"cohort": study.cohort.model_copy(update={"features": features})}
    )
    run, _ = open_workspace(ws)
    function = _approve(run, study, list(run.sites))
    return run, data, study, function


CHANGES = ["features", "min_cell_count", "evaluation"]


@pytest.mark.parametrize("change", CHANGES)
def test_a_study_changed_after_approval_is_refused_everywhere_until_reapproved(  # type: ignore[no-untyped-def]
    approved, change: str
) -> None:
    run, data, study, function = approved
    changed = _changed(study, change)
    with pytest.raises(AggregationError, match="not approved for dataset"):
        Simulation.prepare(changed, data, 0, audit=run)
    for site in run.sites:
        assert {e.kind for e in _site_tasks(run, site)} == {"task.refused"}
    again = _approve(run, changed, list(run.sites))  # the data owners approve the new version
    assert again != function
    result = Simulation.prepare(changed, data, 0, audit=run).run.federated()
    assert set(result.per_site) == set(run.sites)


@pytest.mark.parametrize("change", CHANGES)
def test_a_site_holding_another_study_than_the_approved_one_refuses(  # type: ignore[no-untyped-def]
    approved, change: str
) -> None:
    run, data, study, function = approved
    run.submit_plan("plan-s", _plan_payload(run, function))  # the plan runs what was approved
    fields = {
        "features": r"cohort\.feature_order, cohort\.features\.marker, cohort\.features\.smoker",
        "min_cell_count": r"preprocessing\.min_cell_count",
        "evaluation": r"evaluation\.bootstrap, evaluation\.horizons_days",
    }[change]
    match = rf"this site's study differs from function {function[:12]}'s in {fields}$"
    with pytest.raises(PolicyError, match=match):
        _check(run, "hospital_0", "plan-s", function, data, _changed(study, change))
    assert _entries(run)[-1].kind == "task.refused"


@pytest.mark.parametrize("change", CHANGES)
def test_a_plan_claiming_an_approved_function_for_another_config_is_refused(  # type: ignore[no-untyped-def]
    approved, change: str
) -> None:
    run, data, study, function = approved
    changed = _changed(study, change)
    run.submit_plan("plan-c", _plan_payload(run, function, config_hash=changed.config_hash()))
    with pytest.raises(PolicyError, match=r"plan plan-c runs another configuration than function"):
        _check(run, "hospital_1", "plan-c", function, data, study)


def test_a_site_whose_installed_code_differs_refuses(  # type: ignore[no-untyped-def]
    approved, monkeypatch: pytest.MonkeyPatch
) -> None:
    run, data, study, _ = approved
    import accord.fl._site_governance as site_governance

    installed = {**site_code(), "accord/fl/_site.py": "0" * 64}
    monkeypatch.setattr(site_governance, "site_code", lambda: installed)
    with pytest.raises(AggregationError, match="does not match the code this site runs"):
        Simulation.prepare(study, data, 0, audit=run)
    reasons = {
        str(e.payload["reason"]) for e in _site_tasks(run, "hospital_2") if e.kind == "task.refused"
    }
    assert reasons == {
        f"function {run.hub_view().plans[_last_plan(run)].function[:12]} does not "
        "match the code this site runs (1 file differs: accord/fl/_site.py)"
    }


def _last_plan(run: RunLedger) -> str:
    last = list(run.ledger.store.find(kind="plan.submitted"))[-1]
    return str(Entry.parse(last.entry).payload["plan"])


def test_a_plan_may_vary_only_model_and_training(approved) -> None:  # type: ignore[no-untyped-def]
    run, data, study, _ = approved
    sim = Simulation.prepare(study, data, 0, audit=run)
    plans = len(list(run.ledger.store.find(kind="plan.submitted")))
    with pytest.raises(
        ConfigError, match=r"differs from the study the sites hold in \[evaluation\]"
    ):
        sim.run.federated(_changed(study, "evaluation"))
    assert len(list(run.ledger.store.find(kind="plan.submitted"))) == plans  # nothing signed


def test_a_baseline_plan_is_its_own_function_with_its_variant(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    synthetic_cohort().to_csv(data / "cohort.csv", index=False)
    study = load_study(write_study(data, "fedavg", rounds=2))
    mlp = study.model_copy(update={"model": study.model.model_copy(update={"kind": "mlp_cox"})})
    sim = Simulation.prepare(mlp, data, 0, ledger_dir=tmp_path / "out")
    result = sim.run.clinical_only()  # linear Cox, Newton-Raphson: on the same study file
    assert set(result.per_site) == set(sim.cohort.sites)
    audit = sim.run.audit
    assert audit is not None
    plan = audit.hub_view().plans[sim.run.plan.plan_id]
    function = audit.hub_view().functions[plan.function]
    assert function.study_hash == mlp.config_hash()  # what every site holds
    assert set(function.archive["variant"]) == {"model", "training"}
    assert function.archive["variant"]["model"]["kind"] == "linear_cox"
    assert plan.config_hash == function.config_hash != mlp.config_hash()
    audit.close()


def test_the_signed_plan_carries_its_sites_and_secure_settings(workspace) -> None:  # type: ignore[no-untyped-def]
    ws, data, study = workspace
    run, _ = open_workspace(ws)
    _approve(run, study, list(run.sites))
    sim = Simulation.prepare(study, data, 0, audit=run)
    sim.run.federated()  # three sites: secure aggregation on by default
    plan = sim.run.plan
    assert plan.secure is not None
    entries = [Entry.parse(s.entry).payload for s in run.ledger.store.find(kind="plan.submitted")]
    entry = next(e for e in entries if e["plan"] == plan.plan_id)
    assert entry["sites"] == plan.site_ids
    assert entry["secure"] == {
        "clip": repr(plan.secure.clip),
        "threshold": repr(plan.secure.threshold),
        "neighbours": plan.secure.neighbours,
        **{
            k: v for k, v in entry["secure"].items() if k not in ("clip", "threshold", "neighbours")
        },
    }
    assert entry["config_hash"] == study.config_hash()
    assert entry["code_hash"] == sha256_hex(canonical_json(site_code()))
    # every site expects, from its own verified replica, exactly the hub's plan
    for site in run.sites:
        task = Task.build(task_id="t", plan_id=plan.plan_id, round=0, site=site, kind="train")
        ctx = sim.sites[site].context
        assert run.governance[site].expect_secure(task, ctx) == plan.secure_plan()
    preprocessing = next(e["plan"] for e in entries if e["method"] == "preprocessing")
    task = Task.build(task_id="t", plan_id=preprocessing, round=1, site="hospital_0", kind="stats")
    # preprocessing statistics are summed too: securely, with the same sites and settings
    expected = run.governance["hospital_0"].expect_secure(task, sim.sites["hospital_0"].context)
    assert expected == plan.secure_plan()
    unknown = Task.build(task_id="t", plan_id="plan-none", round=0, site="hospital_0", kind="train")
    with pytest.raises(PolicyError, match=r"^plan plan-none is not on the ledger$"):
        run.governance["hospital_0"].expect_secure(unknown, sim.sites["hospital_0"].context)

"""Differential privacy in runs: ε on the ledger per site, dataset and round; budgets stop
training before they would be exceeded; DP-FedAvg composes with secure aggregation."""

from __future__ import annotations

from pathlib import Path

import pytest

from accord.core import AggregationError, StudySpec, load_study
from accord.ledger import Entry
from accord.studies import Simulation, init_workspace, open_workspace
from tests.conftest import synthetic_cohort, write_study


def _study(folder: Path, **privacy: object) -> StudySpec:
    """The fedavg test study with ``privacy``; DP-SGD trains the logistic-hazard loss."""
    study = load_study(write_study(folder, "fedavg", rounds=2))
    training = study.training.model_copy(update={"local_steps": 10, "batch_size": 16})
    model = study.model
    if privacy.get("dp") == "dpsgd":
        model = model.model_copy(update={"loss": "logistic_hazard"})
    update = {
        "training": training,
        "model": model,
        "privacy": study.privacy.model_copy(update=privacy),
    }
    return StudySpec.model_validate(study.model_copy(update=update).model_dump())


@pytest.fixture
def data(tmp_path: Path) -> Path:
    folder = tmp_path / "data"
    folder.mkdir()
    synthetic_cohort().to_csv(folder / "cohort.csv", index=False)
    return folder


def _completed(ledger_path: Path) -> list[Entry]:
    from accord.ledger import SQLiteLedgerStore

    with SQLiteLedgerStore(ledger_path, create=False) as store:
        return [Entry.parse(e.entry) for e in store.find(kind="task.completed")]


def test_dpsgd_records_epsilon_per_site_and_round(data: Path, tmp_path: Path) -> None:
    study = _study(data, dp="dpsgd", epsilon=8.0, delta=1e-3)
    run = Simulation.prepare(study, data, 0, ledger_dir=tmp_path / "out").run
    result = run.federated()
    assert result.mean_site_cindex is not None
    assert run.audit is not None
    plans = [
        Entry.parse(e.entry).payload for e in run.audit.ledger.store.find(kind="plan.submitted")
    ]
    assert plans[-1]["dp_epsilon"] == "8.000000"
    for local in run.local_baselines():  # trained through handle_train: DP-SGD too
        assert not local.error and local.mean_site_cindex is not None
        (figures,) = local.per_site.values()
        assert 0 < float(figures["epsilon_opacus_rdp"] or 0) <= 8.0
        assert "train_loss" not in figures
    run.audit.close()
    trained = [
        e
        for e in _completed(tmp_path / "out" / "ledger.sqlite")
        if e.payload["task_kind"] == "train"
    ]
    assert len(trained) == 3 * 2  # 3 sites x 2 rounds
    for entry in trained:
        eps = {k: float(v) for k, v in entry.payload["privacy"].items() if k.startswith("epsilon")}
        assert set(eps) == {"epsilon_opacus_rdp", "epsilon_dp_accounting_rdp"}
        assert all(0 < v <= 8.0 for v in eps.values())  # σ from the more conservative
        assert "train_loss" not in str(entry.payload)  # a non-private release: not sent
        assert entry.payload["dataset"].endswith(".synthetic")


def test_a_site_budget_stops_the_plan_that_would_exceed_it(data: Path, tmp_path: Path) -> None:
    study = _study(data, dp="dpsgd", epsilon=6.0, delta=1e-3, secure_aggregation="off")
    init_workspace(tmp_path / "ws", study, data)
    site_toml = tmp_path / "ws" / "sites" / "hospital_0" / "site.toml"
    site_toml.write_text(
        site_toml.read_text() + '\n[policy.epsilon-budget]\n"hospital_0.synthetic" = "10"\n'
    )
    run, _ = open_workspace(tmp_path / "ws")
    function = run.register_function(study)
    for site, identity in run.sites.items():
        run.ledger.record(
            identity, "function.approved", {"function": function, "dataset": run.datasets[site]}
        )
    first = Simulation.prepare(study, data, 0, audit=run).run.federated()
    assert "hospital_0" in first.per_site  # 6 of 10 spent
    second = Simulation.prepare(study, data, 1, audit=run).run.federated()
    assert "hospital_0" not in second.per_site  # 6 + 6 > 10: refused before training
    refusals = [
        Entry.parse(e.entry).payload["reason"]
        for e in run.ledger.store.find(kind="task.refused", org="hospital_0")
    ]
    assert any(
        "privacy budget of dataset hospital_0.synthetic would be exceeded" in str(r)
        for r in refusals
    )


def test_dpfedavg_with_secure_aggregation_trains_and_reports_epsilon(data: Path) -> None:
    study = _study(data, dp="dpfedavg", noise_multiplier=1.0, clip_norm=0.5)
    run = Simulation.prepare(study, data, 0).run
    assert run.plan.method == "preprocessing"
    assert run.plan.secure is not None  # its statistics are summed securely too
    result = run.federated()
    assert run.plan.secure is not None  # 3 sites: on by default
    assert result.mean_site_cindex is not None


def test_secure_aggregation_on_refuses_a_strategy_needing_individual_updates(data: Path) -> None:
    from accord.core import ConfigError

    study = _study(data, secure_aggregation="on")
    cyclic = study.model_copy(
        update={"training": study.training.model_copy(update={"strategy": "cyclic"})}
    )
    run = Simulation.prepare(cyclic, data, 0).run
    with pytest.raises(ConfigError, match="needs each site's individual update"):
        run.federated()
    assert AggregationError  # the same refusal at the hub level is tested in tests/fl


@pytest.mark.parametrize(("secure", "shares"), [("auto", 2), ("off", 1)])
def test_dpfedavg_noise_shares_cover_the_fewest_sites_that_can_be_unmasked(
    data: Path, monkeypatch: pytest.MonkeyPatch, secure: str, shares: int
) -> None:
    """Three sites, threshold 2: each share is σ²C²/2, so any unmaskable sum carries the
    plan's noise; in clear every update carries all of it (the hub sees it alone)."""
    from accord.fl.tasks import _private_training

    seen: list[int] = []
    real = _private_training.site_noise_share

    def spy(shape, clip, sigma, n_sites, rng):  # type: ignore[no-untyped-def]
        seen.append(n_sites)
        return real(shape, clip, sigma, n_sites, rng)

    monkeypatch.setattr(_private_training, "site_noise_share", spy)
    study = _study(
        data, dp="dpfedavg", noise_multiplier=1.0, clip_norm=0.5, secure_aggregation=secure
    )
    Simulation.prepare(study, data, 0).run.federated()
    assert seen and set(seen) == {shares}

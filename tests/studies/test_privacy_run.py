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
    """Each plan is charged the larger of its declared and recorded ε; the site's
    preprocessing statistics and metrics leave only because its policy allows them; the
    audit shows each charge and the budget left."""
    from typer.testing import CliRunner

    from accord.cli import app

    study = _study(data, dp="dpsgd", epsilon=6.0, delta=1e-4, secure_aggregation="off")
    init_workspace(tmp_path / "ws", study, data)
    site_toml = tmp_path / "ws" / "sites" / "hospital_0" / "site.toml"
    text = site_toml.read_text().replace(
        "[policy]\n", '[policy]\nallow-non-dp = ["preprocessing", "metrics"]\n', 1
    )
    site_toml.write_text(text + '\n[policy.epsilon-budget]\n"hospital_0.synthetic" = "10"\n')
    run, _ = open_workspace(tmp_path / "ws")
    function = run.register_function(study)
    for site, identity in run.sites.items():
        run.ledger.record(
            identity, "function.approved", {"function": function, "dataset": run.datasets[site]}
        )
    first = Simulation.prepare(study, data, 0, audit=run).run.federated()
    assert "hospital_0" in first.per_site  # 6 of 10 spent
    second = Simulation.prepare(study, data, 1, audit=run).run.federated()
    # 6 + 6 > 10: refused before training (it still scores the others' model: metrics)
    assert set(second.excluded["hospital_0"]) == {"round 0", "round 1"}
    refusals = [
        Entry.parse(e.entry).payload["reason"]
        for e in run.ledger.store.find(kind="task.refused", org="hospital_0")
    ]
    assert any(
        "privacy budget of dataset hospital_0.synthetic would be exceeded" in str(r)
        for r in refusals
    )
    ledger = str(tmp_path / "ws" / "ledger.sqlite")
    run.ledger.close()
    audit = CliRunner(env={"COLUMNS": "250"}).invoke(
        app, ["audit", "--dataset", "hospital_0.synthetic", ledger, "--config", str(site_toml)]
    )
    assert audit.exit_code == 0, audit.output
    assert "6.0000" in audit.output  # the plan's charge: its declared ε, the larger
    assert "over 1 plans" in audit.output and "budget 10, remaining 4.0000" in audit.output


def _trained_privacy(ledger_path: Path) -> list[dict[str, float]]:
    return [
        {k: float(v) for k, v in e.payload["privacy"].items()}
        for e in _completed(ledger_path)
        if e.payload["task_kind"] == "train"
    ]


@pytest.mark.parametrize(("secure", "threshold", "local"), [("auto", 2, 0.0), ("off", 1, 1.0)])
def test_dpfedavg_with_secure_aggregation_trains_and_reports_epsilon(
    data: Path, tmp_path: Path, secure: str, threshold: int, local: float
) -> None:
    """The ledger records, per site and round, the DDG's ε (at least the continuous
    Gaussian's), the threshold its shares were sized for and whether it was local DP."""
    study = _study(
        data, dp="dpfedavg", noise_multiplier=1.0, clip_norm=0.5, secure_aggregation=secure
    )
    run = Simulation.prepare(study, data, 0, ledger_dir=tmp_path / "out").run
    if secure == "auto":
        assert run.plan.secure is not None  # 3 sites: on by default
    result = run.federated()
    assert result.mean_site_cindex is not None
    assert run.audit is not None
    plans = [
        Entry.parse(e.entry).payload for e in run.audit.ledger.store.find(kind="plan.submitted")
    ]
    run.audit.close()
    recorded = _trained_privacy(tmp_path / "out" / "ledger.sqlite")
    assert len(recorded) == 3 * 2
    for privacy in recorded:
        assert privacy["dp_threshold"] == threshold and privacy["dp_local"] == local
        assert privacy["noise_multiplier"] == 1.0
        assert privacy["epsilon_gaussian_rdp"] <= privacy["epsilon_ddg_zcdp"]
        assert privacy["epsilon_ddg_zcdp"] <= privacy["epsilon_gaussian_rdp"] * 1.01 + 1e-6
    last = max(p["epsilon_ddg_zcdp"] for p in recorded)
    assert float(plans[-1]["dp_epsilon"]) >= last * (1 - 1e-6)


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
    """Three sites, threshold 2: each discrete Gaussian share is σ²C²4^F/2, so any
    unmaskable sum carries the plan's noise; in clear every update carries all of it."""
    from accord.fl.tasks import _private_training

    seen: list[tuple[int, int]] = []
    real = _private_training.noise_update_ddg

    def spy(clipped, sigma, setting):  # type: ignore[no-untyped-def]
        seen.append((setting.parties, setting.fraction_bits))
        return real(clipped, sigma, setting)

    monkeypatch.setattr(_private_training, "noise_update_ddg", spy)
    study = _study(
        data, dp="dpfedavg", noise_multiplier=1.0, clip_norm=0.5, secure_aggregation=secure
    )
    Simulation.prepare(study, data, 0).run.federated()
    assert seen and set(seen) == {(shares, study.privacy.secagg_fraction_bits)}

"""Pooled and local-only baselines train with the settings correct for one site: plain
averaging (server learning rate 1, no server momentum), the study's local settings."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from accord.core import StudySpec
from accord.fl.strategies import single_site_training
from accord.fl.tasks._handlers import site_seed
from accord.models import LocalTrainingConfig, build_model, get_arrays, set_arrays, train_local
from accord.studies import Simulation

QuickStudy = Callable[..., StudySpec]  # the quick_hcc fixture (conftest)


def _fedopt(quick_hcc: QuickStudy, strategy: str = "fedadam") -> StudySpec:
    """A FedOpt study whose server settings would shrink a one-site run."""
    study = quick_hcc(strategy=strategy)
    training = study.training.model_copy(update={"server_lr": 0.3, "beta1": 0.5, "mu": 0.5})
    return study.model_copy(update={"training": training})


@pytest.mark.parametrize("strategy", ["fedadam", "fedprox", "scaffold", "newton_raphson"])
def test_single_site_training_is_plain_averaging(quick_hcc: QuickStudy, strategy: str) -> None:
    training = _fedopt(quick_hcc, strategy).training
    alone = single_site_training(training)
    if strategy == "newton_raphson":
        assert alone == training
        return
    assert (alone.strategy, alone.server_lr, alone.mu) == ("fedavg", 1.0, 0.0)
    local = ("rounds", "local_steps", "batch_size", "lr", "optimizer")
    assert all(getattr(alone, k) == getattr(training, k) for k in local)


def test_pooled_reference_of_a_fedopt_study_is_plain_fedavg_on_all_rows(
    hcc_three_sites: Path, quick_hcc: QuickStudy
) -> None:
    """The pooled model equals the study's model trained on every training row by one
    site for the study's rounds, each round ending with the locally trained model."""
    study = _fedopt(quick_hcc)
    sim = Simulation.prepare(study, hcc_three_sites, 0)
    run = sim.run
    pooled = sim.references.pooled()
    rows = sim.cohort.pooled().subset(test=False)
    x = run.preprocessor.transform(rows.features)
    model = build_model(study.model, x.shape[1], seed=0)
    set_arrays(model, run.initial_params(study))
    t = study.training
    config = LocalTrainingConfig(
        steps=t.local_steps,
        batch_size=t.batch_size,
        lr=t.lr,
        optimizer=t.optimizer,
        ties=study.model.ties,
        l2=study.model.l2,
        loss=study.model.loss,
        time_bins_days=study.model.time_bins_days,
    )
    for rnd in range(t.rounds):
        train_local(model, x, rows.time_days, rows.event, config, seed=site_seed(0, "pooled", rnd))
    expected = get_arrays(model)
    assert sorted(pooled.params) == sorted(expected)
    for name, value in expected.items():
        np.testing.assert_allclose(pooled.params[name], value, rtol=0, atol=1e-9)


def test_local_baselines_of_a_fedopt_study_are_plain_fedavg(
    hcc_three_sites: Path, quick_hcc: QuickStudy
) -> None:
    """Each site's local-only model of a FedAdam study (server lr 0.3) scores exactly as
    that of the same study with plain FedAvg (server lr 1)."""
    fedopt = _fedopt(quick_hcc)
    plain = quick_hcc(strategy="fedavg")
    got = {
        r.method: r for r in Simulation.prepare(fedopt, hcc_three_sites, 0).run.local_baselines()
    }
    want = {
        r.method: r for r in Simulation.prepare(plain, hcc_three_sites, 0).run.local_baselines()
    }
    assert sorted(got) == sorted(want) == ["local:site01", "local:site02", "local:site03"]
    for method, result in want.items():
        (site,) = result.trained_on
        for key in ("harrell_c", "uno_c", "harrell_c_lower", "harrell_c_upper"):
            expected = result.per_site[site][key]
            assert expected is not None
            assert got[method].per_site[site][key] == pytest.approx(expected, abs=1e-9), key

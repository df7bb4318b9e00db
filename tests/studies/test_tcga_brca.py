"""Fed-TCGA-BRCA from ../shared/data (skipped where that folder is absent)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from lifelines import CoxPHFitter

from accord.core import StudySpec
from accord.studies import Simulation, StudyRun, builtin_study
from tests.conftest import SHARED

DATA = SHARED / "flamby" / "fed_tcga_brca"
pytestmark = [
    pytest.mark.shared,
    pytest.mark.skipif(not (DATA / "brca.csv").exists(), reason="needs ../shared/data/flamby"),
]


def _plain(study: StudySpec) -> StudySpec:
    """Secure aggregation off: exact sums, and per-site counts in the clear."""
    privacy = study.privacy.model_copy(update={"secure_aggregation": "off"})
    return study.model_copy(update={"privacy": privacy})


@pytest.fixture(scope="module")
def sim() -> Simulation:
    return Simulation.prepare(_plain(builtin_study("tcga-brca")), DATA, seed=42)


@pytest.fixture(scope="module")
def run(sim: Simulation) -> StudyRun:
    return sim.run


def test_newton_raphson_meets_the_target_and_matches_lifelines(sim: Simulation) -> None:
    run = sim.run
    result = run.federated()
    assert result.mean_site_cindex is not None and result.mean_site_cindex >= 0.82
    frames = []
    for name, site in sim.cohort.sites.items():
        train = site.subset(test=False)
        frame = pd.DataFrame(
            run.preprocessor.transform(train.features), columns=list(run.preprocessor.columns)
        )
        frame["T"], frame["E"], frame["site"] = train.time_days, train.event.astype(int), name
        frames.append(frame)
    cph = CoxPHFitter(penalizer=run.study.model.l2)
    options = {"precision": 1e-12, "r_precision": 1e-15, "max_steps": 200}
    cph.fit(pd.concat(frames), "T", "E", strata=["site"], fit_options=options)
    np.testing.assert_allclose(
        result.params["linear.weight"].reshape(-1), cph.params_.to_numpy(), atol=1e-6, rtol=0
    )


def test_small_event_counts_are_suppressed(run: StudyRun) -> None:
    result = run.federated()
    assert result.per_site["center_5"]["n_events"] == -1  # 1 death in centre 5's test set
    assert result.per_site["center_0"]["n_events"] == 14


def test_secure_aggregation_matches_plain_sums_to_quantisation_error(run: StudyRun) -> None:
    plain = run.federated()
    study = builtin_study("tcga-brca")  # secure aggregation on by default (6 sites)
    secure = Simulation.prepare(study, DATA, seed=42)
    masked = secure.run.federated()
    np.testing.assert_allclose(
        masked.params["linear.weight"], plain.params["linear.weight"], atol=1e-6, rtol=0
    )
    assert masked.rounds == plain.rounds  # the same Newton steps: no backtrack on noise
    assert masked.mean_site_cindex is not None and plain.mean_site_cindex is not None
    assert abs(masked.mean_site_cindex - plain.mean_site_cindex) < 0.005
    assert "n_events" not in masked.per_site["center_5"]  # only the consortium total is learnt


@pytest.mark.slow
@pytest.mark.parametrize("strategy", ["fedavg", "fedprox", "scaffold", "fedyogi", "cyclic"])
def test_sgd_strategies_beat_flamby_fedavg(run: StudyRun, strategy: str) -> None:
    training = run.study.training.model_copy(
        update={"strategy": strategy, "rounds": 15, "batch_size": 8, "lr": 0.02}
    )
    result = run.federated(run.study.model_copy(update={"training": training}))
    assert result.mean_site_cindex is not None and result.mean_site_cindex >= 0.732

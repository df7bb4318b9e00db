"""Clinical covariates: the clinical-only baseline and late fusion learn a planted effect."""

from __future__ import annotations

import numpy as np
import pytest

from accord.models.mil import ClinicalOnly, build_mil, predict_risk, train_mil_local
from accord.survival import harrell_c
from tests.models.mil.synthetic import DIM, Cohort, make_cohort


@pytest.fixture(scope="module")
def cohorts() -> tuple[Cohort, Cohort]:
    return make_cohort(400, seed=11, clinical_effect=1.5), make_cohort(
        200, seed=12, clinical_effect=1.5
    )


def test_clinical_only_learns_the_planted_clinical_effect() -> None:
    rng = np.random.default_rng(3)
    n = 500
    clinical = rng.normal(size=(n, 3)).astype(np.float32)
    event_time = rng.exponential(np.exp(-(clinical @ np.array([1.0, -0.5, 0.0]))))
    censor_time = rng.exponential(2.0, size=n)
    bags = [np.zeros((1, 4), dtype=np.float32)] * n  # ignored by the clinical-only model
    model = ClinicalOnly(3)
    train_mil_local(
        model,
        bags,
        clinical,
        np.minimum(event_time, censor_time),
        event_time <= censor_time,
        steps=300,
        batch_size=64,
        lr=0.02,
        seed=0,
        weight_decay=0.0,
    )
    beta = model.clinical.weight.detach().numpy()[0]
    np.testing.assert_allclose(beta, [1.0, -0.5, 0.0], atol=0.2)


def test_late_fusion_adds_the_clinical_signal(cohorts: tuple[Cohort, Cohort]) -> None:
    train, test = cohorts
    cindex = {}
    for n_clinical in (0, 2):
        model = build_mil("chowder", DIM, n_clinical=n_clinical, seed=0)
        clinical = train.clinical if n_clinical else None
        train_mil_local(
            model,
            train.bags,
            clinical,
            train.time,
            train.event,
            steps=300,
            batch_size=32,
            lr=3e-3,
            seed=0,
            max_tiles=64,
        )
        risk = predict_risk(model, test.bags, test.clinical if n_clinical else None)
        cindex[n_clinical] = harrell_c(test.time, test.event, risk)
    print(f"chowder alone C = {cindex[0]:.3f}, with late fusion C = {cindex[2]:.3f}")
    assert cindex[2] > cindex[0] + 0.05

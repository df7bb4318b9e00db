"""Site-side DP-SGD: the study's loss and training settings, σ and ε by both accountants,
no training loss in what leaves the site."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from accord.core import ConfigError, PrivacySpec, StudySpec, load_study
from accord.fl.tasks._private_training import dpsgd_noise, train_private
from accord.models import build_model, get_arrays
from accord.privacy import dpsgd_epsilon, most_conservative
from tests.conftest import write_study


def _study(tmp_path: Path) -> StudySpec:
    base = load_study(write_study(tmp_path, "fedavg"))
    settings = {
        "model": {"loss": "logistic_hazard", "time_bins_days": [90.0, 365.0]},
        "training": {"rounds": 3, "local_steps": 20, "batch_size": 10, "lr": 0.1},
        "privacy": {"dp": "dpsgd", "epsilon": 4.0, "delta": 1e-4},
    }
    data = base.model_dump()
    for section, values in settings.items():
        data[section] |= values
    return StudySpec.model_validate(data)


def test_a_round_trains_the_hazard_model_and_reports_privacy_only(tmp_path: Path) -> None:
    study = _study(tmp_path)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 2))
    time_days = rng.uniform(1.0, 500.0, 200)
    event = rng.random(200) < 0.5
    model = build_model(study.model, 2, seed=0)
    start = get_arrays(model)
    metrics = train_private(model, x, time_days, event, study, study.privacy, rnd=1)
    assert set(metrics) == {
        "noise_multiplier",
        "epsilon_opacus_rdp",
        "epsilon_dp_accounting_rdp",
        "delta",
    }  # no train_loss: computed on the private batches without noise
    sigma = dpsgd_noise(study.privacy, 200, study.training)
    assert metrics["noise_multiplier"] == sigma
    # σ is sized for the study's 3 rounds x 20 steps; after round 1, 40 steps are spent
    so_far = dpsgd_epsilon(sigma, 10 / 200, 40, 1e-4)
    assert metrics["epsilon_opacus_rdp"] == so_far["opacus_rdp"].epsilon
    whole = most_conservative(dpsgd_epsilon(sigma, 10 / 200, 60, 1e-4)).epsilon
    assert 0.99 * 4.0 <= whole <= 4.0
    end = get_arrays(model)
    assert not np.array_equal(end["hazard.bias"], start["hazard.bias"])


def test_the_noise_needs_a_target_or_a_multiplier(tmp_path: Path) -> None:
    study = _study(tmp_path)
    fixed = PrivacySpec(dp="dpsgd", noise_multiplier=1.3)
    assert dpsgd_noise(fixed, 200, study.training) == 1.3
    with pytest.raises(ConfigError, match=r"needs privacy\.epsilon"):
        dpsgd_noise(PrivacySpec(dp="none"), 200, study.training)

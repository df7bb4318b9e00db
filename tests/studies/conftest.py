"""Shared fixtures of the study tests: a small synthetic HCC consortium, quick studies."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from accord.core import StudySpec
from accord.studies import builtin_study
from accord.synth import generate_hcc_consortium

QuickStudy = Callable[..., StudySpec]


@pytest.fixture(scope="session")
def hcc_three_sites(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three HCC sites of 30 patients with small slides (seed 3)."""
    root = tmp_path_factory.mktemp("hcc3")
    generate_hcc_consortium(root, sites=3, patients=30, seed=3, slide_size=768)
    return root


@pytest.fixture
def quick_hcc() -> QuickStudy:
    """The HCC study, made quick (few rounds and steps, 10 bootstrap resamples), with
    ``kind``, ``strategy`` and ``secure`` (``[privacy] secure_aggregation``) as given."""

    def make(kind: str = "linear_cox", strategy: str = "fedavg", secure: str = "auto") -> StudySpec:
        study = builtin_study("hcc-resection-survival")
        training = study.training.model_copy(
            update={"rounds": 2, "local_steps": 3, "strategy": strategy}
        )
        evaluation = study.evaluation.model_copy(update={"bootstrap": 10, "horizons_days": ()})
        model = study.model.model_copy(update={"kind": kind, "l2": 0.01})
        privacy = study.privacy.model_copy(update={"secure_aggregation": secure})
        update = {
            "training": training,
            "evaluation": evaluation,
            "model": model,
            "privacy": privacy,
        }
        return study.model_copy(update=update)

    return make

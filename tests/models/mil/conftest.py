"""Synthetic cohorts and models trained once per session; torch on one thread."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import torch
from torch import nn

from accord.models.mil import MILResult, build_mil, train_mil_local
from tests.models.mil.synthetic import DIM, Cohort, make_cohort


@pytest.fixture(autouse=True, scope="session")
def _one_torch_thread() -> Iterator[None]:
    """Tiny matrix products run far faster on one thread, above all on a busy machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@pytest.fixture(scope="session")
def train_cohort() -> Cohort:
    return make_cohort(400, seed=1)


@pytest.fixture(scope="session")
def test_cohort() -> Cohort:
    return make_cohort(200, seed=2)


@dataclass(frozen=True)
class Trained:
    kind: str
    model: nn.Module
    result: MILResult


TRAINING: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    "chowder": ({"n_extreme": 5}, {"steps": 300, "lr": 3e-3}),
    "abmil": ({"hidden": 64, "dropout": 0.25}, {"steps": 200, "lr": 2e-3}),
}


def train(kind: str, cohort: Cohort, seed: int = 0) -> Trained:
    model_kw, train_kw = TRAINING[kind]
    model = build_mil(kind, DIM, seed=seed, **model_kw)
    result = train_mil_local(
        model,
        cohort.bags,
        None,
        cohort.time,
        cohort.event,
        batch_size=32,
        seed=seed,
        max_tiles=64,
        **train_kw,
    )
    return Trained(kind, model, result)


@pytest.fixture(scope="session", params=sorted(TRAINING))
def trained(request: pytest.FixtureRequest, train_cohort: Cohort) -> Trained:
    return train(request.param, train_cohort)

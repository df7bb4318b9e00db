"""Federated strategies, gathered in one explicit table (no registration by import)."""

from __future__ import annotations

from collections.abc import Sequence

from accord.core import ConfigError, ModelSpec, TrainingSpec
from accord.fl.strategies._base import (
    GlobalState,
    Instruction,
    SiteInfo,
    Strategy,
    TrainingHyperparameters,
)
from accord.fl.strategies._cyclic import Cyclic
from accord.fl.strategies._fedavg import FedAvg
from accord.fl.strategies._fedopt import FedAdagrad, FedAdam, FedYogi
from accord.fl.strategies._fedprox import FedProx
from accord.fl.strategies._newton_raphson import NewtonRaphson
from accord.fl.strategies._scaffold import Scaffold

__all__ = [
    "STRATEGIES",
    "Cyclic",
    "FedAdagrad",
    "FedAdam",
    "FedAvg",
    "FedProx",
    "FedYogi",
    "GlobalState",
    "Instruction",
    "NewtonRaphson",
    "Scaffold",
    "SiteInfo",
    "Strategy",
    "TrainingHyperparameters",
    "build_strategy",
    "single_site_training",
]

STRATEGIES: dict[str, type] = {
    "fedavg": FedAvg,
    "fedprox": FedProx,
    "scaffold": Scaffold,
    "fedadam": FedAdam,
    "fedyogi": FedYogi,
    "fedadagrad": FedAdagrad,
    "cyclic": Cyclic,
    "newton_raphson": NewtonRaphson,
}


def build_strategy(
    training: TrainingSpec, model: ModelSpec, features: Sequence[str] = ()
) -> Strategy:
    """Turn the study's ``[training]`` and ``[model]`` sections into a strategy object
    (``features``: the design matrix's column names, for Newton–Raphson's errors)."""
    if training.strategy == "newton_raphson":
        if model.kind != "linear_cox":
            raise ConfigError("training.strategy 'newton_raphson' needs model.kind = 'linear_cox'")
        return NewtonRaphson(
            l2=model.l2, ties=model.ties, tol=training.tol, features=tuple(features)
        )
    hyper = TrainingHyperparameters(
        local_steps=training.local_steps,
        batch_size=training.batch_size,
        lr=training.lr,
        optimizer=training.optimizer,
        l2=model.l2,
    )
    common = {"hyper": hyper, "server_lr": training.server_lr}
    if training.strategy == "fedprox":
        return FedProx(**common, mu=training.mu)  # type: ignore[arg-type]
    if training.strategy in ("fedadam", "fedyogi", "fedadagrad"):
        cls = STRATEGIES[training.strategy]
        strategy: Strategy = cls(
            **common, beta1=training.beta1, beta2=training.beta2, tau=training.tau
        )
        return strategy
    cls = STRATEGIES[training.strategy]
    built: Strategy = cls(**common)
    return built


def single_site_training(training: TrainingSpec) -> TrainingSpec:
    """The study's ``[training]`` as it is correct for one (virtual) site alone.

    A pooled or local-only baseline trains as a consortium of one site: its server step
    is plain averaging (FedAvg, server learning rate 1, no server momentum or adaptive
    state, no proximal term or control variates), so that a round ends with the site's
    own locally trained model; the study's local optimiser, steps, batch size, learning
    rate and rounds are kept. A FedOpt study's server settings (tuned to average several
    sites) would otherwise shrink or distort the baseline. Newton–Raphson is kept: it is
    already the exact one-site fit.
    """
    if training.strategy == "newton_raphson":
        return training
    return training.model_copy(update={"strategy": "fedavg", "server_lr": 1.0, "mu": 0.0})

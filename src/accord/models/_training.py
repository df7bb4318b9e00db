"""The local training loop a site runs for one federated round (or for a baseline).

Mini-batch optimisation of the study's loss — the Cox partial likelihood (mean over the
batch's events) or the logistic-hazard likelihood (mean over its rows, the loss DP-SGD
trains with, so that a run without DP is an honest comparison) — with optional ridge
(``l2``, on the risk score's parameters only, not the baseline logits), FedProx proximal
term (``prox_mu``) and SCAFFOLD gradient correction.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
from torch import nn

from accord.core import Arrays, ConfigError
from accord.models._params import get_arrays
from accord.survival.losses import cox_partial_likelihood_loss, logistic_hazard_loss

__all__ = ["LocalTrainingConfig", "LocalTrainingResult", "batch_loss", "train_local"]


@dataclass(frozen=True)
class LocalTrainingConfig:
    steps: int
    batch_size: int
    lr: float
    optimizer: Literal["sgd", "adam"] = "sgd"
    ties: Literal["breslow", "efron"] = "efron"
    l2: float = 0.0
    prox_mu: float = 0.0
    loss: Literal["cox", "logistic_hazard"] = "cox"
    time_bins_days: tuple[float, ...] = ()  # the cut points of the logistic-hazard loss


@dataclass(frozen=True)
class LocalTrainingResult:
    steps: int
    mean_loss: float
    control: Arrays | None = None  # SCAFFOLD: the site's new control variate c_i


def _batches(n: int, batch_size: int, rng: np.random.Generator) -> Iterator[np.ndarray]:
    """Endless shuffled epochs of row indices, cut into batches (the last may be short)."""
    while True:
        order = rng.permutation(n)
        for start in range(0, n, batch_size):
            yield order[start : start + batch_size]


def train_local(
    module: nn.Module,
    x: np.ndarray,
    time_days: np.ndarray,
    event: np.ndarray,
    config: LocalTrainingConfig,
    seed: int,
    scaffold: tuple[Arrays, Arrays] | None = None,
) -> LocalTrainingResult:
    """Train ``module`` in place for ``config.steps`` mini-batch steps.

    ``x`` is (n, p) float64, ``time_days`` (n,), ``event`` (n,) bool. ``scaffold`` is the
    pair (server control c, site control c_i), both keyed like the module's parameters.
    """
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    xt = torch.as_tensor(x, dtype=torch.float64)
    tt = torch.as_tensor(time_days, dtype=torch.float64)
    et = torch.as_tensor(event.astype(np.float64))
    start = {k: torch.as_tensor(v) for k, v in get_arrays(module).items()}
    params = dict(module.named_parameters())
    optimiser = _optimiser(module, config)
    module.train()
    losses: list[float] = []
    batches = _batches(len(xt), config.batch_size, rng)
    for _ in range(config.steps):
        idx = torch.as_tensor(next(batches))
        optimiser.zero_grad()
        loss = batch_loss(module, xt[idx], tt[idx], et[idx], config)
        loss = loss + _penalty(params, start, config)
        loss.backward()  # type: ignore[no-untyped-call]
        if scaffold is not None:
            _correct_gradients(params, scaffold)
        optimiser.step()
        losses.append(float(loss.detach()))
    module.eval()
    control = _new_control(module, start, scaffold, config) if scaffold is not None else None
    return LocalTrainingResult(config.steps, float(np.mean(losses)), control)


def batch_loss(
    module: nn.Module,
    x: torch.Tensor,
    time_days: torch.Tensor,
    event: torch.Tensor,
    config: LocalTrainingConfig,
    reduction: Literal["mean", "sum"] = "mean",
) -> torch.Tensor:
    """The study's loss of one batch: Cox (``"mean"``: over events) or logistic hazard
    (``"mean"``: over rows; ``"sum"``: a sum of per-patient terms, as DP-SGD needs)."""
    if config.loss == "cox":
        return cox_partial_likelihood_loss(
            module(x), time_days, event, ties=config.ties, reduction=reduction
        )
    interval_logits = getattr(module, "interval_logits", None)
    if interval_logits is None or not config.time_bins_days:
        raise ConfigError(
            "loss 'logistic_hazard' needs a model with interval baselines and time_bins_days"
        )
    cuts = torch.as_tensor(config.time_bins_days, dtype=torch.float64)
    return logistic_hazard_loss(interval_logits(x), time_days, event, cuts, reduction=reduction)


def _optimiser(module: nn.Module, config: LocalTrainingConfig) -> torch.optim.Optimizer:
    if config.optimizer == "adam":
        return torch.optim.Adam(module.parameters(), lr=config.lr)
    return torch.optim.SGD(module.parameters(), lr=config.lr)


def _penalty(
    params: dict[str, nn.Parameter], start: dict[str, torch.Tensor], config: LocalTrainingConfig
) -> torch.Tensor:
    total = torch.zeros((), dtype=torch.float64)
    for name, p in params.items():
        if config.l2 > 0 and not name.startswith("hazard."):
            total = total + 0.5 * config.l2 * (p**2).sum()
        if config.prox_mu > 0:
            total = total + 0.5 * config.prox_mu * ((p - start[name]) ** 2).sum()
    return total


def _correct_gradients(params: dict[str, nn.Parameter], scaffold: tuple[Arrays, Arrays]) -> None:
    server, local = scaffold
    for name, p in params.items():
        if p.grad is not None:
            p.grad += torch.as_tensor(server[name] - local[name], dtype=p.dtype)


def _new_control(
    module: nn.Module,
    start: dict[str, torch.Tensor],
    scaffold: tuple[Arrays, Arrays],
    config: LocalTrainingConfig,
) -> Arrays:
    """SCAFFOLD option II: c_i+ = c_i - c + (x - y) / (K · lr)."""
    server, local = scaffold
    end = get_arrays(module)
    scale = 1.0 / (config.steps * config.lr)
    return {k: local[k] - server[k] + (start[k].numpy() - end[k]) * scale for k in end}

"""A site's local SimCLR pretraining run: the ``train`` step of a federated SSL round.

The optimiser is SGD with heavy-ball momentum, created afresh on every call. That is the
friendlier choice under FedAvg: momentum buffers are short-lived local state, whereas
Adam's per-parameter second moments would restart every round from zero (its bias
correction then makes the first steps of each round unusually large) or would have to be
federated too. Gradients are clipped to a global L2 norm of ``max_grad_norm``: without
it a single large early step (small batches, no BatchNorm) can push the encoder into the
collapsed state where every tile maps to one point (loss = log(2N - 1)) and stays there.
A learning rate around 0.03 with batches of 32 works for the default encoder.

All randomness (batches and views) comes from ``seed``; the model has no dropout, so the
same seed and starting weights give bit-identical results on one machine with the same
number of torch threads (the thread count changes the order of float reductions).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from accord.core import ConfigError, DataError
from accord.models.ssl._augment import check_tiles, simclr_views
from accord.models.ssl._encoder import SimCLRModel
from accord.models.ssl._loss import nt_xent_loss

__all__ = ["SSLResult", "train_simclr_local"]


@dataclass(frozen=True)
class SSLResult:
    """``mean_loss`` over all steps, ``final_loss`` of the last step, ``losses`` per step."""

    steps: int
    mean_loss: float
    final_loss: float
    losses: tuple[float, ...] = ()


def train_simclr_local(
    model: SimCLRModel,
    tiles: np.ndarray,
    *,
    steps: int,
    batch_size: int,
    lr: float,
    seed: int,
    temperature: float = 0.2,
    input_size: int = 64,
    momentum: float = 0.9,
    max_grad_norm: float = 1.0,
) -> SSLResult:
    """Train ``model`` in place for ``steps`` SimCLR steps on ``tiles`` uint8 (n, h, w, 3).

    Each step draws ``batch_size`` tiles (whole shuffled epochs, no tile twice per epoch),
    makes two views of ``input_size`` px each and takes one SGD step on the NT-Xent loss
    (``temperature``) with gradients clipped to ``max_grad_norm``. The model ends in eval mode.
    """
    check_tiles(tiles)
    _check_config(steps, batch_size, lr, momentum, max_grad_norm)
    if len(tiles) < 2:
        raise DataError(f"tiles: SimCLR needs at least 2 tiles, got {len(tiles)}")
    rng = np.random.default_rng(seed)
    optimiser = torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum)
    batches = _batches(len(tiles), min(batch_size, len(tiles)), rng)
    model.train()
    losses: list[float] = []
    for _ in range(steps):
        v1, v2 = simclr_views(tiles[next(batches)], rng, input_size)
        optimiser.zero_grad()
        loss = nt_xent_loss(model(v1), model(v2), temperature)
        loss.backward()  # type: ignore[no-untyped-call]
        nn.utils.clip_grad_norm_(model.parameters(), max_grad_norm)
        optimiser.step()
        losses.append(float(loss.detach()))
    model.eval()
    return SSLResult(steps, float(np.mean(losses)), losses[-1], tuple(losses))


def _check_config(
    steps: int, batch_size: int, lr: float, momentum: float, max_grad_norm: float
) -> None:
    if steps < 1:
        raise ConfigError(f"train_simclr_local: steps must be >= 1, got {steps}")
    if batch_size < 2:
        raise ConfigError(f"train_simclr_local: batch_size must be >= 2, got {batch_size}")
    if not lr > 0:
        raise ConfigError(f"train_simclr_local: lr must be > 0, got {lr}")
    if not 0 <= momentum < 1:
        raise ConfigError(f"train_simclr_local: momentum must be in [0, 1), got {momentum}")
    if not max_grad_norm > 0:
        raise ConfigError(f"train_simclr_local: max_grad_norm must be > 0, got {max_grad_norm}")


def _batches(n: int, batch_size: int, rng: np.random.Generator) -> Iterator[np.ndarray]:
    """Endless shuffled epochs of tile indices, cut into full batches (a short tail is dropped)."""
    while True:
        order = rng.permutation(n)
        for start in range(0, n - batch_size + 1, batch_size):
            yield np.sort(order[start : start + batch_size])

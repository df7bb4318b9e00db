"""Local training and prediction for MIL survival models on padded bags of tile features.

The MIL counterpart of :func:`accord.models._training.train_local`: mini-batches of
patients, each patient's bag randomly subsampled to ``max_tiles`` tiles (a fresh draw every
step), padded to the longest bag of the batch. Prediction and tile scores use all tiles.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
from torch import Tensor, nn

from accord.core import ConfigError, DataError
from accord.models.mil._base import TileScorer
from accord.models.mil._chowder import Chowder
from accord.models.mil._heads import risk_from_output
from accord.models.mil._losses import CoxLoss, SurvivalLoss

__all__ = [
    "MILBatch",
    "MILResult",
    "pad_bags",
    "predict_risk",
    "risk_orientation",
    "tile_scores",
    "train_mil_local",
]


@dataclass(frozen=True)
class MILBatch:
    """Padded bags: features (B, N, D) float32, mask (B, N) bool, clinical (B, C) float32
    or None, time (B,) float64 days, event (B,) bool."""

    features: Tensor
    mask: Tensor
    clinical: Tensor | None
    time: Tensor
    event: Tensor


@dataclass(frozen=True)
class MILResult:
    steps: int
    mean_loss: float


def _check_bags(bags: Sequence[np.ndarray], clinical: np.ndarray | None) -> None:
    if not bags:
        raise DataError("no bags; expected at least one patient")
    dims = {np.shape(bag)[1:] for bag in bags}
    if len(dims) != 1 or any(np.ndim(bag) != 2 or len(bag) == 0 for bag in bags):
        raise DataError(f"bags must be non-empty (n_i, D) arrays with one D; got D in {dims}")
    if clinical is not None and (clinical.ndim != 2 or len(clinical) != len(bags)):
        raise DataError(f"clinical has shape {clinical.shape}; expected ({len(bags)}, C)")


def _subsample(bag: np.ndarray, max_tiles: int | None, rng: np.random.Generator) -> np.ndarray:
    if max_tiles is None or len(bag) <= max_tiles:
        return bag
    return bag[np.sort(rng.choice(len(bag), size=max_tiles, replace=False))]


def _pad(
    bags: Sequence[np.ndarray], max_tiles: int | None, rng: np.random.Generator
) -> tuple[Tensor, Tensor]:
    """Bags -> features (B, N, D) float32 zero-padded and mask (B, N) bool."""
    kept = [_subsample(np.asarray(bag), max_tiles, rng) for bag in bags]
    width = max(len(bag) for bag in kept)
    features = np.zeros((len(kept), width, kept[0].shape[1]), dtype=np.float32)
    mask = np.zeros((len(kept), width), dtype=bool)
    for row, bag in enumerate(kept):
        features[row, : len(bag)] = bag
        mask[row, : len(bag)] = True
    return torch.from_numpy(features), torch.from_numpy(mask)


def pad_bags(
    bags: Sequence[np.ndarray],
    clinical: np.ndarray | None,
    time: np.ndarray,
    event: np.ndarray,
    max_tiles: int | None,
    rng: np.random.Generator,
) -> MILBatch:
    """One batch of padded bags; each bag keeps a random ``max_tiles`` subset (None = all)."""
    _check_bags(bags, clinical)
    if np.shape(time) != (len(bags),) or np.shape(event) != (len(bags),):
        raise DataError(f"time and event must have shape ({len(bags)},), one per bag")
    features, mask = _pad(bags, max_tiles, rng)
    return MILBatch(
        features=features,
        mask=mask,
        clinical=None if clinical is None else torch.as_tensor(clinical, dtype=torch.float32),
        time=torch.as_tensor(time, dtype=torch.float64),
        event=torch.as_tensor(np.asarray(event, dtype=bool)),
    )


def _batches(n: int, batch_size: int, rng: np.random.Generator) -> Iterator[np.ndarray]:
    """Endless shuffled epochs of patient indices, cut into batches (the last may be short)."""
    while True:
        order = rng.permutation(n)
        for start in range(0, n, batch_size):
            yield order[start : start + batch_size]


def _optimiser(
    model: nn.Module, name: str, lr: float, weight_decay: float, momentum: float
) -> torch.optim.Optimizer:
    if name == "adam":
        return torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    if name == "sgd":
        return torch.optim.SGD(
            model.parameters(), lr=lr, momentum=momentum, weight_decay=weight_decay
        )
    raise ConfigError(f"optimizer is {name!r}; expected 'adam' or 'sgd'")


def train_mil_local(
    model: nn.Module,
    bags: Sequence[np.ndarray],
    clinical: np.ndarray | None,
    time: np.ndarray,
    event: np.ndarray,
    *,
    steps: int,
    batch_size: int,
    lr: float,
    seed: int,
    max_tiles: int | None = 256,
    weight_decay: float = 1e-4,
    optimizer: Literal["adam", "sgd"] = "adam",
    momentum: float = 0.9,
    loss: SurvivalLoss | None = None,
) -> MILResult:
    """Train ``model`` in place for ``steps`` mini-batch steps; deterministic for a seed.

    ``bags[i]`` is patient i's (n_i, D) tile features, ``clinical`` (n, C) or None, ``time``
    (n,) days, ``event`` (n,) bool. ``loss`` defaults to :class:`CoxLoss` (Efron) within
    each batch. ``optimizer="sgd"`` (with momentum) keeps no adaptive state and suits FedAvg.
    The caller's torch random state is left as it was.
    """
    _check_bags(bags, clinical)
    criterion = loss if loss is not None else CoxLoss()
    rng = np.random.default_rng(seed)
    optimiser = _optimiser(model, optimizer, lr, weight_decay, momentum)
    batches = _batches(len(bags), batch_size, rng)
    losses: list[float] = []
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model.train()
        for _ in range(steps):
            idx = next(batches)
            sub_clinical = None if clinical is None else clinical[idx]
            batch = pad_bags(
                [bags[i] for i in idx], sub_clinical, time[idx], event[idx], max_tiles, rng
            )
            optimiser.zero_grad()
            value = criterion(
                model(batch.features, batch.mask, batch.clinical), batch.time, batch.event
            )
            value.backward()  # type: ignore[no-untyped-call]
            optimiser.step()
            losses.append(float(value.detach()))
    model.eval()
    return MILResult(steps, float(np.mean(losses)) if losses else float("nan"))


def predict_risk(
    model: nn.Module,
    bags: Sequence[np.ndarray],
    clinical: np.ndarray | None = None,
    batch_size: int = 64,
) -> np.ndarray:
    """(n,) float64 risks from all tiles of every bag (higher = shorter survival).

    Models with a discrete-time head give the cumulative hazard over all intervals.
    """
    _check_bags(bags, clinical)
    rng = np.random.default_rng(0)  # unused: nothing is subsampled
    was_training = model.training
    model.eval()
    out: list[np.ndarray] = []
    with torch.no_grad():
        for start in range(0, len(bags), batch_size):
            features, mask = _pad(bags[start : start + batch_size], None, rng)
            sub = None if clinical is None else clinical[start : start + batch_size]
            cov = None if sub is None else torch.as_tensor(sub, dtype=torch.float32)
            risk = risk_from_output(model(features, mask, cov))
            out.append(risk.double().numpy())
    model.train(was_training)
    return np.concatenate(out)


def tile_scores(model: nn.Module, bag: np.ndarray) -> np.ndarray:
    """(n_i,) float64 per-tile scores of one bag, from all its tiles.

    CHOWDER: the linear tile scores; ABMIL: the attention weights (sum to 1); mean pooling:
    the risk the head gives each tile alone. Wrappers (LateFusion, DiscreteTimeMIL) delegate.
    """
    if not isinstance(model, TileScorer):
        raise ConfigError(f"{type(model).__name__} has no tile scores")
    _check_bags([bag], None)
    features, mask = _pad([bag], None, np.random.default_rng(0))
    was_training = model.training
    model.eval()
    with torch.no_grad():
        scores = model.tile_scores(features, mask)[0]
    model.train(was_training)
    return scores.double().numpy()


def risk_orientation(
    model: nn.Module, bags: Sequence[np.ndarray], clinical: np.ndarray | None = None
) -> float:
    """+1 when higher tile scores go with higher predicted risk across ``bags``, else -1.

    A CHOWDER tile score has no fixed sign (its MLP may invert it); multiplying the scores
    by this orientation makes "high" mean "drives the risk up" for pathologists. It is the
    sign of the correlation between each bag's highest tile score and the bag's predicted
    risk. Attention weights and mean-pooling tile risks are already oriented: +1.
    """
    inner = getattr(model, "mil", model)
    if not isinstance(inner, Chowder) or len(bags) < 2:
        return 1.0
    top = np.array([float(np.max(tile_scores(model, bag))) for bag in bags])
    risk = predict_risk(model, bags, clinical)
    if np.std(top) == 0 or np.std(risk) == 0:
        return 1.0
    return 1.0 if float(np.corrcoef(top, risk)[0, 1]) >= 0 else -1.0

"""Painted tile families and one shared SimCLR training run (the slow part, done once).

Family 0 is pink stroma with purple dots (nuclei); family 1 is pale tissue with soft
pink stripes at a random angle, period and phase. Both get per-tile colour shifts and
pixel noise, so each family varies within itself.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import pytest
import torch

from accord.models.ssl import SimCLRModel, SSLResult, build_simclr, train_simclr_local

TILE_PX = 64
N_PER_FAMILY = 100
TRAIN_STEPS = 60
TRAIN_BATCH = 32
TRAIN_LR = 0.03


def _dotted(rng: np.random.Generator, yy: np.ndarray, xx: np.ndarray) -> np.ndarray:
    img = np.empty((*yy.shape, 3), np.float64)
    img[:] = np.array([232.0, 160.0, 196.0]) + rng.normal(0, 6, 3)
    nucleus = np.array([92.0, 44.0, 140.0]) + rng.normal(0, 6, 3)
    for _ in range(int(rng.integers(6, 14))):
        cy, cx = rng.uniform(0, yy.shape[0], 2)
        radius = rng.uniform(2, 5)
        img[(yy - cy) ** 2 + (xx - cx) ** 2 < radius**2] = nucleus
    return img


def _striped(rng: np.random.Generator, yy: np.ndarray, xx: np.ndarray) -> np.ndarray:
    pale = np.array([246.0, 226.0, 236.0]) + rng.normal(0, 4, 3)
    stripe = np.array([214.0, 150.0, 190.0]) + rng.normal(0, 6, 3)
    theta, period, phase = rng.uniform(0, np.pi), rng.uniform(8, 16), rng.uniform(0, 2 * np.pi)
    along = xx * np.cos(theta) + yy * np.sin(theta)
    wave = 0.5 + 0.5 * np.sin(2 * np.pi * along / period + phase)
    return pale + (stripe - pale) * wave[..., None]  # type: ignore[no-any-return]


def paint_families(n_per_family: int, size: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Shuffled uint8 tiles (2n, size, size, 3) and their family labels (2n,) in {0, 1}."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64)
    tiles = [_dotted(rng, yy, xx) for _ in range(n_per_family)]
    tiles += [_striped(rng, yy, xx) for _ in range(n_per_family)]
    labels = np.repeat([0, 1], n_per_family)
    noisy = np.stack(tiles) + rng.normal(0, 5, (2 * n_per_family, size, size, 3))
    order = rng.permutation(2 * n_per_family)
    return np.clip(noisy, 0, 255).astype(np.uint8)[order], labels[order]


@dataclass(frozen=True)
class TrainedRun:
    tiles: np.ndarray
    labels: np.ndarray
    initial: SimCLRModel  # the weights before training
    trained: SimCLRModel
    result: SSLResult


@contextmanager
def _one_torch_thread() -> Iterator[None]:
    """Small convolutions run faster on one thread, and far faster on a busy machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@pytest.fixture(autouse=True, scope="module")
def _single_thread() -> Iterator[None]:
    with _one_torch_thread():
        yield


@pytest.fixture(scope="session")
def families() -> tuple[np.ndarray, np.ndarray]:
    return paint_families(N_PER_FAMILY, TILE_PX, seed=0)


@pytest.fixture(scope="session")
def trained_run(families: tuple[np.ndarray, np.ndarray]) -> TrainedRun:
    tiles, labels = families
    model = build_simclr(seed=0)
    initial = copy.deepcopy(model)
    with _one_torch_thread():
        result = train_simclr_local(
            model, tiles, steps=TRAIN_STEPS, batch_size=TRAIN_BATCH, lr=TRAIN_LR, seed=0
        )
    return TrainedRun(tiles, labels, initial, model, result)

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
import pytest
import torch

from accord.core import ConfigError, DataError
from accord.fl._aggregation import sum_contributions, weighted_mean
from accord.models import get_arrays, set_arrays
from accord.models.ssl import (
    MEAN,
    STD,
    SimCLRModel,
    build_simclr,
    nt_xent_loss,
    simclr_views,
    train_simclr_local,
)

if TYPE_CHECKING:
    from tests.models.ssl.conftest import TrainedRun


def _heldout_loss(model: SimCLRModel, tiles: np.ndarray) -> float:
    """NT-Xent on one fixed pair of views of 32 tiles (log(63) ~ 4.14 is chance)."""
    v1, v2 = simclr_views(tiles[:32], np.random.default_rng(12345), 64)
    with torch.no_grad():
        return float(nt_xent_loss(model(v1), model(v2)))


def _representations(model: SimCLRModel, tiles: np.ndarray) -> np.ndarray:
    x = torch.from_numpy(tiles).permute(0, 3, 1, 2).float() / 255.0
    x = (x - torch.tensor(MEAN).view(1, 3, 1, 1)) / torch.tensor(STD).view(1, 3, 1, 1)
    with torch.no_grad():
        return np.asarray(model.encoder(x).numpy(), dtype=np.float64)


def _cosine_silhouette(h: np.ndarray, labels: np.ndarray) -> float:
    """Mean silhouette (Rousseeuw 1987) under cosine distance, two or more clusters."""
    hn = h / np.linalg.norm(h, axis=1, keepdims=True)
    dist = 1.0 - hn @ hn.T
    scores = []
    for i, label in enumerate(labels):
        same = labels == label
        same[i] = False
        a = dist[i, same].mean()
        b = min(dist[i, labels == other].mean() for other in set(labels) - {label})
        scores.append((b - a) / max(a, b))
    return float(np.mean(scores))


def test_training_lowers_the_loss(trained_run: TrainedRun) -> None:
    result = trained_run.result
    assert result.steps == len(result.losses) == 60
    assert result.final_loss == result.losses[-1]
    assert result.mean_loss == pytest.approx(np.mean(result.losses))
    assert np.mean(result.losses[-10:]) < result.losses[0] - 0.3
    before = _heldout_loss(trained_run.initial, trained_run.tiles)
    after = _heldout_loss(trained_run.trained, trained_run.tiles)
    assert after < before - 0.4
    assert after < math.log(63) - 0.1  # better than chance (and than a collapsed encoder)


def test_learnt_representation_separates_tile_families(trained_run: TrainedRun) -> None:
    tiles, labels = trained_run.tiles, trained_run.labels
    random_score = _cosine_silhouette(_representations(trained_run.initial, tiles), labels)
    trained_score = _cosine_silhouette(_representations(trained_run.trained, tiles), labels)
    assert trained_score > 0.8
    assert trained_score > random_score + 0.15


def test_training_is_deterministic_for_a_seed(families: tuple[np.ndarray, np.ndarray]) -> None:
    tiles = families[0][:40]
    runs = []
    for seed in (3, 3, 4):
        model = build_simclr(dim=16, width=8, seed=0)
        result = train_simclr_local(model, tiles, steps=3, batch_size=8, lr=0.03, seed=seed)
        runs.append((result, get_arrays(model)))
    (r1, a1), (r2, a2), (r3, _) = runs
    assert r1 == r2
    assert all(np.array_equal(a1[k], a2[k]) for k in a1)
    assert r1.losses != r3.losses


def test_fedavg_of_two_local_runs_is_a_valid_model(
    trained_run: TrainedRun, families: tuple[np.ndarray, np.ndarray]
) -> None:
    tiles = families[0]
    global_arrays = get_arrays(trained_run.initial)
    contributions = []
    for site, part in enumerate((tiles[:120], tiles[120:])):
        local = build_simclr(seed=50 + site)  # different init: set_arrays must overwrite all
        set_arrays(local, global_arrays)
        train_simclr_local(local, part, steps=8, batch_size=16, lr=0.03, seed=site)
        weight = float(len(part))
        arrays = {f"w.{k}": v * weight for k, v in get_arrays(local).items()}
        contributions.append((arrays, weight, {"tiles": len(part)}))
    averaged = weighted_mean(sum_contributions(contributions), "w.")

    merged = build_simclr(seed=99)
    set_arrays(merged, averaged)
    assert list(merged.named_buffers()) == []  # nothing the average could have missed
    for name, value in get_arrays(merged).items():
        np.testing.assert_allclose(value, averaged[name], rtol=1e-6, atol=1e-7)
    loss = _heldout_loss(merged, tiles)
    assert math.isfinite(loss)
    assert loss < _heldout_loss(trained_run.initial, tiles)


def test_arrays_round_trip_reproduces_the_model(trained_run: TrainedRun) -> None:
    copy_ = build_simclr(seed=7)
    set_arrays(copy_, get_arrays(trained_run.trained))
    x = simclr_views(trained_run.tiles[:4], np.random.default_rng(0), 64)[0]
    with torch.no_grad():
        torch.testing.assert_close(copy_(x), trained_run.trained(x), rtol=0, atol=0)


def test_training_does_not_touch_the_callers_tiles(families: tuple[np.ndarray, ...]) -> None:
    tiles = families[0][:16].copy()
    before = tiles.copy()
    train_simclr_local(build_simclr(dim=8, width=8), tiles, steps=1, batch_size=8, lr=0.01, seed=0)
    assert np.array_equal(tiles, before)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"steps": 0}, "steps must be >= 1"),
        ({"batch_size": 1}, "batch_size must be >= 2"),
        ({"lr": 0.0}, "lr must be > 0"),
        ({"momentum": 1.0}, r"momentum must be in \[0, 1\)"),
        ({"max_grad_norm": -1.0}, "max_grad_norm must be > 0"),
    ],
)
def test_rejects_bad_configuration(kwargs: dict[str, float], message: str) -> None:
    config: dict[str, float] = {"steps": 1, "batch_size": 4, "lr": 0.01, "seed": 0}
    config.update(kwargs)
    tiles = np.zeros((4, 16, 16, 3), np.uint8)
    with pytest.raises(ConfigError, match=message):
        train_simclr_local(build_simclr(dim=8, width=8), tiles, **config)  # type: ignore[arg-type]


def test_rejects_too_few_or_malformed_tiles() -> None:
    model = build_simclr(dim=8, width=8)
    with pytest.raises(DataError, match="at least 2 tiles"):
        train_simclr_local(
            model, np.zeros((1, 16, 16, 3), np.uint8), steps=1, batch_size=2, lr=0.1, seed=0
        )
    with pytest.raises(DataError, match="expected uint8"):
        train_simclr_local(
            model, np.zeros((4, 16, 16), np.uint8), steps=1, batch_size=2, lr=0.1, seed=0
        )


def test_model_is_left_in_eval_mode(trained_run: TrainedRun) -> None:
    assert not trained_run.trained.training
    assert not any(m.training for m in trained_run.trained.modules())

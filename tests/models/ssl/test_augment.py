from __future__ import annotations

import numpy as np
import pytest
import torch

from accord.core import ConfigError, DataError
from accord.models.ssl import MEAN, STD, simclr_views
from accord.models.ssl._augment import normalise


def _tiles(n: int = 6, h: int = 48, w: int = 40) -> np.ndarray:
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, size=(n, h, w, 3), dtype=np.uint8)


def test_views_have_requested_shape_dtype_and_differ() -> None:
    tiles = _tiles()
    v1, v2 = simclr_views(tiles, np.random.default_rng(1), 32)
    for view in (v1, v2):
        assert view.shape == (6, 3, 32, 32)
        assert view.dtype == torch.float32
        assert torch.isfinite(view).all()
    assert not torch.equal(v1, v2)
    per_tile_gap = (v1 - v2).abs().flatten(1).mean(dim=1)
    assert (per_tile_gap > 0).all()


def test_views_are_deterministic_for_a_seed() -> None:
    tiles = _tiles()
    a = simclr_views(tiles, np.random.default_rng(7), 24)
    b = simclr_views(tiles, np.random.default_rng(7), 24)
    c = simclr_views(tiles, np.random.default_rng(8), 24)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert not torch.equal(a[0], c[0])


def test_views_stay_within_the_normalised_range_of_valid_pixels() -> None:
    v1, _ = simclr_views(_tiles(), np.random.default_rng(2), 32)
    mean = torch.tensor(MEAN).view(1, 3, 1, 1)
    std = torch.tensor(STD).view(1, 3, 1, 1)
    rgb = v1 * std + mean
    assert rgb.min() >= -1e-5 and rgb.max() <= 1 + 1e-5


def test_a_flat_tile_keeps_roughly_its_colour() -> None:
    # Crops, flips, rotations and blur leave a flat tile flat; HED jitter moves it slightly.
    pink = np.broadcast_to(np.array([230, 150, 190], np.uint8), (2, 32, 32, 3)).copy()
    v1, v2 = simclr_views(pink, np.random.default_rng(3), 16)
    std = torch.tensor(STD).view(1, 3)
    expected = normalise(torch.from_numpy(pink[:1]).permute(0, 3, 1, 2).float() / 255.0)
    for view in (v1, v2):
        assert view.std(dim=(2, 3)).max() < 1e-4
        rgb_gap = (view.mean(dim=(2, 3)) - expected.mean(dim=(2, 3))).abs() * std
        assert rgb_gap.max() < 40 / 255


def test_upsizes_small_tiles_and_downsizes_large_ones() -> None:
    small, large = _tiles(2, 16, 16), _tiles(2, 128, 96)
    assert simclr_views(small, np.random.default_rng(0), 64)[0].shape == (2, 3, 64, 64)
    assert simclr_views(large, np.random.default_rng(0), 24)[1].shape == (2, 3, 24, 24)


@pytest.mark.parametrize(
    "bad",
    [
        np.zeros((2, 8, 8, 3), np.float32),
        np.zeros((8, 8, 3), np.uint8),
        np.zeros((2, 8, 8, 4), np.uint8),
        np.zeros((0, 8, 8, 3), np.uint8),
    ],
)
def test_rejects_malformed_tiles(bad: np.ndarray) -> None:
    with pytest.raises(DataError, match=r"expected uint8 \(n, h, w, 3\)"):
        simclr_views(bad, np.random.default_rng(0), 16)


def test_rejects_tiny_output_size() -> None:
    with pytest.raises(ConfigError, match="size must be >= 8"):
        simclr_views(_tiles(), np.random.default_rng(0), 4)

"""The real Aperio slide in ../shared: both backends, tissue, tiles, identical pixels."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from accord.wsi import open_slide, tile_grid, tissue_mask

SVS = (
    Path(__file__).resolve().parents[3] / "shared" / "data" / "pathology" / "CMU-1-Small-Region.svs"
)

pytestmark = [
    pytest.mark.shared,
    pytest.mark.skipif(not SVS.is_file(), reason="shared/data/pathology slide absent"),
]


@pytest.mark.parametrize("backend", ["openslide", "tiff"])
def test_both_backends_open_it(backend: str) -> None:
    with open_slide(SVS, backend=backend) as reader:
        info = reader.info
    assert (info.backend, info.vendor) == (backend, "aperio")
    assert (info.width, info.height) == (2220, 2967)
    assert info.mpp == pytest.approx(0.499) and info.magnification == 20.0


def test_default_backend_is_openslide() -> None:
    with open_slide(SVS) as reader:
        assert reader.info.backend == "openslide"


@pytest.mark.parametrize("backend", ["openslide", "tiff"])
def test_tissue_and_tiles(backend: str) -> None:
    with open_slide(SVS, backend=backend) as reader:
        mask = tissue_mask(reader, max_size=1024)
        tiles = tile_grid(reader, mask, 0.5, 224)
        first = reader.read_mpp(tiles[0].x, tiles[0].y, 224, 0.5)
    assert 0.10 <= mask.fraction <= 0.95
    assert len(tiles) >= 20
    assert first.shape == (224, 224, 3)
    for tile in tiles:
        assert tile.tissue_fraction >= 0.5
        assert tile.x + tile.size <= 2220 and tile.y + tile.size <= 2967
        r0, c0 = int(tile.y / mask.downsample), int(tile.x / mask.downsample)
        r1, c1 = (
            int((tile.y + tile.size) / mask.downsample),
            int((tile.x + tile.size) / mask.downsample),
        )
        assert mask.mask[r0:r1, c0:c1].mean() >= 0.45


def test_backends_give_the_same_pixels() -> None:
    with open_slide(SVS, backend="openslide") as a, open_slide(SVS, backend="tiff") as b:
        for x, y, w, h in [(0, 0, 300, 200), (1000, 1200, 500, 400), (2100, 2900, 300, 200)]:
            diff = np.abs(a.read_region(x, y, w, h).astype(int) - b.read_region(x, y, w, h))
            assert diff.max() <= 8 and diff.mean() < 1.0  # JPEG decoders may differ slightly
        np.testing.assert_allclose(
            a.read_mpp(700, 900, 224, 1.0), b.read_mpp(700, 900, 224, 1.0), atol=8
        )

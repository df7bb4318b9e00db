"""Tiling: tiles stay inside the slide at every level, stride and tissue fraction hold."""

from __future__ import annotations

import math
from itertools import pairwise
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from accord.core import SlideReadError
from accord.wsi import (
    LevelInfo,
    SlideInfo,
    SlideReader,
    Tile,
    TissueMask,
    open_slide,
    read_tiles,
    tile_grid,
    tissue_mask,
)
from tests.wsi.pyramid import ELLIPSE, MPP, paint_slide, tissue_truth, write_pyramid


class GeometryReader(SlideReader):
    """White pixels, any level geometry; records reads that leave their level."""

    def __init__(self, width: int, height: int, mpp: float, factors: list[float]) -> None:
        levels = [LevelInfo(width, height, 1.0)]
        for factor in factors:  # OpenSlide-style: size floored, downsample from the sizes
            w, h = max(1, math.floor(width / factor)), max(1, math.floor(height / factor))
            levels.append(LevelInfo(w, h, (width / w + height / h) / 2))
        self.info = SlideInfo(
            Path("geom.tif"), "fake", "none", width, height, mpp, None, tuple(levels)
        )
        self.outside: list[tuple[int, int, int, int, int]] = []

    def read_region(self, x: int, y: int, width: int, height: int, level: int = 0) -> np.ndarray:
        lv = self.info.levels[level]
        lx, ly = math.floor(x / lv.downsample + 1e-9), math.floor(y / lv.downsample + 1e-9)
        if lx < 0 or ly < 0 or lx + width > lv.width or ly + height > lv.height:
            self.outside.append((x, y, width, height, level))
        return np.full((height, width, 3), 255, dtype=np.uint8)

    def close(self) -> None:
        pass


FULL = TissueMask(mask=np.ones((8, 8), dtype=bool), downsample=1e6)


@settings(max_examples=150, deadline=None)
@given(
    width=st.integers(64, 4000),
    height=st.integers(64, 4000),
    base_mpp=st.sampled_from([0.2431, 0.25, 0.499, 0.5, 1.0]),
    factors=st.lists(st.sampled_from([2.0, 3.0, 4.0, 4.0003, 8.0, 16.0, 32.0]), max_size=4),
    ratio=st.floats(0.5, 12.0),
    tile_px=st.integers(16, 300),
    overlap=st.floats(0.0, 0.9),
)
def test_tiles_stay_inside_the_slide_at_every_level(
    width: int,
    height: int,
    base_mpp: float,
    factors: list[float],
    ratio: float,
    tile_px: int,
    overlap: float,
) -> None:
    reader = GeometryReader(width, height, base_mpp, sorted(factors))
    mpp = base_mpp * ratio
    overlap_px = min(tile_px - 1, int(overlap * tile_px))
    tiles = tile_grid(reader, FULL, mpp, tile_px, overlap_px, min_tissue=0.0)
    extent = tile_px * mpp / base_mpp
    xs, ys = sorted({t.x for t in tiles}), sorted({t.y for t in tiles})
    assert len(tiles) == len(xs) * len(ys)  # a full grid: inside-ness is per axis
    for x, y in [*zip(xs, [0] * len(xs), strict=True), *zip([0] * len(ys), ys, strict=True)]:
        assert x >= 0 and y >= 0
        assert x + math.ceil(extent - 1e-9) <= width and y + math.ceil(extent - 1e-9) <= height
        for level, lv in enumerate(reader.info.levels):
            lx, ly, side = reader.level_region(x, y, extent, level)
            assert lx + side <= lv.width and ly + side <= lv.height
    corners = [t for t in tiles if t.x in (xs[0], xs[-1]) and t.y in (ys[0], ys[-1])]
    for tile in corners:
        assert reader.read_mpp(tile.x, tile.y, tile_px, mpp).shape == (tile_px, tile_px, 3)
    assert reader.outside == []
    stride = (tile_px - overlap_px) * mpp / base_mpp
    slack = 2 * reader.info.levels[-1].downsample + 1
    if not tiles:
        assert min(width, height) - extent < slack
    for starts, length in ((xs, width), (ys, height)) if tiles else ():
        assert all(abs(b - a - stride) <= 1 for a, b in pairwise(starts))
        assert starts[-1] + stride + extent > length - slack  # no room left for another tile


def test_grid_strides_and_counts() -> None:
    reader = GeometryReader(1000, 600, 0.5, [2.0, 4.0])
    tiles = tile_grid(reader, FULL, 1.0, 100, overlap_px=0, min_tissue=0.0)  # 200 level-0 px
    assert sorted({t.x for t in tiles}) == [0, 200, 400, 600, 800]
    assert sorted({t.y for t in tiles}) == [0, 200, 400]
    assert {t.size for t in tiles} == {200}
    overlapped = tile_grid(reader, FULL, 1.0, 100, overlap_px=50, min_tissue=0.0)
    assert sorted({t.x for t in overlapped}) == list(range(0, 801, 100))
    assert [(t.y, t.x) for t in tiles] == sorted((t.y, t.x) for t in tiles)  # row-major


@pytest.mark.parametrize(
    ("mpp", "tile_px", "overlap_px", "match"),
    [
        (0.2, 64, 0, "finer than 0.5 x"),
        (1.0, 64, 64, "0 <= overlap_px < tile_px"),
        (1.0, 0, 0, "tile_px >= 1"),
        (1.0, 64, -1, "0 <= overlap_px"),
    ],
)
def test_bad_grid_requests(mpp: float, tile_px: int, overlap_px: int, match: str) -> None:
    reader = GeometryReader(1000, 600, 0.5, [])
    with pytest.raises(SlideReadError, match=match):
        tile_grid(reader, FULL, mpp, tile_px, overlap_px)


@pytest.fixture(scope="module")
def painted(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_pyramid(tmp_path_factory.mktemp("tiles") / "tiles.tif", paint_slide(seed=5))


def test_tissue_tiles_lie_on_the_painted_tissue(painted: Path) -> None:
    truth = tissue_truth()
    with open_slide(painted) as reader:
        mask = tissue_mask(reader, max_size=512)
        tiles = tile_grid(reader, mask, 1.0, 64, min_tissue=0.5)
        everything = tile_grid(reader, mask, 1.0, 64, min_tissue=0.0)
    assert 0 < len(tiles) < len(everything) == 10 * 7
    for tile in tiles:
        inside = truth[tile.y : tile.y + tile.size, tile.x : tile.x + tile.size].mean()
        assert abs(inside - tile.tissue_fraction) < 0.15
        assert inside >= 0.35
    cx, cy = ELLIPSE[0], ELLIPSE[1]
    assert any(t.x <= cx < t.x + t.size and t.y <= cy < t.y + t.size for t in tiles)
    glass = [t for t in everything if truth[t.y : t.y + t.size, t.x : t.x + t.size].mean() == 0]
    assert glass and all(t.tissue_fraction < 0.05 for t in glass)


def test_read_tiles_yields_mpp_reads_in_order(painted: Path) -> None:
    with open_slide(painted) as reader:
        tiles = [Tile(0, 0, 128, 1.0), Tile(256, 384, 128, 1.0), Tile(1272, 872, 128, 0.0)]
        images = list(read_tiles(reader, tiles, 2 * MPP, 64))
        assert [im.shape for im in images] == [(64, 64, 3)] * 3
        for tile, image in zip(tiles, images, strict=True):
            np.testing.assert_array_equal(image, reader.read_mpp(tile.x, tile.y, 64, 2 * MPP))


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(ratio=st.floats(0.5, 6.0), tile_px=st.integers(16, 200))
def test_real_pyramid_tiles_are_never_padded(painted: Path, ratio: float, tile_px: int) -> None:
    mpp = MPP * ratio
    with open_slide(painted) as reader:
        edge = [
            t
            for t in tile_grid(reader, FULL, mpp, tile_px, min_tissue=0.0)
            if t.x + t.size >= reader.info.width - 8 or t.y + t.size >= reader.info.height - 8
        ]
        for tile in edge[:6]:
            image = reader.read_mpp(tile.x, tile.y, tile_px, mpp)
            assert (image.min(axis=2) < 250).mean() > 0.5  # glass noise, not white padding

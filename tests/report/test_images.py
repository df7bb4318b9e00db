"""Tests of accord.report._images: heatmap overlays and tile galleries as PNG."""

from __future__ import annotations

import base64
import io

import numpy as np
import pytest
from PIL import Image

from accord.core import DataError
from accord.report import apply_colormap, heatmap_overlay, png_data_uri, tile_gallery


def decode(png: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(png)) as image:
        assert image.format == "PNG"
        return np.asarray(image.convert("RGB")).astype(int)


def test_colormap_ends_and_clipping() -> None:
    ends = apply_colormap([-1.0, 0.0, 1.0, 2.0])
    assert ends.dtype == np.uint8 and ends.shape == (4, 3)
    assert ends[0].tolist() == ends[1].tolist() == [68, 1, 84]
    assert ends[2].tolist() == ends[3].tolist() == [253, 231, 37]
    with pytest.raises(DataError, match="cmap 'jet' is unknown"):
        apply_colormap([0.5], "jet")


def test_heatmap_keeps_size_and_colours_the_top_tile_high() -> None:
    thumb = np.full((120, 200, 3), 255, dtype=np.uint8)  # 200 x 120 thumbnail
    # level-0 tiles of 256 px at downsample 16 -> 16 px squares on the thumbnail
    coords = np.array([[0, 0], [256, 0], [512, 512], [1024, 256]])
    scores = np.array([0.1, 0.5, 3.0, np.nan])
    pixels = decode(heatmap_overlay(thumb, coords, 256, scores, 16.0, colorbar=True))
    assert pixels.shape == (120, 200, 3)
    alpha = 0.55
    high = (1 - alpha) * 255 + alpha * apply_colormap(1.0).astype(float)
    low = (1 - alpha) * 255 + alpha * apply_colormap(0.0).astype(float)
    top = pixels[32 + 8, 32 + 8]  # centre of the tile at level-0 (512, 512)
    assert np.abs(top - high).max() <= 2
    assert np.abs(pixels[8, 8] - low).max() <= 2  # lowest score -> low end
    assert pixels[16 + 8, 64 + 8].tolist() == [255, 255, 255]  # NaN tile untinted


def test_heatmap_overlap_shows_higher_score_and_clips_at_edges() -> None:
    thumb = np.zeros((10, 10, 3), dtype=np.uint8)
    coords = np.array([[0, 0], [0, 0], [28, 28], [400, 0]])  # the last two run off
    pixels = decode(heatmap_overlay(thumb, coords, 20, [1.0, 0.0, 0.5, 0.2], 4.0, alpha=1.0,
                                    colorbar=False))  # fmt: skip
    assert pixels[2, 2].tolist() == apply_colormap(1.0).tolist()
    assert pixels[9, 9].tolist() == apply_colormap(0.5).tolist()


def test_heatmap_input_errors() -> None:
    thumb = np.zeros((10, 10, 3), dtype=np.uint8)
    with pytest.raises(DataError, match="thumbnail has dtype float64"):
        heatmap_overlay(thumb.astype(float), [[0, 0]], 4, [1.0], 1.0)
    with pytest.raises(DataError, match=r"scores has shape \(2,\); expected \(1,\)"):
        heatmap_overlay(thumb, [[0, 0]], 4, [1.0, 2.0], 1.0)
    with pytest.raises(DataError, match=r"coords has shape \(2,\)"):
        heatmap_overlay(thumb, [0, 0], 4, [1.0], 1.0)
    with pytest.raises(DataError, match="not positive"):
        heatmap_overlay(thumb, [[0, 0]], 4, [1.0], 0.0)


def test_tile_gallery_grid_and_captions() -> None:
    rng = np.random.default_rng(0)
    tiles = [rng.integers(0, 255, size=(64, 48, 3), dtype=np.uint8) for _ in range(5)]
    captions = [f"tile {i} score 0.{i}" for i in range(4)] + ["a very long caption " * 5]
    png = tile_gallery(tiles, captions, tile_px=96, columns=3)
    pixels = decode(png)
    assert pixels.shape == (8 + 2 * (96 + 18 + 8), 8 + 3 * (96 + 8), 3)
    with pytest.raises(DataError, match="captions has 1 entries; expected 5"):
        tile_gallery(tiles, ["one"])


def test_png_data_uri_round_trips() -> None:
    png = tile_gallery([np.zeros((4, 4, 3), dtype=np.uint8)], ["x"])
    uri = png_data_uri(png)
    assert uri.startswith("data:image/png;base64,")
    assert base64.b64decode(uri.split(",", 1)[1]) == png

"""QC picture and batches: a PNG with outline and grid; a bad slide does not stop a batch."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from accord.core import SlideReadError
from accord.wsi import SlideReader, for_each_slide, open_slide, qc_thumbnail, tile_grid, tissue_mask
from tests.wsi.pyramid import paint_slide, write_pyramid


@pytest.fixture(scope="module")
def painted(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_pyramid(tmp_path_factory.mktemp("qc") / "qc.tif", paint_slide(seed=7))


def test_qc_thumbnail_draws_outline_and_tiles(painted: Path, tmp_path: Path) -> None:
    with open_slide(painted) as reader:
        mask = tissue_mask(reader, max_size=512)
        tiles = tile_grid(reader, mask, 2.0, 64)
        out = qc_thumbnail(reader, mask, tiles, tmp_path / "qc.png", max_size=400)
    assert out == tmp_path / "qc.png"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["qc.png"]  # no temporary left
    image = np.asarray(Image.open(out).convert("RGB"))
    assert max(image.shape[:2]) <= 400
    assert ((image == (0, 200, 0)).all(axis=2)).sum() > 100  # tissue outline
    assert ((image == (0, 80, 255)).all(axis=2)).sum() > 100  # tile grid


def _mean_red(reader: SlideReader) -> float:
    return float(reader.thumbnail(64)[..., 0].mean())


def test_batch_records_bad_slides_and_continues(painted: Path, tmp_path: Path) -> None:
    noise = tmp_path / "noise.tif"
    noise.write_bytes(np.random.default_rng(0).bytes(2048))
    missing = tmp_path / "missing.svs"
    paths = [painted, noise, missing, painted.with_name("qc.tif")]
    results, report = for_each_slide(paths, _mean_red)
    assert report.done == [painted, painted]
    assert set(report.failed) == {noise, missing}
    assert report.failed[noise].startswith("noise.tif: ")
    assert report.failed[missing] == "missing.svs: slide file not found"
    assert set(results) == {painted} and 0 < results[painted] < 255


def test_batch_uses_the_fallback_mpp_and_records_read_errors(tmp_path: Path) -> None:
    bare = write_pyramid(tmp_path / "bare.tif", paint_slide()[:256, :256], mpp=None, levels=1)
    _, report = for_each_slide([bare], _mean_red)
    assert "no microns-per-pixel" in report.failed[bare]
    results, report = for_each_slide([bare], lambda r: r.info.mpp, mpp=0.3)
    assert results == {bare: 0.3} and report.done == [bare]

    def too_fine(reader: SlideReader) -> None:
        reader.read_mpp(0, 0, 16, 0.01)

    _, report = for_each_slide([bare], too_fine, mpp=0.3)
    assert "finer than" in report.failed[bare]


def test_batch_lets_programming_errors_through(painted: Path) -> None:
    def broken(reader: SlideReader) -> None:
        raise KeyError("bug")

    with pytest.raises(KeyError):
        for_each_slide([painted], broken)
    assert issubclass(SlideReadError, ValueError)

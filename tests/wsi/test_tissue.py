"""Tissue detection against the painted truth; ink and background are not tissue."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from accord.core import SlideReadError
from accord.wsi import detect_tissue, open_slide, tissue_mask
from tests.wsi.pyramid import (
    HEIGHT,
    PEN_BLACK,
    PEN_BLUE,
    PEN_GREEN,
    WIDTH,
    PenStroke,
    paint_slide,
    tissue_truth,
    write_pyramid,
)

PENS = (
    PenStroke(200, 150, 1100, 820, 14, tuple(PEN_BLUE)),  # across the tissue and the glass
    PenStroke(1150, 80, 1350, 900, 18, tuple(PEN_GREEN)),  # on glass only
    PenStroke(350, 700, 900, 620, 12, tuple(PEN_BLACK)),  # across the tissue
)


def _on_grid(truth: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    image = Image.fromarray(truth.astype(np.uint8) * 255).resize(shape[::-1], Image.Resampling.BOX)
    return np.asarray(image) >= 128


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / (a | b).sum())


@pytest.fixture(scope="module")
def pen_slide(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_pyramid(tmp_path_factory.mktemp("pen") / "pen.tif", paint_slide(pens=PENS))


def test_mask_matches_the_painted_tissue(tmp_path: Path) -> None:
    path = write_pyramid(tmp_path / "clean.tif", paint_slide(seed=3), compression="jpeg")
    with open_slide(path) as reader:
        found = tissue_mask(reader, max_size=512)
    assert found.mask.shape == (365, 512) and found.mask.dtype == bool
    assert found.downsample == pytest.approx((WIDTH / 512 + HEIGHT / 365) / 2)
    assert _iou(found.mask, _on_grid(tissue_truth(), found.mask.shape)) >= 0.9


def test_pen_marks_are_not_tissue(pen_slide: Path) -> None:
    with open_slide(pen_slide) as reader:
        found = tissue_mask(reader, max_size=700)
    ink = np.zeros((HEIGHT, WIDTH), dtype=bool)
    for pen in PENS:
        ink |= pen.mask()
    ink_cells = _on_grid(ink, found.mask.shape)
    assert not (found.mask & ink_cells).any()
    truth = _on_grid(tissue_truth() & ~ink, found.mask.shape)
    assert _iou(found.mask, truth) >= 0.9


def test_without_pen_removal_coloured_ink_counts_as_tissue(pen_slide: Path) -> None:
    with open_slide(pen_slide) as reader:
        thumb = reader.thumbnail(700)
    kept = detect_tissue(thumb, remove_pen=False).mask
    green = _on_grid(PENS[1].mask(), kept.shape)
    assert (kept & green).sum() > 0.5 * green.sum()
    assert not (detect_tissue(thumb).mask & green).any()


def test_background_glass_black_and_grey_are_not_tissue() -> None:
    rng = np.random.default_rng(0)
    thumb = np.full((200, 300, 3), 240, dtype=np.uint8)
    thumb[:, :20] = rng.integers(0, 12, (200, 20, 3))  # scanner black border (noisy)
    thumb[150:, 100:200] = 128  # grey smudge
    thumb[40:120, 80:220] = (200, 110, 170)  # tissue
    found = detect_tissue(thumb)
    truth = np.zeros((200, 300), dtype=bool)
    truth[40:120, 80:220] = True
    assert _iou(found.mask, truth) >= 0.95
    assert found.downsample == 1.0


def test_blank_glass_has_no_tissue() -> None:
    glass = np.full((64, 64, 3), 243, dtype=np.uint8)
    assert not detect_tissue(glass).mask.any()
    assert detect_tissue(glass).fraction == 0.0


def test_min_saturation_sets_the_threshold() -> None:
    thumb = np.full((100, 100, 3), 240, dtype=np.uint8)
    thumb[20:80, 20:50] = (230, 200, 220)  # pale tissue, saturation 0.13
    thumb[20:80, 50:80] = (200, 100, 170)  # dense tissue, saturation 0.5
    assert detect_tissue(thumb, min_saturation=0.3).mask[:, 20:50].sum() == 0
    assert detect_tissue(thumb, min_saturation=0.1).mask[22:78, 25:45].all()


def test_bad_thumbnail_is_refused() -> None:
    with pytest.raises(SlideReadError, match="RGB uint8"):
        detect_tissue(np.zeros((10, 10), dtype=np.uint8))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_label_medians_match_scipy(seed: int) -> None:
    from scipy import ndimage

    from accord.wsi._tissue import _label_medians

    rng = np.random.default_rng(seed)
    labels, count = ndimage.label(rng.random((60, 80)) < 0.55)
    values = rng.random((60, 80)).astype(np.float32)
    if seed == 2:  # ties, and even-sized regions whose median is the mean of two
        values = np.round(values * 4).astype(np.float32)
    expected = np.asarray(ndimage.median(values, labels, index=np.arange(1, count + 1)))
    np.testing.assert_allclose(_label_medians(values, labels, count), expected, rtol=1e-7)

"""Against the painted ground truth of accord.synth slides, and the real slide's stability."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from skimage.transform import resize

from accord.models._slide_features import extract_slide
from accord.models.extractors import build_extractor
from accord.synth import write_slide
from accord.wsi import TilingParams, open_slide, tissue_mask

REAL = (
    Path(__file__).resolve().parents[3] / "shared" / "data" / "pathology" / "CMU-1-Small-Region.svs"
)


@pytest.mark.parametrize("profile", ["hospital_a", "hospital_b", "hospital_d"])
def test_tissue_mask_matches_the_painted_truth(tmp_path: Path, profile: str) -> None:
    slide = write_slide(
        tmp_path / "s.ome.tif", width=3072, height=3072, seed=7, profile=profile, pen_marks=True
    )
    with open_slide(slide.path) as reader:
        detected = tissue_mask(reader, max_size=1024)
    truth = slide.tissue_mask
    found = resize(detected.mask.astype(float), truth.shape, order=0) > 0.5
    iou = (found & truth).sum() / (found | truth).sum()
    assert iou >= 0.9, iou
    assert not (found & slide.pen_mask).any() or (found & slide.pen_mask).mean() < 0.01


@pytest.mark.shared
@pytest.mark.skipif(not REAL.exists(), reason="needs ../shared/data/pathology")
def test_real_slide_features_are_finite_and_stable() -> None:
    fx = build_extractor("histomorphometry", None)
    with open_slide(REAL) as reader:
        first = extract_slide(reader, fx, TilingParams())
    with open_slide(REAL) as reader:
        second = extract_slide(reader, fx, TilingParams())
    assert first.n_tiles > 20
    assert np.isfinite(first.features).all()
    np.testing.assert_array_equal(first.features, second.features)
    np.testing.assert_array_equal(first.coords, second.coords)

"""Histomorphometry features: finite everywhere, respond to nuclei and stains, fast."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from skimage.measure import regionprops

from accord.core import ConfigError
from accord.models.extractors._histomorphometry import (
    FEATURE_NAMES,
    HistomorphometryExtractor,
    _moments,
    _split_touching,
)
from tests.wsi.he_paint import paint_he

SLIDE = Path(__file__).resolve().parents[4] / "shared/data/pathology/CMU-1-Small-Region.svs"
MPP = 0.5
TILE_MM2 = (224 * MPP / 1000) ** 2


def feature(values: np.ndarray, name: str) -> float:
    return float(values[FEATURE_NAMES.index(name)])


@pytest.fixture(scope="module")
def extractor() -> HistomorphometryExtractor:
    return HistomorphometryExtractor(mpp=MPP)


def test_feature_list_is_fixed_and_documented(extractor) -> None:
    assert extractor.dim == len(extractor.feature_names) == len(set(FEATURE_NAMES)) == 34
    assert FEATURE_NAMES[:2] == ("h_mean", "h_std") and FEATURE_NAMES[-1] == "lbp_9"
    assert "nuclei_density_mm2" in FEATURE_NAMES and "glcm_correlation" in FEATURE_NAMES


@pytest.mark.parametrize("value", [0, 255, 128])
def test_flat_tiles_give_finite_features(extractor, value) -> None:
    out = extractor.embed(np.full((2, 224, 224, 3), value, np.uint8))
    assert out.shape == (2, extractor.dim) and out.dtype == np.float32
    assert np.all(np.isfinite(out))
    if value == 255:  # white glass: no tissue, no nuclei
        assert feature(out[0], "tissue_fraction") == 0
        assert feature(out[0], "background_fraction") == 1
        assert feature(out[0], "nuclei_density_mm2") == 0


@settings(max_examples=30, deadline=None)
@given(arrays(np.uint8, st.tuples(st.just(1), st.integers(1, 40), st.integers(1, 40), st.just(3))))
def test_any_tile_gives_finite_features(tiles: np.ndarray) -> None:
    out = HistomorphometryExtractor().embed(tiles)
    assert out.shape == (1, len(FEATURE_NAMES)) and np.all(np.isfinite(out))


def test_random_noise_gives_finite_features(extractor) -> None:
    noise = np.random.default_rng(0).integers(0, 256, (3, 224, 224, 3), dtype=np.uint8)
    assert np.all(np.isfinite(extractor.embed(noise)))


def test_nuclei_density_follows_the_painted_count(extractor) -> None:
    counts = [0, 5, 15, 30, 45]
    tiles = np.stack([paint_he(nuclei=n, seed=n) for n in counts])
    density = extractor.embed(tiles)[:, FEATURE_NAMES.index("nuclei_density_mm2")]
    assert np.all(np.diff(density) > 0)
    np.testing.assert_allclose(density * TILE_MM2, counts, atol=1.0)  # each disc found once


def test_nuclear_shape_matches_the_painted_discs(extractor) -> None:
    out = extractor.embed(paint_he(nuclei=20, seed=4, radius=7)[None])[0]
    disc_um2 = np.pi * 7**2 * MPP**2  # 38.5 µm²
    assert feature(out, "nuclear_area_mean_um2") == pytest.approx(disc_um2, rel=0.15)
    assert feature(out, "nuclear_eccentricity_mean") < 0.35
    assert feature(out, "tissue_fraction") > 0.99
    half = extractor.embed(paint_he(nuclei=20, seed=4, glass_columns=112)[None])[0]
    assert feature(half, "tissue_fraction") == pytest.approx(0.5, abs=0.01)
    assert feature(half, "background_fraction") == pytest.approx(0.5, abs=0.02)


def test_densities_scale_with_mpp() -> None:
    tile = paint_he(nuclei=20, seed=4)[None]
    coarse = HistomorphometryExtractor(mpp=1.0).embed(tile)[0]
    fine = HistomorphometryExtractor(mpp=0.5).embed(tile)[0]
    ratio = feature(fine, "nuclei_density_mm2") / feature(coarse, "nuclei_density_mm2")
    assert ratio == pytest.approx(4.0, rel=0.05)  # same nuclei over a quarter of the area


def test_stain_statistics_follow_the_stains(extractor) -> None:
    base, more_h, more_e = (
        extractor.embed(paint_he(nuclei=10, seed=5, h_strength=h, e_strength=e)[None])[0]
        for h, e in [(1.0, 1.0), (1.5, 1.0), (1.0, 1.5)]
    )
    assert feature(more_h, "h_mean") > 1.3 * feature(base, "h_mean")
    assert feature(more_h, "h_p50") > feature(base, "h_p50")
    assert feature(more_e, "e_mean") > 1.3 * feature(base, "e_mean")
    assert abs(feature(more_e, "h_mean") - feature(base, "h_mean")) < 0.1 * feature(base, "h_mean")
    assert feature(more_e, "od_mean") > feature(base, "od_mean")


def test_moments_agree_with_regionprops() -> None:
    rng = np.random.default_rng(1)
    labels = np.zeros((60, 60), np.int32)
    for k in range(1, 7):  # random ellipses, some touching the border
        cy, cx, a, b, t = *rng.uniform(0, 60, 2), *rng.uniform(2, 9, 2), rng.uniform(0, np.pi)
        yy, xx = np.mgrid[:60, :60] - np.array([cy, cx])[:, None, None]
        u, v = yy * np.cos(t) + xx * np.sin(t), -yy * np.sin(t) + xx * np.cos(t)
        labels[(u / a) ** 2 + (v / b) ** 2 <= 1] = k
    area, ecc = _moments(labels)
    props = regionprops(labels)
    np.testing.assert_allclose(area, [p.area for p in props])
    np.testing.assert_allclose(ecc, [p.eccentricity for p in props], atol=1e-9)


def test_touching_nuclei_are_split() -> None:
    yy, xx = np.mgrid[:40, :60]
    mask = ((yy - 20) ** 2 + (xx - 20) ** 2 <= 81) | ((yy - 20) ** 2 + (xx - 35) ** 2 <= 81)
    labels = _split_touching(mask, core_px=3.0)
    assert len(np.unique(labels[mask])) == 2 and np.all(labels[~mask] == 0)


def test_identity_tracks_parameters() -> None:
    a, b = HistomorphometryExtractor(), HistomorphometryExtractor()
    assert a.identity() == b.identity() and len(a.identity()) == 64
    assert HistomorphometryExtractor(mpp=0.25).identity() != a.identity()
    assert HistomorphometryExtractor(nuclei_h_threshold=1.2).identity() != a.identity()


@pytest.mark.parametrize("bad", [0.0, -1.0, float("nan"), float("inf")])
def test_bad_mpp_is_a_config_error(bad: float) -> None:
    with pytest.raises(ConfigError, match="histomorphometry mpp: expected a number > 0"):
        HistomorphometryExtractor(mpp=bad)


@pytest.mark.slow
def test_throughput_is_at_least_50_tiles_per_second_on_one_core(extractor) -> None:
    tiles = np.stack([paint_he(nuclei=40, seed=s) for s in range(8)] * 8)  # 64 tiles, 224 px
    extractor.embed(tiles[:2])
    start = time.perf_counter()
    extractor.embed(tiles)
    assert len(tiles) / (time.perf_counter() - start) >= 50


@pytest.mark.shared
def test_real_tile_features_are_plausible(extractor) -> None:
    if not SLIDE.exists():
        pytest.skip(f"{SLIDE} not available")
    tifffile = pytest.importorskip("tifffile")
    slide = tifffile.imread(SLIDE)  # 0.499 µm/px
    tissue, glass = slide[1500:1724, 900:1124], slide[100:324, 100:324]
    out = extractor.embed(np.stack([tissue, glass]))
    assert feature(out[0], "tissue_fraction") > 0.8
    assert 1000 < feature(out[0], "nuclei_density_tissue_mm2") < 20000
    assert 10 < feature(out[0], "nuclear_area_mean_um2") < 100
    assert feature(out[1], "background_fraction") > 0.8
    assert feature(out[1], "nuclei_density_mm2") < 0.2 * feature(out[0], "nuclei_density_mm2")

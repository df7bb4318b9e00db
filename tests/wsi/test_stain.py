"""Stain normalisation (Macenko, Reinhard) and HED augmentation on painted and real tiles."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from skimage.color import rgb2lab

from accord.core import ConfigError, DataError
from accord.wsi._stain import (
    NORMALISERS,
    MacenkoNormaliser,
    ReinhardNormaliser,
    StainEstimate,
    estimate_stains,
    lab_statistics,
    optical_density,
)
from accord.wsi._stain_augment import augment_stain
from tests.wsi.he_paint import E_VECTOR_ALT, H_VECTOR_ALT, paint_he

SLIDE = Path(__file__).resolve().parents[3] / "shared" / "data" / "pathology"
SLIDE = SLIDE / "CMU-1-Small-Region.svs"


@pytest.fixture(scope="module")
def target() -> np.ndarray:
    return paint_he(size=128, nuclei=12, seed=1)


@pytest.fixture(scope="module")
def source() -> np.ndarray:
    """Another lab's tile: different stain vectors, weaker H, stronger E."""
    return paint_he(
        size=128,
        nuclei=12,
        seed=2,
        h_vector=H_VECTOR_ALT,
        e_vector=E_VECTOR_ALT,
        h_strength=0.7,
        e_strength=1.3,
        glass_columns=16,
    )


def blank(value: int = 255, size: int = 64) -> np.ndarray:
    return np.full((size, size, 3), value, np.uint8)


def stain_gap(a: StainEstimate, b: StainEstimate) -> tuple[float, float]:
    """(largest angle in degrees between matching stain vectors, largest |log| strength ratio)."""
    cos = np.clip((a.stain_matrix * b.stain_matrix).sum(axis=0), -1.0, 1.0)
    ratio = np.abs(np.log(a.max_concentrations / b.max_concentrations))
    return float(np.degrees(np.arccos(cos)).max()), float(ratio.max())


def lab_gap(a: np.ndarray, b: np.ndarray) -> float:
    sa, sb = lab_statistics(a), lab_statistics(b)
    return float(np.abs(sa.mean - sb.mean).sum() + np.abs(sa.std - sb.std).sum())


# --- Macenko ------------------------------------------------------------------------------


def test_macenko_brings_stain_vectors_and_strengths_to_the_target(target, source) -> None:
    normaliser = MacenkoNormaliser().fit(target)
    out = normaliser.transform(source)
    assert out.dtype == np.uint8 and out.shape == source.shape
    reference = estimate_stains(target)
    angle_before, ratio_before = stain_gap(estimate_stains(source), reference)
    angle_after, ratio_after = stain_gap(estimate_stains(out), reference)
    assert angle_before > 8.0 and ratio_before > 0.2  # the labs really differ
    assert angle_after < 1.5 and ratio_after < 0.05
    assert lab_gap(out, target) < 0.5 * lab_gap(source, target)
    assert normaliser.fallbacks == 0


def test_macenko_keeps_white_glass_white(target, source) -> None:
    out = MacenkoNormaliser().fit(target).transform(source)
    assert out[:, -16:].mean() >= 250 and out[:, -16:].min() >= 235  # glass noise, no tint


def test_macenko_estimate_orders_haematoxylin_first(target) -> None:
    matrix = estimate_stains(target).stain_matrix
    assert matrix[0, 0] > matrix[0, 1]  # H absorbs red more than E
    np.testing.assert_allclose(np.linalg.norm(matrix, axis=0), 1.0)


@pytest.mark.parametrize(
    "tile",
    [blank(255), blank(0), blank(128), paint_he(size=64, seed=3, e_strength=0.0, nuclei=0)],
    ids=["white", "black", "grey", "haematoxylin-only"],
)
def test_macenko_falls_back_without_raising(target, tile) -> None:
    normaliser = MacenkoNormaliser().fit(target)
    out = normaliser.transform(tile)
    assert normaliser.fallbacks == 1
    np.testing.assert_array_equal(out, tile)


def test_macenko_reinhard_fallback_is_counted_and_applied(target) -> None:
    one_stain = paint_he(size=64, seed=3, e_strength=0.0, nuclei=0)
    normaliser = MacenkoNormaliser(fallback="reinhard").fit(target)
    out = normaliser.transform(one_stain)
    assert normaliser.fallbacks == 1
    assert np.abs(out.astype(int) - one_stain).mean() > 5  # Reinhard did change it


def test_macenko_fit_on_a_blank_target_names_the_problem() -> None:
    with pytest.raises(ConfigError, match="macenko target tile: too little tissue"):
        MacenkoNormaliser().fit(blank())
    with pytest.raises(ConfigError, match="reinhard target tile: too little tissue"):
        ReinhardNormaliser().fit(blank())


def test_transform_before_fit_is_a_config_error(source) -> None:
    for normaliser in (MacenkoNormaliser(), ReinhardNormaliser()):
        with pytest.raises(ConfigError, match="call fit"):
            normaliser.transform(source)


def test_bad_inputs_are_rejected(target) -> None:
    with pytest.raises(DataError, match="uint8 RGB"):
        MacenkoNormaliser().fit(target.astype(np.float32))
    with pytest.raises(DataError, match=r"shape \(h, w, 3\)"):
        MacenkoNormaliser().fit(target[..., 0])
    with pytest.raises(ConfigError, match="fallback"):
        MacenkoNormaliser(fallback="nearest")  # type: ignore[arg-type]


@settings(max_examples=40, deadline=None)
@given(arrays(np.uint8, st.tuples(st.integers(1, 24), st.integers(1, 24), st.just(3))))
def test_transform_never_raises_on_any_tile(tile: np.ndarray) -> None:
    target = paint_he(size=64, nuclei=4, seed=1)
    for kind in NORMALISERS.values():
        normaliser = kind().fit(target)
        out = normaliser.transform(tile)
        assert out.shape == tile.shape and out.dtype == np.uint8
        assert normaliser.fallbacks in (0, 1)


# --- Reinhard -----------------------------------------------------------------------------


def test_reinhard_matches_tissue_lab_statistics(target, source) -> None:
    normaliser = ReinhardNormaliser().fit(target)
    out = normaliser.transform(source)
    assert lab_gap(out, target) < 0.2 * lab_gap(source, target)
    assert out[:, -16:].mean() >= 250  # glass blended back, not greyed
    assert normaliser.fallbacks == 0


def test_reinhard_falls_back_on_blank_tiles(target) -> None:
    normaliser = ReinhardNormaliser().fit(target)
    for value in (255, 128):
        np.testing.assert_array_equal(normaliser.transform(blank(value)), blank(value))
    assert normaliser.fallbacks == 2


def test_normalisers_dict_names_match() -> None:
    assert {key: cls.name for key, cls in NORMALISERS.items()} == {
        "macenko": "macenko",
        "reinhard": "reinhard",
    }


# --- augmentation -------------------------------------------------------------------------


def test_augmentation_is_deterministic_per_rng(source) -> None:
    a = augment_stain(source, np.random.default_rng(7))
    b = augment_stain(source, np.random.default_rng(7))
    c = augment_stain(source, np.random.default_rng(8))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_augmentation_changes_colours_mildly(source) -> None:
    rng = np.random.default_rng(0)
    tissue = optical_density(source).max(axis=-1) >= 0.15
    for _ in range(10):
        out = augment_stain(source, rng)
        delta = np.abs(rgb2lab(out) - rgb2lab(source))[tissue].mean(axis=0)
        assert 0.2 < delta.sum() < 25.0  # visible, yet still H&E
        assert out[:, -16:].mean() >= 250  # glass stays glass


def test_augmentation_without_jitter_is_the_identity(source) -> None:
    out = augment_stain(source, np.random.default_rng(0), sigma_alpha=0.0, sigma_beta=0.0)
    assert np.abs(out.astype(int) - source).max() <= 1


def test_augmentation_rejects_bad_sigmas(source) -> None:
    with pytest.raises(ConfigError, match="sigma_beta"):
        augment_stain(source, np.random.default_rng(0), sigma_beta=1.5)


# --- a real slide -------------------------------------------------------------------------


@pytest.mark.shared
def test_normalisers_undo_a_stain_shift_on_a_real_tile() -> None:
    if not SLIDE.exists():
        pytest.skip(f"{SLIDE} not available")
    tifffile = pytest.importorskip("tifffile")
    target = tifffile.imread(SLIDE)[1500:1756, 900:1156]  # dermis and epidermis, 0.5 µm/px
    shifted = augment_stain(target, np.random.default_rng(3), 0.3, 0.3)  # "another lab"
    macenko, reinhard = MacenkoNormaliser().fit(target), ReinhardNormaliser().fit(target)
    out_m, out_r = macenko.transform(shifted), reinhard.transform(shifted)
    reference = estimate_stains(target)
    angle_before, _ = stain_gap(estimate_stains(shifted), reference)
    angle_after, _ = stain_gap(estimate_stains(out_m), reference)
    assert macenko.fallbacks == 0 and reinhard.fallbacks == 0
    assert angle_after < 0.75 * angle_before
    assert lab_gap(out_m, target) < 0.5 * lab_gap(shifted, target)
    assert lab_gap(out_r, target) < 0.2 * lab_gap(shifted, target)

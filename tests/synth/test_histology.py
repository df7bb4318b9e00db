from __future__ import annotations

import numpy as np

from accord.synth import HOSPITAL_PROFILES, paint_region

PROFILE = HOSPITAL_PROFILES["hospital_a"]


def _paint(pattern: str | None, origin: tuple[int, int] = (0, 0), seed: int = 1) -> np.ndarray:
    shape = (256, 256)
    masks = {"tissue": np.ones(shape, dtype=bool)}
    if pattern is not None:
        masks[pattern] = np.ones(shape, dtype=bool)
    rng = np.random.default_rng(0)
    return paint_region(shape, masks, rng, PROFILE, origin=origin, seed=seed)


def test_background_is_white_ish_glass_with_scanner_noise() -> None:
    shape = (64, 64)
    rgb = paint_region(shape, {}, np.random.default_rng(0), PROFILE)
    assert rgb.dtype == np.uint8 and rgb.shape == (64, 64, 3)
    assert np.abs(rgb.mean(axis=(0, 1)) - PROFILE.background).max() < 1.0
    assert 0.5 < rgb.astype(float).std(axis=(0, 1)).mean() < 4.0


def _light_fraction(rgb: np.ndarray) -> float:
    """Share of near-white pixels: sinusoids and vessel lumens between the cords."""
    return float((rgb.astype(int).sum(axis=-1) > 600).mean())


def test_macrotrabecular_cords_are_thicker_than_ordinary_trabeculae() -> None:
    # Sinusoids between cords take ~17 % of thin (2-cell) trabeculae, ~4 % of 9-cell ones.
    thin = np.mean([_light_fraction(_paint(None, (y, 0))) for y in range(0, 2048, 256)])
    thick = np.mean(
        [_light_fraction(_paint("macrotrabecular", (y, 0))) for y in range(0, 2048, 256)]
    )
    assert thick < thin / 2


def test_immune_infiltrates_are_dense_dark_nuclei() -> None:
    immune = _paint("immune")
    plain = _paint(None)
    dark = lambda rgb: float((rgb.astype(int).sum(axis=-1) < 300).mean())  # noqa: E731
    assert dark(immune) > 2 * dark(plain)


def test_tiles_join_without_seams() -> None:
    whole = _paint("vetc", (0, 0))
    shape = (256, 128)
    masks = {"tissue": np.ones(shape, bool), "vetc": np.ones(shape, bool)}
    right = paint_region(shape, masks, np.random.default_rng(0), PROFILE, origin=(0, 128), seed=1)
    # Structures come from global coordinates; only the per-tile scanner noise differs,
    # and it averages out over 8 x 8 blocks.
    diff = whole[:, 128:].astype(float) - right.astype(float)
    assert np.abs(diff.reshape(32, 8, 16, 8, 3).mean(axis=(1, 3))).mean() < 1.5


def test_pen_ink_tints_the_glass() -> None:
    shape = (32, 32)
    pen = np.ones(shape, dtype=bool)
    rgb = paint_region(shape, {"pen": pen}, np.random.default_rng(0), PROFILE)
    r, _, b = rgb.reshape(-1, 3).mean(axis=0)
    assert b > r + 60  # default blue ink

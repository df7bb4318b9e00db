from __future__ import annotations

import itertools

import numpy as np
import pytest

from accord.synth import HOSPITAL_PROFILES, render_he


def test_no_stain_renders_the_scanner_background() -> None:
    for profile in HOSPITAL_PROFILES.values():
        zeros = np.zeros((4, 5), dtype=np.float32)
        rgb = render_he(zeros, zeros, profile)
        assert rgb.shape == (4, 5, 3) and rgb.dtype == np.uint8
        assert (rgb == np.asarray(profile.background, dtype=np.uint8)).all()


def test_beer_lambert_optical_density_is_linear_in_density() -> None:
    profile = HOSPITAL_PROFILES["hospital_a"]
    h = np.array([[0.5, 1.0]], dtype=np.float32)
    e = np.zeros_like(h)
    rgb = render_he(h, e, profile).astype(np.float64)
    od = np.log10(np.asarray(profile.background, dtype=np.float64) / rgb)
    expected = np.outer([0.5, 1.0], profile.hematoxylin) * profile.intensity
    np.testing.assert_allclose(od[0], expected, atol=0.02)


def test_haematoxylin_is_blue_purple_and_eosin_pink() -> None:
    for profile in HOSPITAL_PROFILES.values():
        one, zero = np.ones((1, 1), np.float32), np.zeros((1, 1), np.float32)
        r, g, b = render_he(one, zero, profile)[0, 0].astype(int)
        assert b > r  # nuclei: blue-purple
        r, g, b = render_he(zero, one, profile)[0, 0].astype(int)
        assert r > g and b > g  # cytoplasm: pink


def test_profiles_are_three_to_five_visibly_different_sites() -> None:
    assert 3 <= len(HOSPITAL_PROFILES) <= 5
    h = np.full((1, 1), 0.8, np.float32)
    e = np.full((1, 1), 0.6, np.float32)
    colours = {name: render_he(h, e, p)[0, 0].astype(int) for name, p in HOSPITAL_PROFILES.items()}
    for a, b in itertools.combinations(colours, 2):
        assert np.abs(colours[a] - colours[b]).max() >= 12, (a, b)


def test_shape_mismatch_is_rejected() -> None:
    profile = HOSPITAL_PROFILES["hospital_a"]
    with pytest.raises(ValueError, match="same shape"):
        render_he(np.zeros((2, 2)), np.zeros((2, 3)), profile)

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from accord.synth._layout import FIELD_NAMES, PATTERNS, make_layout
from accord.synth._pyramid import level_shapes


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    fractions=st.lists(st.floats(0.0, 0.33), min_size=3, max_size=3),
)
def test_planted_fractions_are_exact_on_the_grid(seed: int, fractions: list[float]) -> None:
    patterns = dict(zip(PATTERNS, fractions, strict=True))
    layout = make_layout(
        300, 400, downsample=8, mpp=0.5, seed=seed, patterns=patterns, pen_marks=True
    )
    masks = layout.grid_masks()
    n_tissue = int(masks["tissue"].sum())
    assert 0.2 <= masks["tissue"].mean() <= 0.8
    claimed = np.zeros_like(masks["tissue"])
    for name, wanted in patterns.items():
        assert int(masks[name].sum()) == round(wanted * n_tissue)
        assert not (masks[name] & claimed).any()  # patterns do not overlap
        claimed |= masks[name]
    assert not (masks["pen"] & masks["tissue"]).any()


def test_region_masks_agree_with_the_grid_at_grid_centres() -> None:
    layout = make_layout(
        512, 512, downsample=16, mpp=0.5, seed=3, patterns={"vetc": 0.4}, pen_marks=False
    )
    grid = layout.grid_masks()
    region, warp = layout.region(0, 0, 512, 512)
    assert warp.shape == (512, 512)
    centres = region["vetc"][8::16, 8::16]  # pixel 8 of a 16-pixel cell is ~ its centre
    assert (centres == grid["vetc"]).mean() > 0.97


@pytest.mark.parametrize(
    ("height", "width", "levels", "expected"),
    [(1024, 1280, 3, [(1024, 1280), (512, 640), (256, 320)]), (5, 3, 3, [(5, 3), (3, 2), (2, 1)])],
)
def test_level_shapes_halve_rounding_up(
    height: int, width: int, levels: int, expected: list[tuple[int, int]]
) -> None:
    assert level_shapes(height, width, levels) == expected


def test_field_names_cover_the_patterns() -> None:
    assert set(PATTERNS) < set(FIELD_NAMES)

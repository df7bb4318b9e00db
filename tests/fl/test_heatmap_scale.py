"""The heatmaps' one colour scale: each tile's percentile rank within its slide."""

from __future__ import annotations

import numpy as np

from accord.fl.tasks._pathology import slide_percentiles


def test_percentiles_span_zero_to_one_whatever_the_slide_scores() -> None:
    low = slide_percentiles(np.array([-3.0, -1.0, -2.0, np.nan]))
    high = slide_percentiles(np.array([500.0, 900.0, 700.0, np.nan]))
    np.testing.assert_array_equal(low[:3], [0.0, 1.0, 0.5])
    np.testing.assert_array_equal(high[:3], [0.0, 1.0, 0.5])  # same colours: one scale
    assert np.isnan(low[3]) and np.isnan(high[3])  # no tile score, no tint


def test_ties_share_a_rank_and_a_single_tile_is_the_top() -> None:
    np.testing.assert_array_equal(slide_percentiles(np.array([1.0, 1.0, 2.0])), [0.25, 0.25, 1.0])
    np.testing.assert_array_equal(slide_percentiles(np.array([4.2])), [1.0])
    assert slide_percentiles(np.array([np.nan])).tolist() != [1.0]

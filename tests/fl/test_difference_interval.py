"""The paired difference interval over bootstrap pair counts: invariants."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from accord.fl import difference_interval
from accord.fl._evaluation import percentile_interval


def _counts(seed: int, resamples: int) -> np.ndarray:
    """Pair counts (4, B) with concordant + discordant + tied = comparable > 0."""
    rng = np.random.default_rng(seed)
    parts = rng.integers(0, 50, size=(3, resamples)).astype(np.float64)
    parts[0] += 1.0
    return np.vstack([parts, parts.sum(axis=0)])


@settings(max_examples=50, deadline=None, derandomize=True, database=None)
@given(st.integers(0, 2**31), st.integers(0, 2**31), st.integers(1, 40))
def test_difference_interval_is_antisymmetric_and_zero_against_itself(
    seed_a: int, seed_b: int, resamples: int
) -> None:
    a, b = _counts(seed_a, resamples), _counts(seed_b, resamples)
    assert difference_interval(a, a, 0.95) == (0.0, 0.0)
    ab, ba = difference_interval(a, b, 0.95), difference_interval(b, a, 0.95)
    assert ab is not None and ba is not None
    assert ab[0] <= ab[1]
    np.testing.assert_allclose(ab, (-ba[1], -ba[0]), atol=1e-12)
    assert ab[0] >= -1.0 and ab[1] <= 1.0


def test_difference_against_a_constant_model_is_the_model_interval_shifted() -> None:
    a = _counts(1, 200)
    constant = np.vstack([np.zeros((1, 200)), np.zeros((1, 200)), a[3:], a[3:]])  # C = 0.5
    low, high = difference_interval(a, constant, 0.9) or (0.0, 0.0)
    c_low, c_high = percentile_interval(a, 0.9) or (0.0, 0.0)  # the difference: percentile
    np.testing.assert_allclose((low, high), (c_low - 0.5, c_high - 0.5), atol=1e-12)

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from accord.core import AggregationError
from accord.fl._aggregation import add_arrays, sum_contributions, weighted_mean


def test_sum_contributions_adds_arrays_weights_and_counts() -> None:
    summed = sum_contributions(
        [
            ({"delta.w": np.array([1.0, 2.0])}, 2.0, {"n": 3}),
            ({"delta.w": np.array([3.0, 4.0])}, 1.0, {"n": 4}),
        ]
    )
    np.testing.assert_allclose(summed.arrays["delta.w"], [4.0, 6.0])
    assert summed.weight == 3.0
    assert summed.count == 2
    assert summed.counts == {"n": 7}


def test_mismatched_names_are_refused() -> None:
    with pytest.raises(AggregationError, match="disagree on array names"):
        add_arrays({"a": np.zeros(2)}, {"b": np.zeros(2)})


def test_mismatched_shapes_are_refused() -> None:
    with pytest.raises(AggregationError, match="shape"):
        add_arrays({"a": np.zeros(2)}, {"a": np.zeros(3)})


def test_no_contribution_is_an_error() -> None:
    with pytest.raises(AggregationError, match="no site contributed"):
        sum_contributions([])


@settings(max_examples=50, deadline=None)
@given(
    update=arrays(np.float64, (3,), elements=st.floats(-1e3, 1e3)),
    weights=st.lists(st.floats(0.5, 100.0), min_size=1, max_size=6),
)
def test_weighted_mean_of_identical_updates_is_that_update(
    update: np.ndarray, weights: list[float]
) -> None:
    summed = sum_contributions(({"delta.w": update * w}, w, {}) for w in weights)
    np.testing.assert_allclose(weighted_mean(summed, "delta.")["w"], update, rtol=1e-9, atol=1e-9)

"""Small-cell suppression."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from accord.core import ConfigError, DataError
from accord.privacy import SUPPRESSED, suppress_small_counts


def test_counts_below_the_threshold_are_suppressed_but_zero_and_large_are_kept() -> None:
    counts = {"stage I": 0, "stage II": 1, "stage III": 4, "stage IV": 5, "all": 120}
    assert suppress_small_counts(counts, 5) == {
        "stage I": 0,
        "stage II": SUPPRESSED,
        "stage III": SUPPRESSED,
        "stage IV": 5,
        "all": 120,
    }
    assert SUPPRESSED == -1


def test_numpy_integers_are_accepted_and_returned_as_int() -> None:
    released = suppress_small_counts({"a": np.int64(7), "b": np.int32(2)}, 5)
    assert released == {"a": 7, "b": -1}
    assert all(type(v) is int for v in released.values())


@given(st.dictionaries(st.text(max_size=5), st.integers(0, 50)), st.integers(1, 20))
def test_no_released_count_lies_strictly_between_zero_and_the_threshold(
    counts: dict[str, int], threshold: int
) -> None:
    released = suppress_small_counts(counts, threshold)
    assert released.keys() == counts.keys()
    assert all(v in (SUPPRESSED, 0) or v >= threshold for v in released.values())


def test_invalid_threshold_and_counts() -> None:
    with pytest.raises(ConfigError, match="min_cell_count is 0; expected an integer >= 1"):
        suppress_small_counts({"a": 1}, 0)
    with pytest.raises(DataError, match="count of cell 'a' is not a whole number >= 0"):
        suppress_small_counts({"a": -3}, 5)
    with pytest.raises(DataError, match="cell 'b'"):
        suppress_small_counts({"b": 2.5}, 5)  # type: ignore[dict-item]

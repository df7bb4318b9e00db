"""Small-cell suppression of counts that leave a site (``min-cell-count``, default 5).

A count ``c`` with ``0 < c < min_cell_count`` is replaced by :data:`SUPPRESSED` (-1); zero
counts and counts >= the threshold are released as they are. This is primary suppression
only: a suppressed cell can still be recovered by subtraction from a released total or
from the other cells of a margin, so callers must not release such totals beside it (or
must suppress a complementary cell themselves).
"""

from __future__ import annotations

from collections.abc import Mapping
from numbers import Integral
from typing import Any

import numpy as np

from accord.core import ConfigError, DataError

__all__ = ["SUPPRESSED", "suppress_small_counts"]

SUPPRESSED = -1


def suppress_small_counts(
    counts: Mapping[str, int | np.integer[Any]], min_cell_count: int
) -> dict[str, int]:
    """``counts`` with every count in ``(0, min_cell_count)`` replaced by ``-1``.

    Raises:
        ConfigError: ``min_cell_count`` is not a whole number >= 1.
        DataError: a count is not a whole number >= 0 (names the cell, never the value).
    """
    if isinstance(min_cell_count, bool) or not isinstance(min_cell_count, int):
        raise ConfigError("min_cell_count is not a whole number; expected an integer >= 1")
    if min_cell_count < 1:
        raise ConfigError(f"min_cell_count is {min_cell_count}; expected an integer >= 1")
    released: dict[str, int] = {}
    for cell, count in counts.items():
        if isinstance(count, bool) or not isinstance(count, Integral) or count < 0:
            raise DataError(f"count of cell {cell!r} is not a whole number >= 0")
        released[cell] = SUPPRESSED if 0 < count < min_cell_count else int(count)
    return released

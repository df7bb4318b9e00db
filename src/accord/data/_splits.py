"""Train/test splits: from a split column, or seeded and stratified by event per site."""

from __future__ import annotations

import math
import zlib

import numpy as np
import pandas as pd

from accord.data._parsing import category_labels

__all__ = ["stratified_test_mask", "test_mask_from_column"]


def test_mask_from_column(series: pd.Series) -> np.ndarray:
    """True where the (validated) split column says ``test`` (case-insensitive)."""
    return np.asarray(category_labels(series).str.lower() == "test", dtype=bool)


def stratified_test_mask(event: np.ndarray, fraction: float, seed: int, site: str) -> np.ndarray:
    """Seeded test-row mask for one site, stratified by ``event`` (bool, shape (n,)).

    ``round(fraction * n)`` rows go to test, at least 1 when ``fraction > 0`` and ``n >= 2``
    and never all of them. Each stratum gets its floor share; leftover test rows go to
    the strata with the largest remainders, sparing a stratum's last train row. The
    draw depends only on ``(seed, site)``, so adding a site leaves the others unchanged.
    """
    n = len(event)
    target = _test_count(n, fraction)
    strata = [np.flatnonzero(event), np.flatnonzero(~event)]
    exact = [fraction * len(s) for s in strata]
    counts = [math.floor(e) for e in exact]
    by_remainder = sorted(range(len(strata)), key=lambda i: counts[i] - exact[i])
    for keep_one_train, step in ((1, 1), (1, n), (0, n)):
        for i in by_remainder:
            room = len(strata[i]) - counts[i] - keep_one_train
            counts[i] += max(min(step, target - sum(counts), room), 0)
    rng = np.random.default_rng([seed % 2**63, zlib.crc32(site.encode("utf-8"))])
    mask = np.zeros(n, dtype=bool)
    for rows, count in zip(strata, counts, strict=True):
        mask[rng.permutation(rows)[:count]] = True
    return mask


def _test_count(n: int, fraction: float) -> int:
    if fraction <= 0 or n < 2:
        return 0
    return min(max(1, math.floor(fraction * n + 0.5)), n - 1)

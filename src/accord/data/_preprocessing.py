"""Federated preprocessing: standardisation and one-hot encoding fitted from per-site
sufficient statistics, never from pooled rows.

Each site computes :func:`feature_statistics` on its *train* rows (counts, sums, sums of
squared deviations from its own mean; category counts with small cells suppressed) and
sends them as named arrays; the hub combines them in :func:`fit_preprocessor` into a
:class:`Preprocessor` that every site then applies to its own rows with
:meth:`Preprocessor.transform`.

Payload keys (float64 arrays) per feature ``f``:

* numeric or binary: ``num.{f}.n`` (non-missing count), ``num.{f}.sum`` and ``num.{f}.m2``
  (the sum of squared deviations from the site's mean), each of shape (1,). The hub
  combines them as Chan et al. (1979) do, so the pooled variance keeps its precision
  where sums of squares would cancel (values far from zero that vary little);
* categorical: ``cat.{f}.n`` (train rows, shape (1,)) and ``cat.{f}.counts`` (shape (L,),
  aligned with ``levels[f]``, the site's level strings). Levels seen fewer than
  ``min_cell_count`` times are suppressed: left out of both, so neither the count nor the
  level's presence leaves the site.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

import numpy as np
import pandas as pd

from accord.core import (
    AggregationError,
    CohortSpec,
    ConfigError,
    DataError,
    FeatureKind,
    PreprocessingSpec,
    PrivacyError,
)
from accord.data._cohort import SiteCohort
from accord.data._parsing import Parsed, category_labels, parse_flag, parse_numeric
from accord.data._validation import cell_problems, raise_problems

__all__ = ["Preprocessor", "SiteFeatureStats", "feature_statistics", "fit_preprocessor"]

_EXPECTED_VALUE = 'a value (or preprocessing.missing = "impute_mean")'
_ZERO_VARIANCE = 1e-12  # relative to the mean square: below this a column is constant


@dataclass(frozen=True, eq=False)
class SiteFeatureStats:
    """One site's feature statistics: named float64 arrays plus level strings."""

    arrays: dict[str, np.ndarray]
    levels: dict[str, tuple[str, ...]]

    def to_payload(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """(named arrays, JSON-able metadata) for a message."""
        return dict(self.arrays), {"levels": {f: list(v) for f, v in self.levels.items()}}

    @classmethod
    def from_payload(
        cls, arrays: Mapping[str, np.ndarray], meta: Mapping[str, Any]
    ) -> SiteFeatureStats:
        """Inverse of :meth:`to_payload`."""
        levels = {str(f): tuple(str(v) for v in vs) for f, vs in meta["levels"].items()}
        return cls(
            arrays={k: np.asarray(v, dtype=np.float64) for k, v in arrays.items()},
            levels=levels,
        )


def feature_statistics(
    site: SiteCohort, spec: CohortSpec, prep: PreprocessingSpec
) -> SiteFeatureStats:
    """Sufficient statistics of ``site``'s train rows for every feature in ``spec``.

    Raises DataError if a feature has missing values and ``prep.missing == "error"``.
    """
    train = site.subset(test=False)
    if prep.missing == "error":
        _check_complete(train, spec)
    arrays: dict[str, np.ndarray] = {}
    levels: dict[str, tuple[str, ...]] = {}
    for name, kind in spec.features.items():
        column = train.features[name]
        if kind == "categorical":
            kept, counts = _level_counts(column, prep.min_cell_count)
            levels[name] = kept
            arrays[f"cat.{name}.n"] = np.array([float(len(column))])
            arrays[f"cat.{name}.counts"] = counts
        else:
            x = _parse(column, kind).values
            x = x[~np.isnan(x)]
            arrays[f"num.{name}.n"] = np.array([float(x.size)])
            arrays[f"num.{name}.sum"] = np.array([float(np.sum(x))])
            deviations = x - x.mean() if x.size else x
            arrays[f"num.{name}.m2"] = np.array([float(np.sum(deviations * deviations))])
    return SiteFeatureStats(arrays=arrays, levels=levels)


def _parse(column: pd.Series, kind: FeatureKind) -> Parsed:
    return parse_flag(column) if kind == "binary" else parse_numeric(column)


def _level_counts(column: pd.Series, min_cell_count: int) -> tuple[tuple[str, ...], np.ndarray]:
    counts = category_labels(column).dropna().value_counts()
    kept = sorted(str(level) for level, count in counts.items() if count >= min_cell_count)
    return tuple(kept), np.array([float(counts[level]) for level in kept])


def _check_complete(train: SiteCohort, spec: CohortSpec) -> None:
    rows = train.source_rows if train.source_rows is not None else np.arange(1, train.n + 1)
    problems: list[str] = []
    for name in spec.features:
        missing = train.features[name].isna().to_numpy()
        if missing.any():
            problems += cell_problems(name, missing, rows, "missing value", _EXPECTED_VALUE)
    raise_problems(f"{train.source} (site '{train.site}')", problems)


@dataclass(frozen=True, eq=False)
class Preprocessor:
    """Turns a site's raw ``features`` into a float64 design matrix.

    ``columns`` are the output names (``"age"``, ``"stage=II"``) in spec order, a
    categorical expanded in place into one column per kept level after the reference
    (its first kept level). ``means`` and ``scales`` (shape ``(len(columns),)``) centre
    and scale every output column, one-hot ones included (0 and 1 when not
    standardising; scale 1 for a constant column). ``fill`` is the raw-unit value
    (pooled train mean) put into a missing numeric or binary cell when ``missing`` is
    ``"impute_mean"``; a missing, unseen or suppressed level encodes as the reference.
    """

    columns: tuple[str, ...]
    means: np.ndarray
    scales: np.ndarray
    levels: Mapping[str, tuple[str, ...]]
    kinds: Mapping[str, FeatureKind]
    fill: Mapping[str, float]
    missing: str = "error"

    def transform(self, features: pd.DataFrame) -> np.ndarray:
        """Design matrix of shape ``(len(features), len(columns))``, float64.

        Raises DataError naming columns and 1-based row positions in ``features`` for
        absent columns, unparseable cells, or missing cells when ``missing == "error"``.
        """
        absent = [name for name in self.kinds if name not in features.columns]
        if absent:
            raise DataError(f"features: missing column(s) {', '.join(map(repr, absent))}")
        rows = np.arange(1, len(features) + 1)
        blocks: list[np.ndarray] = []
        problems: list[str] = []
        for name, kind in self.kinds.items():
            if kind == "categorical":
                block, found = self._one_hot(features[name], name, rows)
            else:
                block, found = self._number(features[name], name, kind, rows)
            blocks.append(block)
            problems += found
        raise_problems("features", problems)
        matrix = np.column_stack(blocks) if blocks else np.zeros((len(features), 0))
        return cast(np.ndarray, (matrix - self.means) / self.scales)

    def _number(
        self, column: pd.Series, name: str, kind: FeatureKind, rows: np.ndarray
    ) -> tuple[np.ndarray, list[str]]:
        parsed = _parse(column, kind)
        expected = "a number" if kind == "numeric" else "0/1 or True/False"
        problems = cell_problems(name, parsed.bad, rows, "unusable value", expected)
        if self.missing == "error":
            problems += cell_problems(name, parsed.missing, rows, "missing value", _EXPECTED_VALUE)
        values = np.where(np.isnan(parsed.values), self.fill[name], parsed.values)
        return values[:, None], problems

    def _one_hot(
        self, column: pd.Series, name: str, rows: np.ndarray
    ) -> tuple[np.ndarray, list[str]]:
        labels = category_labels(column)
        problems: list[str] = []
        if self.missing == "error":
            missing = labels.isna().to_numpy()
            problems = cell_problems(name, missing, rows, "missing value", _EXPECTED_VALUE)
        encoded = [(labels == level).to_numpy(dtype=np.float64) for level in self.levels[name][1:]]
        block = np.column_stack(encoded) if encoded else np.zeros((len(column), 0))
        return block, problems

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form (floats as JSON numbers; they round-trip exactly)."""
        return {
            "columns": list(self.columns),
            "means": [float(v) for v in self.means],
            "scales": [float(v) for v in self.scales],
            "levels": {f: list(v) for f, v in self.levels.items()},
            "kinds": dict(self.kinds),
            "fill": {f: float(v) for f, v in self.fill.items()},
            "missing": self.missing,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Preprocessor:
        """Inverse of :meth:`to_dict`; ConfigError when a field is absent."""
        try:
            return cls(
                columns=tuple(str(c) for c in data["columns"]),
                means=np.asarray(data["means"], dtype=np.float64),
                scales=np.asarray(data["scales"], dtype=np.float64),
                levels={str(f): tuple(map(str, v)) for f, v in data["levels"].items()},
                kinds={str(f): cast(FeatureKind, k) for f, k in data["kinds"].items()},
                fill={str(f): float(v) for f, v in data["fill"].items()},
                missing=str(data["missing"]),
            )
        except KeyError as exc:
            raise ConfigError(f"preprocessor: field {exc} is missing") from None


def fit_preprocessor(
    stats: Sequence[SiteFeatureStats], spec: CohortSpec, prep: PreprocessingSpec
) -> Preprocessor:
    """Pool the sites' statistics into a :class:`Preprocessor`.

    Means and sample standard deviations (ddof=1) come exactly from the summed counts,
    sums and sums of squares, so they equal pandas ``mean()``/``std()`` of the pooled
    train rows (up to rounding) when no cell was suppressed. Categorical levels whose
    summed count reaches ``prep.min_cell_count`` are kept (sorted); the first is the
    reference. Raises AggregationError for missing statistics and PrivacyError if a
    site sent an unsuppressed small count.
    """
    if not stats:
        raise AggregationError("feature statistics: no sites sent any; expected >= 1")
    columns: list[str] = []
    moments: list[tuple[float, float, float]] = []  # (mean, variance, mean square)
    levels: dict[str, tuple[str, ...]] = {}
    fill: dict[str, float] = {}
    for name, kind in spec.features.items():
        if kind == "categorical":
            kept, counts, n = _pooled_levels(stats, name, prep.min_cell_count)
            levels[name] = kept
            for level, count in zip(kept[1:], counts[1:], strict=True):
                columns.append(f"{name}={level}")
                moments.append(_moments(n, count, count))
        else:
            n, total = (_pooled(stats, f"num.{name}.{k}") for k in ("n", "sum"))
            if n == 0:
                raise DataError(f"column '{name}': no non-missing train values at any site")
            columns.append(name)
            moments.append(_combined_moments(stats, f"num.{name}"))
            fill[name] = total / n
    means, scales = _centre_and_scale(moments, prep.standardise)
    return Preprocessor(
        columns=tuple(columns),
        means=means,
        scales=scales,
        levels=levels,
        kinds=dict(spec.features),
        fill=fill,
        missing=prep.missing,
    )


def _pooled(stats: Sequence[SiteFeatureStats], key: str) -> float:
    try:
        return math.fsum(float(s.arrays[key][0]) for s in stats)
    except KeyError:
        raise AggregationError(f"feature statistics: a site sent no '{key}'") from None


def _pooled_levels(
    stats: Sequence[SiteFeatureStats], name: str, min_cell_count: int
) -> tuple[tuple[str, ...], list[float], float]:
    """Kept levels (sorted), their pooled counts, and the pooled number of rows."""
    totals: dict[str, float] = {}
    for site in stats:
        counts = site.arrays.get(f"cat.{name}.counts")
        site_levels = site.levels.get(name)
        if counts is None or site_levels is None or len(counts) != len(site_levels):
            raise AggregationError(f"feature statistics: a site sent no counts for '{name}'")
        if np.any((counts > 0) & (counts < min_cell_count)):
            raise PrivacyError(
                f"feature statistics: a site sent a count below min_cell_count for '{name}'"
            )
        for level, count in zip(site_levels, counts, strict=True):
            totals[level] = totals.get(level, 0.0) + float(count)
    kept = tuple(sorted(lv for lv, c in totals.items() if c >= min_cell_count))
    return kept, [totals[lv] for lv in kept], _pooled(stats, f"cat.{name}.n")


def _combined_moments(stats: Sequence[SiteFeatureStats], key: str) -> tuple[float, float, float]:
    """(mean, variance, mean square) of the pooled values from each site's n, sum and m2:
    the within-site m2 plus the between-site spread of the site means (Chan et al.)."""
    parts = [
        (
            float(s.arrays[f"{key}.n"][0]),
            float(s.arrays[f"{key}.sum"][0]),
            s.arrays.get(f"{key}.m2"),
        )
        for s in stats
    ]
    if any(m2 is None for _, _, m2 in parts):
        raise AggregationError(f"feature statistics: a site sent no '{key}.m2'")
    n = math.fsum(p[0] for p in parts)
    mean = math.fsum(p[1] for p in parts) / n
    within = math.fsum(float(m2[0]) for _, _, m2 in parts if m2 is not None)
    between = math.fsum(k * (s / k - mean) ** 2 for k, s, _ in parts if k > 0)
    m2 = within + between
    variance = m2 / (n - 1) if n > 1 else 0.0
    return mean, variance, m2 / n + mean * mean


def _moments(n: float, total: float, total_sq: float) -> tuple[float, float, float]:
    mean = total / n
    variance = (total_sq - total * mean) / (n - 1) if n > 1 else 0.0
    return mean, variance, total_sq / n


def _centre_and_scale(
    moments: Sequence[tuple[float, float, float]], standardise: bool
) -> tuple[np.ndarray, np.ndarray]:
    if not standardise:
        return np.zeros(len(moments)), np.ones(len(moments))
    means = np.array([m for m, _, _ in moments], dtype=np.float64)
    scales = np.array(
        [math.sqrt(v) if v > _ZERO_VARIANCE * max(sq, 1e-300) else 1.0 for _, v, sq in moments],
        dtype=np.float64,
    )
    return means, scales

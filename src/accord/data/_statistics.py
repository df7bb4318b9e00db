"""Federated preprocessing statistics, in three stages whose replies can be securely summed.

1. **levels** (the ``schema`` task, in clear): each categorical feature's levels seen at
   least ``min_cell_count`` times at the site; the hub unions them into the consortium
   vocabulary (:func:`consortium_vocabulary`).
2. **sums** (``stats``, stage ``sums``): per numeric or binary feature ``f`` the
   non-missing count ``num.{f}.n`` and sum ``num.{f}.sum``; per categorical feature the
   rows ``cat.{f}.n`` and the counts ``cat.{f}.counts`` over the vocabulary. Every array has
   the same name and shape at every site, so the hub can add them under secure
   aggregation and learn only the consortium totals.
3. **spread** (``stats``, stage ``spread``): per numeric or binary feature the sum of
   squared deviations about the consortium mean from stage 2, ``num.{f}.m2``. A two-pass
   variance: no sums of squares to cancel, so the pooled standard deviation equals pandas'
   to rounding even for values far from zero that vary little.

In clear — no secure aggregation, so the hub sees each site's reply — a site never
releases a small count: a level count below ``min_cell_count`` is sent as 0, and a
feature with between 1 and ``min_cell_count - 1`` missing values is refused
(:class:`PrivacyError`): its non-missing count would reveal how many patients lack it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from accord.core import (
    AggregationError,
    Arrays,
    CohortSpec,
    DataError,
    FeatureKind,
    PreprocessingSpec,
    PrivacyError,
)
from accord.data._cohort import SiteCohort
from accord.data._parsing import category_labels, parse_flag, parse_numeric
from accord.data._preprocessing import Preprocessor, check_complete, moments_to_scales

__all__ = [
    "Vocabulary",
    "add_arrays",
    "consortium_vocabulary",
    "feature_levels",
    "feature_spread",
    "feature_sums",
    "fit_preprocessor",
    "pool_sites",
    "pooled_means",
]

Vocabulary = dict[str, tuple[str, ...]]
"""Per categorical feature, the levels (sorted) that some site saw often enough."""


def _values(column: pd.Series, kind: FeatureKind) -> np.ndarray:
    parsed = parse_flag(column) if kind == "binary" else parse_numeric(column)
    x = np.asarray(parsed.values, dtype=np.float64)
    kept: np.ndarray = x[~np.isnan(x)]
    return kept


def feature_levels(site: SiteCohort, spec: CohortSpec, prep: PreprocessingSpec) -> Vocabulary:
    """Stage 1: the categorical levels seen at least ``min_cell_count`` times in ``site``'s
    train rows. Raises DataError for missing values when ``prep.missing == "error"``."""
    train = site.subset(test=False)
    if prep.missing == "error":
        check_complete(train, spec)
    out: Vocabulary = {}
    for name, kind in spec.features.items():
        if kind == "categorical":
            counts = category_labels(train.features[name]).dropna().value_counts()
            out[name] = tuple(sorted(str(v) for v, c in counts.items() if c >= prep.min_cell_count))
    return out


def consortium_vocabulary(
    levels: Iterable[Mapping[str, Sequence[str]]], spec: CohortSpec
) -> Vocabulary:
    """The union of the sites' levels per categorical feature, sorted."""
    union: dict[str, set[str]] = {n: set() for n, k in spec.features.items() if k == "categorical"}
    for site in levels:
        for name in union:
            union[name].update(str(v) for v in site.get(name, ()))
    return {name: tuple(sorted(values)) for name, values in union.items()}


def feature_sums(
    site: SiteCohort,
    spec: CohortSpec,
    prep: PreprocessingSpec,
    vocabulary: Mapping[str, Sequence[str]],
    *,
    secure: bool,
) -> Arrays:
    """Stage 2: counts and sums of ``site``'s train rows, aligned on ``vocabulary``.

    ``secure``: the reply is masked and only the consortium total is learnt; otherwise
    small counts are withheld (see the module docstring).
    """
    train = site.subset(test=False)
    if prep.missing == "error":
        check_complete(train, spec)
    small = prep.min_cell_count
    arrays: Arrays = {}
    for name, kind in spec.features.items():
        column = train.features[name]
        if kind == "categorical":
            labels = category_labels(column)
            levels = tuple(vocabulary.get(name, ()))
            counts = np.array([float((labels == level).sum()) for level in levels])
            if not secure:
                counts[counts < small] = 0.0
            arrays[f"cat.{name}.n"] = np.array([float(len(column))])
            arrays[f"cat.{name}.counts"] = counts.reshape(1, -1)
        else:
            x = _values(column, kind)
            missing = len(column) - x.size
            if not secure and 0 < missing < small:
                raise PrivacyError(
                    f"site '{site.site}': column '{name}' has fewer than {small} missing "
                    "values; its count would leave the site in clear (run with secure "
                    "aggregation, or impute at the site)"
                )
            arrays[f"num.{name}.n"] = np.array([float(x.size)])
            arrays[f"num.{name}.sum"] = np.array([math.fsum(x)])
    return arrays


def pooled_means(sums: Mapping[str, np.ndarray], spec: CohortSpec) -> dict[str, float]:
    """The consortium mean of every numeric or binary feature from the summed stage 2."""
    means: dict[str, float] = {}
    for name, kind in spec.features.items():
        if kind == "categorical":
            continue
        n, total = _scalar(sums, f"num.{name}.n"), _scalar(sums, f"num.{name}.sum")
        if n < 0.5:
            raise DataError(f"column '{name}': no non-missing train values at any site")
        means[name] = total / round(n)
    return means


def feature_spread(site: SiteCohort, spec: CohortSpec, means: Mapping[str, float]) -> Arrays:
    """Stage 3: per numeric or binary feature, the sum of squared deviations of ``site``'s
    train values about the consortium ``means``."""
    train = site.subset(test=False)
    arrays: Arrays = {}
    for name, kind in spec.features.items():
        if kind != "categorical":
            d = _values(train.features[name], kind) - float(means[name])
            arrays[f"num.{name}.m2"] = np.array([math.fsum(d * d)])
    return arrays


def fit_preprocessor(
    sums: Mapping[str, np.ndarray],
    spread: Mapping[str, np.ndarray],
    vocabulary: Mapping[str, Sequence[str]],
    spec: CohortSpec,
    prep: PreprocessingSpec,
) -> Preprocessor:
    """The consortium :class:`Preprocessor` from the summed stages 2 and 3.

    Categorical levels whose consortium count reaches ``min_cell_count`` are kept; the
    first kept level is the reference. Raises AggregationError when a statistic is
    missing, DataError for a feature with no value anywhere.
    """
    columns: list[str] = []
    moments: list[tuple[float, float, float]] = []  # (mean, variance, mean square)
    levels: dict[str, tuple[str, ...]] = {}
    fill: dict[str, float] = {}
    means = pooled_means(sums, spec)
    for name, kind in spec.features.items():
        if kind == "categorical":
            vocab = tuple(vocabulary.get(name, ()))
            counts = np.asarray(sums.get(f"cat.{name}.counts", np.zeros((1, 0)))).reshape(-1)
            if counts.size != len(vocab):
                raise AggregationError(f"feature statistics: counts of '{name}' do not match")
            n = _scalar(sums, f"cat.{name}.n")
            kept = [(lv, float(c)) for lv, c in zip(vocab, counts, strict=True)]
            kept = [(lv, c) for lv, c in kept if round(c) >= prep.min_cell_count]
            levels[name] = tuple(lv for lv, _ in kept)
            for level, count in kept[1:]:
                columns.append(f"{name}={level}")
                mean = count / n
                moments.append((mean, (count - count * mean) / (n - 1) if n > 1 else 0.0, mean))
        else:
            n, m2 = round(_scalar(sums, f"num.{name}.n")), _scalar(spread, f"num.{name}.m2")
            mean = means[name]
            columns.append(name)
            moments.append((mean, m2 / (n - 1) if n > 1 else 0.0, m2 / n + mean * mean))
            fill[name] = mean
    centres, scales = moments_to_scales(moments, prep.standardise)
    return Preprocessor(
        columns=tuple(columns),
        means=centres,
        scales=scales,
        levels=levels,
        kinds=dict(spec.features),
        fill=fill,
        missing=prep.missing,
    )


def pool_sites(
    sites: Sequence[SiteCohort], spec: CohortSpec, prep: PreprocessingSpec, *, secure: bool = True
) -> Preprocessor:
    """The three stages run in this process over ``sites`` and summed in clear: what the
    consortium computes (tests and benchmarks; a real hub never holds the sites)."""
    if not sites:
        raise AggregationError("feature statistics: no sites sent any; expected >= 1")
    vocabulary = consortium_vocabulary((feature_levels(s, spec, prep) for s in sites), spec)
    sums = add_arrays(feature_sums(s, spec, prep, vocabulary, secure=secure) for s in sites)
    spread = add_arrays(feature_spread(s, spec, pooled_means(sums, spec)) for s in sites)
    return fit_preprocessor(sums, spread, vocabulary, spec, prep)


def add_arrays(parts: Iterable[Mapping[str, np.ndarray]]) -> Arrays:
    """Element-wise sums of named arrays (every part has the same names and shapes)."""
    total: Arrays = {}
    for part in parts:
        for key, value in part.items():
            total[key] = total[key] + value if key in total else np.asarray(value, np.float64)
    return total


def _scalar(arrays: Mapping[str, np.ndarray], key: str) -> float:
    try:
        return float(np.asarray(arrays[key]).reshape(-1)[0])
    except (KeyError, IndexError):
        raise AggregationError(f"feature statistics: no '{key}' was summed") from None

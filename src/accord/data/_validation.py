"""Validation of cohort tables (per file) and of a whole cohort (across sites).

Every failure is a :class:`~accord.core._errors.DataError` whose message names the file,
the column, how many cells are wrong, their 1-based row numbers (header excluded), the
kind of problem and what was expected. No message ever contains a cell's value, an
identifier or a category level.

Row numbers come from the frame's index: a frame passed to :func:`validate_site_table`
must be indexed by 0-based data-row position in ``source`` (as the loaders produce; a
per-site slice of a bigger file keeps the file's index).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from accord.core import CohortSpec, DataError, FeatureKind, PreprocessingSpec, format_rows
from accord.data._parsing import category_labels, parse_flag, parse_numeric

if TYPE_CHECKING:
    from accord.data._cohort import Cohort

__all__ = ["validate_cohort", "validate_feature_table", "validate_site_table"]

_FLAG_EXPECTED = "0/1 or True/False"


def validate_site_table(
    df: pd.DataFrame,
    spec: CohortSpec,
    source: str,
    site: str | None = None,
    preprocessing: PreprocessingSpec | None = None,
) -> None:
    """Check one table; ``site=None`` means ``df`` holds several sites (``site_column``).

    Missing feature values are an error only when ``preprocessing.missing == "error"``
    (with ``preprocessing=None`` they are left to :mod:`accord.data._preprocessing`).
    """
    where = source if site is None else f"{source} (site '{site}')"
    if len(df) == 0:
        raise DataError(f"{where}: no data rows; expected at least 1")
    _check_columns(df, spec, where, whole_table=site is None)
    rows = df.index.to_numpy() + 1
    strict = preprocessing is not None and preprocessing.missing == "error"
    problems = [
        *_time_problems(df[spec.time_column], spec.time_column, rows),
        *_flag_problems(df[spec.event_column], spec.event_column, rows, missing_ok=False),
        *_id_problems(df, spec.id_column, rows),
        *_split_problems(df, spec.split_column, rows),
        *_feature_problems(df, spec.features, rows, missing_ok=not strict),
    ]
    if site is None and spec.site_column is not None:
        missing = category_labels(df[spec.site_column]).isna().to_numpy()
        problems += cell_problems(
            spec.site_column, missing, rows, "missing value", "a site for every row"
        )
    raise_problems(where, problems)


def validate_feature_table(
    df: pd.DataFrame, features: Mapping[str, FeatureKind], source: str, *, missing_ok: bool
) -> None:
    """Check the feature columns of a table of new rows (no outcome columns needed), as
    :func:`validate_site_table` checks them: every column present, numbers and flags
    parseable, and no missing value unless ``missing_ok``. ``df`` is indexed by 0-based
    data-row position in ``source``."""
    if len(df) == 0:
        raise DataError(f"{source}: no data rows; expected at least 1")
    absent = [f for f in features if f not in df.columns]
    if absent:
        names = ", ".join(f"'{c}'" for c in absent)
        raise DataError(
            f"{source}: missing feature column{_s(absent)} {names}; expected the columns "
            "the model was trained on"
        )
    rows = df.index.to_numpy() + 1
    raise_problems(source, _feature_problems(df, features, rows, missing_ok=missing_ok))


def validate_cohort(cohort: Cohort, spec: CohortSpec) -> tuple[str, ...]:
    """Consortium-level checks: every site has train rows; some site has training events;
    no categorical level is seen at exactly one site (when there are several sites).

    A site without training events is no error (its stratum adds nothing to a stratified
    Cox fit, and its local-only baseline fails with that reason): the returned notes say so.
    """
    if not cohort.sites:
        raise DataError("cohort: no sites; expected at least 1")
    problems: list[str] = []
    eventless: list[str] = []
    for site_id, site in cohort.sites.items():
        train = ~site.is_test
        if not train.any():
            problems.append(f"site '{site_id}' ({site.source}): no train rows; expected >= 1")
        elif not site.event[train].any():
            eventless.append(site_id)
    if len(cohort.sites) > 1 and len(eventless) == len(cohort.sites):
        problems.append("no site has an event among its train rows; expected at least 1")
    if len(cohort.sites) > 1:
        problems += _single_site_levels(cohort, spec)
    raise_problems("cohort", problems)
    return tuple(
        f"site '{site_id}': no events among its train rows: it contributes nothing to a "
        "site-stratified Cox fit (its stratum has no event), and its local-only baseline "
        "cannot be trained"
        for site_id in eventless
    )


def raise_problems(where: str, problems: Sequence[str]) -> None:
    """Raise one DataError listing ``problems`` (one line each) if there are any."""
    if len(problems) == 1:
        raise DataError(f"{where}: {problems[0]}")
    if problems:
        listed = "\n".join(f"  - {p}" for p in problems)
        raise DataError(f"{where}: {len(problems)} problems:\n{listed}")


def cell_problems(
    column: str, mask: np.ndarray, rows: np.ndarray, what: str, expected: str, tail: str = ""
) -> list[str]:
    count = int(mask.sum())
    if count == 0:
        return []
    plural = "" if count == 1 else "s"
    where_rows = format_rows([int(r) for r in rows[mask]])
    return [
        f"column '{column}' has {count} {what}{plural}{tail} ({where_rows}); expected {expected}"
    ]


def _check_columns(df: pd.DataFrame, spec: CohortSpec, where: str, whole_table: bool) -> None:
    wanted = [spec.time_column, spec.event_column, spec.id_column, spec.split_column]
    if whole_table:
        wanted.append(spec.site_column)
    present = set(df.columns)
    absent = [c for c in wanted if c is not None and c not in present]
    absent_features = [f for f in spec.features if f not in present]
    parts = []
    if absent:
        parts.append("missing column" + _s(absent) + " " + ", ".join(f"'{c}'" for c in absent))
    if absent_features:
        names = ", ".join(f"'{c}'" for c in absent_features)
        parts.append("missing feature column" + _s(absent_features) + " " + names)
    if parts:
        raise DataError(f"{where}: {'; '.join(parts)}; expected the columns named in the study")


def _s(items: Sequence[object]) -> str:
    return "" if len(items) == 1 else "s"


def _time_problems(series: pd.Series, column: str, rows: np.ndarray) -> list[str]:
    parsed = parse_numeric(series)
    negative = ~np.isnan(parsed.values) & (parsed.values < 0)
    return [
        *cell_problems(column, parsed.missing, rows, "missing value", "a time for every row"),
        *cell_problems(column, parsed.bad, rows, "non-numeric or non-finite value", "a number"),
        *cell_problems(column, negative, rows, "negative value", ">= 0"),
    ]


def _flag_problems(series: pd.Series, column: str, rows: np.ndarray, missing_ok: bool) -> list[str]:
    parsed = parse_flag(series)
    problems = cell_problems(
        column, parsed.bad, rows, "value", _FLAG_EXPECTED, tail=" outside {0, 1}"
    )
    if not missing_ok:
        problems += cell_problems(column, parsed.missing, rows, "missing value", _FLAG_EXPECTED)
    return problems


def _id_problems(df: pd.DataFrame, column: str | None, rows: np.ndarray) -> list[str]:
    if column is None:
        return []
    ids = category_labels(df[column])
    missing = ids.isna().to_numpy()
    duplicated = (ids.duplicated(keep=False) & ids.notna()).to_numpy()
    return [
        *cell_problems(column, missing, rows, "missing id", "an id for every row"),
        *cell_problems(column, duplicated, rows, "row", "unique ids", tail=" with a duplicated id"),
    ]


def _split_problems(df: pd.DataFrame, column: str | None, rows: np.ndarray) -> list[str]:
    if column is None:
        return []
    labels = category_labels(df[column]).str.lower()
    bad = ~labels.isin(["train", "test"]).to_numpy()
    return cell_problems(
        column, bad, rows, "value", "'train' or 'test'", tail=" other than train/test"
    )


def _feature_problems(
    df: pd.DataFrame, features: Mapping[str, FeatureKind], rows: np.ndarray, missing_ok: bool
) -> list[str]:
    problems: list[str] = []
    for name, kind in features.items():
        if kind == "binary":
            problems += _flag_problems(df[name], name, rows, missing_ok=missing_ok)
            continue
        if kind in ("numeric", "log_numeric"):
            parsed = parse_numeric(df[name])
            problems += cell_problems(name, parsed.bad, rows, "non-numeric value", "a number")
            missing = parsed.missing
        else:
            missing = category_labels(df[name]).isna().to_numpy()
        if not missing_ok:
            problems += cell_problems(
                name,
                missing,
                rows,
                "missing value",
                'a value (or preprocessing.missing = "impute_mean")',
            )
    return problems


def _single_site_levels(cohort: Cohort, spec: CohortSpec) -> list[str]:
    problems: list[str] = []
    for name, kind in spec.features.items():
        if kind != "categorical":
            continue
        seen_at: dict[str, int] = {}
        for site in cohort.sites.values():
            for level in set(site.features[name].dropna()):
                seen_at[level] = seen_at.get(level, 0) + 1
        lonely = sum(1 for n in seen_at.values() if n == 1)
        if lonely:
            problems.append(
                f"column '{name}' has {lonely} level{'' if lonely == 1 else 's'} seen at exactly "
                "one site; expected every level at >= 2 sites (merge rare levels)"
            )
    return problems

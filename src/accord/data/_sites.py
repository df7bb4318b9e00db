"""Assigning the rows of one table to sites, optionally merging institutions into groups."""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from accord.core import ConfigError, DataError, format_rows
from accord.data._parsing import category_labels

__all__ = ["split_by_site"]


def split_by_site(
    df: pd.DataFrame, column: str, groups: Mapping[str, tuple[str, ...]], source: str
) -> dict[str, pd.DataFrame]:
    """Rows per site id, sorted by id; each slice keeps ``df``'s index (row numbers).

    Without ``groups`` each distinct value of ``column`` is a site. With ``groups``
    (site id -> raw values, as text) every row's value must be in exactly one group, and
    every group must have rows. Rows with an empty site cell must be removed (or reported)
    before this is called.
    """
    labels = category_labels(df[column])
    if groups:
        lookup = _group_lookup(groups)
        site_ids = labels.map(lookup)
        stray = (site_ids.isna() & labels.notna()).to_numpy()
        if stray.any():
            rows = format_rows([int(i) + 1 for i in df.index[stray]])
            raise DataError(
                f"{source}: column '{column}' has {int(stray.sum())} rows whose site is in no "
                f"site group ({rows}); expected every site listed in cohort.site_groups"
            )
        empty = sorted(set(groups) - set(site_ids.dropna()))
        if empty:
            names = ", ".join(f"'{g}'" for g in empty)
            raise DataError(f"{source}: site group {names} has no rows; expected >= 1")
    else:
        site_ids = labels
    return {str(s): df[(site_ids == s).to_numpy()] for s in sorted(site_ids.dropna().unique())}


def _group_lookup(groups: Mapping[str, tuple[str, ...]]) -> dict[str, str]:
    lookup: dict[str, str] = {}
    for group, raw_values in groups.items():
        for raw in raw_values:
            key = raw.strip()
            if key in lookup:
                raise ConfigError(
                    f"cohort.site_groups: a site value is listed in both '{lookup[key]}' and "
                    f"'{group}'; expected each value in one group"
                )
            lookup[key] = group
    return lookup

"""Cohorts: the validated rows of every site, with times in days and a train/test split.

:func:`load_cohort` reads a study's cohort (tables or a built-in public dataset), checks
it with :mod:`accord.data._validation` and returns one :class:`SiteCohort` per site.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

import numpy as np
import pandas as pd

from accord.core import (
    CohortSpec,
    ConfigError,
    DataError,
    FeatureKind,
    MissingFileError,
    PreprocessingSpec,
    format_rows,
)
from accord.data._flamby import FLAMBY_SOURCE, read_flamby_brca
from accord.data._lung import LUNG_SOURCE, read_lifelines_lung
from accord.data._parsing import TIME_UNIT_DAYS, category_labels, parse_flag, parse_numeric
from accord.data._sites import split_by_site
from accord.data._splits import stratified_test_mask, test_mask_from_column
from accord.data._tables import read_table
from accord.data._validation import validate_cohort, validate_site_table

__all__ = ["Cohort", "SiteCohort", "feature_frame", "load_cohort", "load_site_cohort"]


@dataclass(frozen=True, eq=False)
class SiteCohort:
    """One site's rows. Arrays have shape (n,); ``features`` has n rows and a RangeIndex.

    ``features`` holds the spec's feature columns in spec order: numeric and binary as
    float64 (NaN where missing), categorical as label strings (None where missing).
    ``source_rows`` (optional) are the 1-based data-row numbers in ``source``, for messages.
    """

    site: str
    source: str
    features: pd.DataFrame
    time_days: np.ndarray
    event: np.ndarray
    is_test: np.ndarray
    source_rows: np.ndarray | None = None
    slides: tuple[str, ...] | None = None  # each patient's slide file (absolute path)

    def __post_init__(self) -> None:
        n = len(self.features)
        arrays = [self.time_days, self.event, self.is_test]
        if self.source_rows is not None:
            arrays.append(self.source_rows)
        if any(a.shape != (n,) for a in arrays):
            raise ValueError(f"site '{self.site}': arrays must have shape ({n},)")

    @property
    def n(self) -> int:
        return len(self.features)

    @property
    def n_test(self) -> int:
        return int(self.is_test.sum())

    @property
    def n_train(self) -> int:
        return self.n - self.n_test

    @property
    def n_events(self) -> int:
        return int(self.event.sum())

    def subset(self, test: bool) -> SiteCohort:
        """The rows of one split (``test=True``: test rows), re-indexed from 0."""
        return self.take(self.is_test == test)

    def take(self, mask: np.ndarray) -> SiteCohort:
        """The rows where the boolean ``mask`` is true, re-indexed from 0."""
        return SiteCohort(
            site=self.site,
            source=self.source,
            features=self.features[mask].reset_index(drop=True),
            time_days=self.time_days[mask],
            event=self.event[mask],
            is_test=self.is_test[mask],
            source_rows=None if self.source_rows is None else self.source_rows[mask],
            slides=None if self.slides is None else tuple(np.asarray(self.slides)[mask]),
        )


@dataclass(frozen=True, eq=False)
class Cohort:
    """All sites, ordered by site id; ``notes`` are non-fatal facts (counts only)."""

    sites: Mapping[str, SiteCohort]
    notes: tuple[str, ...] = field(default=())

    @property
    def site_ids(self) -> tuple[str, ...]:
        return tuple(self.sites)

    def pooled(self) -> SiteCohort:
        """All sites' rows concatenated in site order: for the pooled *baseline* only."""
        parts = list(self.sites.values())
        rows = [p.source_rows for p in parts if p.source_rows is not None]
        return SiteCohort(
            site="pooled",
            source="pooled",
            features=pd.concat([p.features for p in parts], ignore_index=True),
            time_days=np.concatenate([p.time_days for p in parts]),
            event=np.concatenate([p.event for p in parts]),
            is_test=np.concatenate([p.is_test for p in parts]),
            source_rows=np.concatenate(rows) if len(rows) == len(parts) else None,
            slides=_pooled_slides(parts),
        )


def _pooled_slides(parts: list[SiteCohort]) -> tuple[str, ...] | None:
    if any(p.slides is None for p in parts):
        return None
    return tuple(s for p in parts for s in (p.slides or ()))


def load_cohort(
    spec: CohortSpec,
    data_dir: Path | None,
    seed: int,
    preprocessing: PreprocessingSpec | None = None,
) -> Cohort:
    """Read, validate and split the cohort ``spec`` describes.

    ``data_dir`` holds the table files (ignored for ``lifelines-lung``; the current folder
    when None). ``seed`` drives the per-site stratified split when there is no
    ``split_column``. Pass ``preprocessing`` to reject missing feature values at load
    time when ``preprocessing.missing == "error"``. Raises DataError or ConfigError.
    """
    tables, read_as, notes = _site_tables(spec, data_dir, preprocessing)
    folder = data_dir if data_dir is not None else Path(".")
    sites = {
        site: _site_cohort(site, source, frame, read_as, seed, _table_folder(folder, source))
        for site, (source, frame) in sorted(tables.items())
    }
    cohort = Cohort(sites=MappingProxyType(sites), notes=notes)
    found = validate_cohort(cohort, read_as)
    return Cohort(sites=cohort.sites, notes=(*notes, *found)) if found else cohort


def load_site_cohort(
    spec: CohortSpec,
    path: Path,
    site: str,
    seed: int,
    preprocessing: PreprocessingSpec | None = None,
) -> Cohort:
    """One site's own rows as a one-site :class:`Cohort` (a deployed site loads only these).

    ``path`` is the site's data folder: for ``site-folders`` studies the folder holding
    ``spec.table`` itself (or a folder of site sub-folders), else what :func:`load_cohort`
    reads. The rows and their split are those the same site gets in a simulation of the
    whole consortium (the split is seeded by ``seed`` and the site's name).
    """
    if spec.source == "site-folders" and (path / spec.table).is_file():
        text = tuple(c for c in (spec.id_column, spec.split_column, spec.slide_column) if c)
        frame = read_table(path / spec.table, spec.table, text)
        validate_site_table(frame, spec, spec.table, site=site, preprocessing=preprocessing)
        one = _site_cohort(site, spec.table, frame, spec, seed, path)
        return Cohort(sites=MappingProxyType({site: one}))
    cohort = load_cohort(spec, path, seed, preprocessing)
    if site not in cohort.sites:
        raise DataError(f"{path}: no rows of site '{site}' in this data folder")
    return Cohort(sites=MappingProxyType({site: cohort.sites[site]}), notes=cohort.notes)


_Tables = dict[str, tuple[str, pd.DataFrame]]


def _site_tables(
    spec: CohortSpec, data_dir: Path | None, prep: PreprocessingSpec | None
) -> tuple[_Tables, CohortSpec, tuple[str, ...]]:
    """Validated raw rows per site: ``{site: (source name, frame)}``, the spec, notes."""
    if spec.source == "flamby-tcga-brca":
        frame, read_as, notes = read_flamby_brca(spec, data_dir)
        return _one_table(frame, FLAMBY_SOURCE, read_as, prep), read_as, notes
    if spec.source == "lifelines-lung":
        frame, read_as, notes = read_lifelines_lung(spec)
        return _one_table(frame, LUNG_SOURCE, read_as, prep), read_as, notes
    folder = data_dir if data_dir is not None else Path(".")
    text = tuple(
        c for c in (spec.id_column, spec.site_column, spec.split_column, spec.slide_column) if c
    )
    if spec.source == "site-folders":
        return _site_folders(folder, spec, text, prep), spec, ()
    if spec.files:
        if len(spec.files) != 1:
            raise ConfigError("cohort.files: give one table with a site_column, or use 'sites'")
        frame = read_table(folder / spec.files[0], spec.files[0], text)
        return _one_table(frame, spec.files[0], spec, prep), spec, ()
    if spec.site_groups:
        raise ConfigError("cohort.site_groups: needs one table with a site_column, not 'sites'")
    tables: _Tables = {}
    for site, name in spec.sites.items():
        frame = read_table(folder / name, name, text)
        validate_site_table(frame, spec, name, site=site, preprocessing=prep)
        tables[site] = (name, frame)
    return tables, spec, ()


def _site_folders(
    folder: Path, spec: CohortSpec, text: tuple[str, ...], prep: PreprocessingSpec | None
) -> _Tables:
    """Every sub-folder of ``folder`` with a ``spec.table`` file is one site."""
    if not folder.is_dir():
        raise MissingFileError(f"{folder.absolute()}: no such data folder (of site folders)")
    tables: _Tables = {}
    for sub in sorted(p for p in folder.iterdir() if p.is_dir()):
        if not (sub / spec.table).exists():
            continue
        name = f"{sub.name}/{spec.table}"
        frame = read_table(sub / spec.table, name, text)
        validate_site_table(frame, spec, name, site=sub.name, preprocessing=prep)
        tables[sub.name] = (name, frame)
    if not tables:
        raise DataError(f"{folder.absolute()}: no site folder holds a '{spec.table}' file")
    return tables


def _table_folder(folder: Path, source: str) -> Path:
    """The folder a site's table lives in (slide paths are relative to it)."""
    return (folder / source).parent


def _slides(
    frame: pd.DataFrame, spec: CohortSpec, source: str, base: Path
) -> tuple[str, ...] | None:
    if spec.slide_column is None:
        return None
    names = frame[spec.slide_column]
    paths = [base / str(n) for n in names]
    missing = [
        i + 1
        for i, (n, p) in enumerate(zip(names, paths, strict=True))
        if pd.isna(n) or not p.is_file()
    ]
    if missing:
        raise DataError(
            f"{source}: column '{spec.slide_column}' names {len(missing)} slide files that do "
            f"not exist ({format_rows(missing)}); expected files relative to the table's folder"
        )
    return tuple(str(p.resolve()) for p in paths)


def _one_table(
    frame: pd.DataFrame, source: str, spec: CohortSpec, prep: PreprocessingSpec | None
) -> _Tables:
    if spec.site_column is None:
        raise ConfigError("cohort.site_column: required when sites share one table")
    validate_site_table(frame, spec, source, site=None, preprocessing=prep)
    by_site = split_by_site(frame, spec.site_column, spec.site_groups, source)
    return {site: (source, rows) for site, rows in by_site.items()}


def _site_cohort(
    site: str, source: str, frame: pd.DataFrame, spec: CohortSpec, seed: int, base: Path
) -> SiteCohort:
    event = parse_flag(frame[spec.event_column]).values == 1.0
    if spec.split_column is not None:
        is_test = test_mask_from_column(frame[spec.split_column])
    else:
        is_test = stratified_test_mask(event, spec.test_fraction, seed, site)
    return SiteCohort(
        site=site,
        source=source,
        features=feature_frame(frame, spec.features),
        time_days=parse_numeric(frame[spec.time_column]).values * TIME_UNIT_DAYS[spec.time_unit],
        event=event,
        is_test=is_test,
        source_rows=frame.index.to_numpy(dtype=np.int64) + 1,
        slides=_slides(frame, spec, source, base),
    )


def feature_frame(frame: pd.DataFrame, features: Mapping[str, FeatureKind]) -> pd.DataFrame:
    """The ``features`` columns of a validated table as a :class:`SiteCohort` holds them
    (numbers and flags as float64, ``log_numeric`` as ``log1p`` of the value clipped at 0,
    categoricals as label strings), in ``features``' order, with a RangeIndex: the input
    :meth:`~accord.data.Preprocessor.transform` expects, for a cohort's rows or new ones."""
    columns: dict[str, pd.Series | np.ndarray] = {}
    for name, kind in features.items():
        if kind == "categorical":
            columns[name] = category_labels(frame[name]).to_numpy(dtype=object)
        elif kind == "binary":
            columns[name] = parse_flag(frame[name]).values
        elif kind == "log_numeric":
            columns[name] = np.log1p(np.clip(parse_numeric(frame[name]).values, 0.0, None))
        else:
            columns[name] = parse_numeric(frame[name]).values
    return pd.DataFrame(columns, index=pd.RangeIndex(len(frame)))

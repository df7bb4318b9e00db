"""What a site publishes when it registers a dataset: its schema and rounded counts.

``accord site dataset add`` reads the site's own table and releases only the column names
and kinds, the row and event counts (suppressed below the small-cell threshold, else
rounded to a multiple of :data:`COUNT_STEP`) and a SHA-256 of the table file, so that
later runs can show they used the registered rows. No value of any row leaves.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from accord.core import DataError
from accord.data._parsing import parse_flag
from accord.data._tables import TABLE_SUFFIXES, read_table

__all__ = ["COUNT_STEP", "DatasetSummary", "released_count", "summarise_dataset"]

COUNT_STEP = 5


def released_count(n: int, min_cell_count: int) -> int:
    """``n`` as a site may publish it: -1 (suppressed) below the threshold, zero as zero,
    else rounded to the nearest multiple of :data:`COUNT_STEP` (never below the threshold)."""
    if n == 0:
        return 0
    if n < min_cell_count:
        return -1
    return max(COUNT_STEP * round(n / COUNT_STEP), min_cell_count)


@dataclass(frozen=True)
class DatasetSummary:
    table: Path
    columns: dict[str, str]  # column -> "numeric" | "text"
    n_patients: int  # released (see released_count)
    n_events: int | None  # released; None without an event column
    content_hash: str


def _table_of(path: Path, table: str) -> Path:
    if path.is_file():
        return path
    if (path / table).is_file():
        return path / table
    found = sorted(p for p in path.glob("*") if p.suffix.lower() in TABLE_SUFFIXES)
    if len(found) != 1:
        raise DataError(
            f"{path}: expected the table '{table}' (or exactly one .csv/.parquet file) here"
        )
    return found[0]


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def summarise_dataset(
    path: Path,
    *,
    table: str = "clinical.csv",
    event_column: str = "event",
    id_column: str | None = None,
    min_cell_count: int = 5,
) -> DatasetSummary:
    """The publishable summary of the table at ``path`` (a file, or the folder holding it).

    ``id_column``, when given, must exist and hold no repeated id (its values never leave).
    """
    file = _table_of(path, table)
    frame = read_table(file, file.name, (id_column,) if id_column else ())
    if id_column is not None:
        if id_column not in frame.columns:
            raise DataError(f"{file.name}: column '{id_column}' (the patient id) is missing")
        if frame[id_column].duplicated().any():
            raise DataError(f"{file.name}: column '{id_column}' repeats a patient id")
    columns = {
        str(c): "numeric" if pd.api.types.is_numeric_dtype(frame[c]) else "text"
        for c in frame.columns
    }
    events = None
    if event_column in frame.columns:
        flags = parse_flag(frame[event_column])
        events = released_count(int((flags.values == 1.0).sum()), min_cell_count)
    return DatasetSummary(
        table=file,
        columns=columns,
        n_patients=released_count(len(frame), min_cell_count),
        n_events=events,
        content_hash=_sha256(file),
    )

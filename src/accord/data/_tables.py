"""Reading one cohort table (CSV or Parquet) into a DataFrame.

The returned frame has a RangeIndex: index ``i`` is data row ``i + 1`` of the file
(header excluded), which is how every later message refers to rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from accord.core import DataError, MissingFileError

__all__ = ["TABLE_SUFFIXES", "read_table"]

TABLE_SUFFIXES: dict[str, str] = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}


def read_table(path: Path, name: str, text_columns: Sequence[str] = ()) -> pd.DataFrame:
    """Read ``path`` (named ``name`` in messages); ``text_columns`` are kept as text.

    Raises DataError when the file is missing, has an unknown extension, cannot be parsed
    or has no data rows. Messages carry the parser's error *type*, never its text (which
    may quote a cell).
    """
    kind = TABLE_SUFFIXES.get(path.suffix.lower())
    if kind is None:
        raise DataError(
            f"{name}: unsupported file type '{path.suffix}'; expected .csv, .parquet or .pq"
        )
    if not path.parent.is_dir():
        raise MissingFileError(f"{path.parent.absolute()}: no such data folder (for {name})")
    if not path.is_file():
        raise MissingFileError(
            f"{name}: file not found in the data folder {path.parent.absolute()}"
        )
    try:
        if kind == "csv":
            frame = pd.read_csv(path, dtype={c: str for c in text_columns})
        else:
            frame = pd.read_parquet(path)
    except pd.errors.EmptyDataError:
        raise DataError(f"{name}: file is empty; expected a header and data rows") from None
    except Exception as exc:  # any parser failure means the file is unreadable
        raise DataError(f"{name}: cannot read as {kind} ({type(exc).__name__})") from None
    if len(frame) == 0:
        raise DataError(f"{name}: no data rows; expected at least 1")
    return frame.reset_index(drop=True)

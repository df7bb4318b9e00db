"""Turning table cells into typed columns: numbers, 0/1 flags and category labels.

Every parser returns the values *and* masks saying which cells were empty and which were
present but unusable, so that validation can report counts and row numbers without ever
looking at (or printing) a cell's value.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["TIME_UNIT_DAYS", "Parsed", "category_labels", "parse_flag", "parse_numeric"]

TIME_UNIT_DAYS: dict[str, float] = {
    "days": 1.0,
    "weeks": 7.0,
    "months": 30.4375,
    "years": 365.25,
}
_FLAG_TEXT: dict[str, float] = {"true": 1.0, "false": 0.0}


@dataclass(frozen=True, eq=False)
class Parsed:
    """``values`` (float64, NaN where ``missing`` or ``bad``) and two boolean masks."""

    values: np.ndarray
    missing: np.ndarray
    bad: np.ndarray


def parse_numeric(series: pd.Series) -> Parsed:
    """Numbers; a present cell that is not a finite number is ``bad``."""
    missing = series.isna().to_numpy(dtype=bool)
    values = pd.to_numeric(series, errors="coerce").astype("float64").to_numpy(copy=True)
    bad = ~missing & ~np.isfinite(values)
    values[bad] = np.nan
    return Parsed(values=values, missing=missing, bad=bad)


def parse_flag(series: pd.Series) -> Parsed:
    """0/1 flags: accepts 0/1, 0.0/1.0 and True/False (also as text); others are ``bad``."""
    if series.dtype.kind not in "biuf":  # text (object or string dtype): map true/false
        series = series.map(_flag_text)
    parsed = parse_numeric(series)
    outside = ~parsed.missing & ~parsed.bad & ~np.isin(parsed.values, (0.0, 1.0))
    values = parsed.values.copy()
    values[outside] = np.nan
    return Parsed(values=values, missing=parsed.missing, bad=parsed.bad | outside)


def _flag_text(cell: Any) -> Any:
    if isinstance(cell, str):
        return _FLAG_TEXT.get(cell.strip().lower(), cell)
    return cell


def category_labels(series: pd.Series) -> pd.Series:
    """Cells as label strings (object dtype, ``None`` where empty), index kept.

    Whole numbers lose a trailing ``.0`` (``3.0`` -> ``"3"``), so a column read as float
    because it has gaps gives the same labels as the integer column would.
    """
    return series.map(_label).astype(object)


def _label(cell: Any) -> str | None:
    if cell is None or (not isinstance(cell, str) and bool(pd.isna(cell))):
        return None
    if isinstance(cell, bool | np.bool_):
        return str(bool(cell))
    if isinstance(cell, float | np.floating) and float(cell).is_integer():
        return str(int(cell))
    if isinstance(cell, np.integer):
        return str(int(cell))
    text = str(cell).strip()
    return text or None

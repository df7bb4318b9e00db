"""Adapter: FLamby's Fed-TCGA-BRCA files shaped into one cohort table.

``brca.csv`` (features, ``T`` days, ``E`` event, ``pid``) joined on ``pid`` with
``train_test_split.csv`` (``fold`` = train/test, ``fold2`` = ``train_k``/``test_k``).
Only the 1,088 patients in the split file are kept; the site is ``center_k`` and the
split is ``fold``, as FLamby itself reads them.
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from accord.core import CohortSpec, DataError, format_rows
from accord.data._tables import read_table

__all__ = ["FLAMBY_SOURCE", "read_flamby_brca"]

FLAMBY_SOURCE = "brca.csv"
_SPLIT_FILE = "train_test_split.csv"
_CENTER = re.compile(r"^(train|test)_(\d+)$")


def read_flamby_brca(
    spec: CohortSpec, data_dir: Path | None
) -> tuple[pd.DataFrame, CohortSpec, tuple[str, ...]]:
    """The joined table (index = ``brca.csv`` data rows), the spec that reads it, notes."""
    folder = data_dir if data_dir is not None else Path(".")
    brca = read_table(folder / FLAMBY_SOURCE, FLAMBY_SOURCE, text_columns=("pid",))
    split = read_table(folder / _SPLIT_FILE, _SPLIT_FILE, text_columns=("pid", "fold", "fold2"))
    _require(brca, FLAMBY_SOURCE, ("pid",))
    _require(split, _SPLIT_FILE, ("pid", "fold", "fold2"))
    centers = _centers(split)
    unknown = ~split["pid"].isin(brca["pid"]).to_numpy()
    if unknown.any():
        rows = format_rows([int(i) + 1 for i in split.index[unknown]])
        raise DataError(
            f"{_SPLIT_FILE}: {int(unknown.sum())} patients not found in {FLAMBY_SOURCE} "
            f"({rows}); expected every 'pid' of the split file in {FLAMBY_SOURCE}"
        )
    by_pid = split.drop_duplicates("pid").set_index("pid")
    keep = brca["pid"].isin(split["pid"]).to_numpy()
    table = brca[keep].copy()
    table["center"] = table["pid"].map(centers)
    table["fold"] = table["pid"].map(by_pid["fold"])
    notes = (
        ()
        if keep.all()
        else (f"{FLAMBY_SOURCE}: {int((~keep).sum())} rows not in {_SPLIT_FILE} were left out",)
    )
    read_as = spec.model_copy(
        update={
            "site_column": "center",
            "split_column": "fold",
            "id_column": "pid",
            "time_column": "T",
            "event_column": "E",
            "time_unit": "days",
        }
    )
    return table, read_as, notes


def _require(frame: pd.DataFrame, name: str, columns: tuple[str, ...]) -> None:
    absent = [c for c in columns if c not in frame.columns]
    if absent:
        listed = ", ".join(f"'{c}'" for c in absent)
        raise DataError(f"{name}: missing column{'' if len(absent) == 1 else 's'} {listed}")


def _centers(split: pd.DataFrame) -> pd.Series:
    """``pid`` -> ``center_k`` from ``fold2``; DataError naming rows that do not parse."""
    matches = split["fold2"].astype(str).str.strip().str.extract(_CENTER)
    bad = matches[1].isna().to_numpy()
    if bad.any():
        rows = format_rows([int(i) + 1 for i in split.index[bad]])
        raise DataError(
            f"{_SPLIT_FILE}: column 'fold2' has {int(bad.sum())} values not of the form "
            f"train_k/test_k ({rows}); expected e.g. 'train_0'"
        )
    dup = split["pid"].duplicated(keep=False).to_numpy()
    if dup.any():
        rows = format_rows([int(i) + 1 for i in split.index[dup]])
        raise DataError(
            f"{_SPLIT_FILE}: column 'pid' has {int(dup.sum())} rows with a duplicated id "
            f"({rows}); expected unique ids"
        )
    return pd.Series(("center_" + matches[1]).to_numpy(), index=split["pid"].to_numpy())

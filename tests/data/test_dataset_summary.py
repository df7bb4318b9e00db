"""What a site publishes when it registers a dataset: column kinds, rounded or suppressed
counts and the table's SHA-256 — never a value of a row (#15)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from accord.core import DataError
from accord.data import load_site_cohort, released_count, summarise_dataset
from accord.studies import resolve_study
from accord.synth import generate_hcc_consortium


@given(n=st.integers(min_value=0, max_value=100_000), cell=st.integers(min_value=1, max_value=50))
def test_a_released_count_is_suppressed_below_the_threshold_else_rounded(n: int, cell: int) -> None:
    out = released_count(n, cell)
    if n == 0:
        assert out == 0
    elif n < cell:
        assert out == -1
    else:
        assert out % 5 == 0 or out == cell
        assert abs(out - n) <= max(2.5, cell)
        assert out >= cell


def _table(tmp_path: Path, ids: list[str]) -> Path:
    frame = pd.DataFrame(
        {"patient_id": ids, "age": [61.5 + i for i in range(len(ids))], "event": [1, 0] * 6}
    )
    path = tmp_path / "clinical.csv"
    frame.to_csv(path, index=False)
    return path


def test_the_summary_names_columns_and_kinds_and_hashes_the_file(tmp_path: Path) -> None:
    path = _table(tmp_path, [f"P{i:03d}" for i in range(12)])
    summary = summarise_dataset(tmp_path, id_column="patient_id")
    assert summary.columns == {"patient_id": "text", "age": "numeric", "event": "numeric"}
    assert (summary.n_patients, summary.n_events) == (10, 5)  # 12 rounded, 6 rounded
    assert summary.content_hash == hashlib.sha256(path.read_bytes()).hexdigest()
    text = repr(summary)
    assert "P001" not in text and "61.5" not in text


def test_a_repeated_patient_id_is_refused_without_naming_it(tmp_path: Path) -> None:
    _table(tmp_path, ["P001"] * 2 + [f"P{i:03d}" for i in range(2, 12)])
    with pytest.raises(DataError, match="repeats a patient id") as caught:
        summarise_dataset(tmp_path, id_column="patient_id")
    assert "P001" not in str(caught.value)


def test_a_folder_without_its_table_is_refused(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"expected the table 'clinical\.csv'"):
        summarise_dataset(tmp_path)


def test_a_site_loads_its_own_folder_with_the_split_a_simulation_gives_it(tmp_path: Path) -> None:
    generate_hcc_consortium(tmp_path, sites=2, patients=30, seed=0, slide_size=256)
    study = resolve_study("hcc-resection-survival")
    spec = study.cohort.model_copy(update={"slide_column": None})
    own = load_site_cohort(spec, tmp_path / "site01", "site01", 3).sites["site01"]
    whole = load_site_cohort(spec, tmp_path, "site01", 3).sites["site01"]
    assert own.n == whole.n == 30
    assert (own.is_test == whole.is_test).all()
    with pytest.raises(DataError, match="no rows of site 'site09'"):
        load_site_cohort(spec, tmp_path, "site09", 3)

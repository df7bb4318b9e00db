"""One test per kind of bad cohort: the message names file, column, count and rows, and
never the planted identifier or value."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from accord.core import ConfigError, DataError, MissingFileError, PreprocessingSpec
from accord.data import feature_levels, load_cohort, validate_site_table

SECRET_ID = "ZQ-PLANTED-ID-8841"
SECRET_NUMBER = 4817.25
SECRET_TEXT = "PLANTED-VALUE-XYZ"
STRICT = PreprocessingSpec(missing="error")


def load_error(frame, make_spec, write_table, tmp_path, name="cohort.csv", **changes) -> str:
    """Write ``frame``, load it, and return the DataError message (which must not leak)."""
    write_table(frame, name)
    with pytest.raises(DataError) as info:
        load_cohort(make_spec(files=(name,), **changes), tmp_path, seed=0, preprocessing=STRICT)
    message = str(info.value)
    for secret in (SECRET_ID, SECRET_TEXT, "4817", "PLANTED"):
        assert secret not in message
    return message


def plant(frame: pd.DataFrame, column: str, rows: list[int], value: object) -> pd.DataFrame:
    """Put ``value`` into 1-based data ``rows`` of ``column``."""
    out = frame.astype({column: object}) if not isinstance(value, float) else frame.copy()
    out.loc[[r - 1 for r in rows], column] = value
    return out


def test_missing_file(make_spec, tmp_path):
    with pytest.raises(MissingFileError, match=rf"^cohort\.csv: file not found in .*{tmp_path}$"):
        load_cohort(make_spec(), tmp_path, seed=0)
    with pytest.raises(MissingFileError, match=rf"^{tmp_path}/nope: no such data folder"):
        load_cohort(make_spec(), tmp_path / "nope", seed=0)


def test_unsupported_extension(frame, make_spec, tmp_path):
    frame.to_csv(tmp_path / "cohort.xlsx", index=False)
    with pytest.raises(DataError, match=r"cohort\.xlsx: unsupported file type '\.xlsx'"):
        load_cohort(make_spec(files=("cohort.xlsx",)), tmp_path, seed=0)


def test_empty_file_and_header_only(frame, make_spec, tmp_path):
    (tmp_path / "cohort.csv").write_text("")
    with pytest.raises(DataError, match=r"cohort\.csv: file is empty"):
        load_cohort(make_spec(), tmp_path, seed=0)
    frame.iloc[:0].to_csv(tmp_path / "cohort.csv", index=False)
    with pytest.raises(DataError, match=r"cohort\.csv: no data rows"):
        load_cohort(make_spec(), tmp_path, seed=0)


def test_unreadable_parquet(make_spec, tmp_path):
    (tmp_path / "cohort.parquet").write_bytes(b"PAR1 " + SECRET_ID.encode() + b" not parquet")
    with pytest.raises(DataError, match=r"cohort\.parquet: cannot read as parquet") as info:
        load_cohort(make_spec(files=("cohort.parquet",)), tmp_path, seed=0)
    assert SECRET_ID not in str(info.value)


def test_missing_columns_are_listed(frame, make_spec, write_table, tmp_path):
    message = load_error(frame.drop(columns=["event", "age"]), make_spec, write_table, tmp_path)
    assert "missing column 'event'" in message
    assert "missing feature column 'age'" in message


def test_non_numeric_feature(frame, make_spec, write_table, tmp_path):
    bad = plant(frame, "age", [5, 61], SECRET_TEXT)
    message = load_error(bad, make_spec, write_table, tmp_path)
    assert message == (
        "cohort.csv: column 'age' has 2 non-numeric values (rows 5, 61); expected a number"
    )


def test_non_numeric_time(frame, make_spec, write_table, tmp_path):
    message = load_error(
        plant(frame, "time_days", [8], SECRET_TEXT), make_spec, write_table, tmp_path
    )
    assert "column 'time_days' has 1 non-numeric or non-finite value (row 8)" in message


def test_negative_times(frame, make_spec, write_table, tmp_path):
    bad = plant(frame, "time_days", [3, 17, 40], -SECRET_NUMBER)
    message = load_error(bad, make_spec, write_table, tmp_path)
    assert message == (
        "cohort.csv: column 'time_days' has 3 negative values (rows 3, 17, 40); expected >= 0"
    )


def test_missing_times(frame, make_spec, write_table, tmp_path):
    message = load_error(plant(frame, "time_days", [12], np.nan), make_spec, write_table, tmp_path)
    assert "column 'time_days' has 1 missing value (row 12)" in message


def test_events_outside_zero_one(frame, make_spec, write_table, tmp_path):
    message = load_error(plant(frame, "event", [9], 4817), make_spec, write_table, tmp_path)
    assert (
        "column 'event' has 1 value outside {0, 1} (row 9); expected 0/1 or True/False" in message
    )


@pytest.mark.parametrize("coding", [(0, 1), (0.0, 1.0), (False, True), ("false", "TRUE")])
def test_event_codings_accepted(frame, make_spec, write_table, tmp_path, coding):
    frame["event"] = np.where(frame["event"] == 1, coding[1], coding[0])
    write_table(frame)
    cohort = load_cohort(make_spec(), tmp_path, seed=0)
    assert sum(s.n_events for s in cohort.sites.values()) == 60


def test_duplicate_ids(frame, make_spec, write_table, tmp_path):
    bad = plant(frame, "pid", [4, 10, 77], SECRET_ID)
    message = load_error(bad, make_spec, write_table, tmp_path)
    assert (
        "column 'pid' has 3 rows with a duplicated id (rows 4, 10, 77); expected unique ids"
        in message
    )


def test_missing_ids(frame, make_spec, write_table, tmp_path):
    message = load_error(plant(frame, "pid", [2], np.nan), make_spec, write_table, tmp_path)
    assert "column 'pid' has 1 missing id (row 2)" in message


def test_a_site_without_train_events_is_a_note_not_an_error(
    frame, make_spec, write_table, tmp_path
):
    frame.loc[frame["hospital"] == "west", "event"] = 0
    write_table(frame)
    cohort = load_cohort(make_spec(), tmp_path, seed=0)
    (note,) = [n for n in cohort.notes if "west" in n]
    assert note.startswith("site 'west': no events among its train rows")
    assert not any(ch.isdigit() for ch in note)  # no count of one site's rows


def test_no_site_with_train_events(frame, make_spec, write_table, tmp_path):
    frame["event"] = 0
    message = load_error(frame, make_spec, write_table, tmp_path)
    assert "no site has an event among its train rows" in message


def test_feature_column_missing_at_one_site(frame, make_spec, write_table, tmp_path):
    for site in ("north", "south", "west"):
        part = frame[frame["hospital"] == site]
        write_table(part.drop(columns=["age"]) if site == "south" else part, f"{site}.csv")
    spec = make_spec(files=(), sites={s: f"{s}.csv" for s in ("north", "south", "west")})
    with pytest.raises(
        DataError, match=r"south\.csv \(site 'south'\): missing feature column 'age'"
    ):
        load_cohort(spec, tmp_path, seed=0)


def test_binary_feature_outside_zero_one(frame, make_spec, write_table, tmp_path):
    message = load_error(plant(frame, "sex", [33], 4817), make_spec, write_table, tmp_path)
    assert "column 'sex' has 1 value outside {0, 1} (row 33)" in message


def test_missing_features_when_missing_is_error(frame, make_spec, write_table, tmp_path):
    bad = plant(plant(frame, "age", [6, 7], np.nan), "stage", [50], np.nan)
    message = load_error(bad, make_spec, write_table, tmp_path)
    assert "2 problems" in message
    assert "column 'age' has 2 missing values (rows 6, 7)" in message
    assert "column 'stage' has 1 missing value (row 50)" in message
    lenient = PreprocessingSpec(missing="impute_mean")
    cohort = load_cohort(make_spec(), tmp_path, seed=0, preprocessing=lenient)
    assert int(cohort.sites["north"].features["age"].isna().sum()) == 2


def test_missing_features_are_caught_at_the_site_when_not_checked_at_load(
    frame, make_spec, write_table, tmp_path
):
    write_table(plant(frame, "age", list(range(1, 31)), np.nan))
    cohort = load_cohort(make_spec(), tmp_path, seed=0)
    with pytest.raises(
        DataError, match=r"cohort\.csv \(site 'north'\): column 'age' has 24 missing"
    ):
        feature_levels(cohort.sites["north"], make_spec(), STRICT)


def test_categorical_level_seen_at_one_site(frame, make_spec, write_table, tmp_path):
    bad = plant(frame, "stage", [2, 3], SECRET_TEXT)
    message = load_error(bad, make_spec, write_table, tmp_path)
    assert "column 'stage' has 1 level seen at exactly one site" in message
    two_sites = plant(frame, "stage", [2, 45], SECRET_TEXT)
    write_table(two_sites)
    load_cohort(make_spec(), tmp_path, seed=0)  # a level shared by two sites is fine


def test_split_values_other_than_train_test(frame, make_spec, write_table, tmp_path):
    frame["split"] = "train"
    bad = plant(frame, "split", [12, 13], SECRET_TEXT)
    message = load_error(bad, make_spec, write_table, tmp_path, split_column="split")
    assert "column 'split' has 2 values other than train/test (rows 12, 13)" in message


def test_missing_site_values(frame, make_spec, write_table, tmp_path):
    message = load_error(plant(frame, "hospital", [70], np.nan), make_spec, write_table, tmp_path)
    assert "column 'hospital' has 1 missing value (row 70)" in message


def test_rows_in_no_site_group(frame, make_spec, write_table, tmp_path):
    bad = plant(frame, "hospital", [88], SECRET_TEXT)
    groups = {"a": ("north",), "b": ("south", "west")}
    message = load_error(bad, make_spec, write_table, tmp_path, site_groups=groups)
    assert "column 'hospital' has 1 rows whose site is in no site group (row 88)" in message


def test_empty_or_overlapping_site_groups(frame, make_spec, write_table, tmp_path):
    write_table(frame)
    groups = {"a": ("north", "south", "west"), "ghost": ("nowhere",)}
    with pytest.raises(DataError, match="site group 'ghost' has no rows"):
        load_cohort(make_spec(site_groups=groups), tmp_path, seed=0)
    with pytest.raises(ConfigError, match="listed in both 'a' and 'b'"):
        load_cohort(make_spec(site_groups={"a": ("north",), "b": ("north",)}), tmp_path, seed=0)


def test_problems_are_collected_one_per_line(frame, make_spec, write_table, tmp_path):
    bad = plant(plant(frame, "time_days", [1], -SECRET_NUMBER), "event", [2], 4817)
    message = load_error(bad, make_spec, write_table, tmp_path)
    assert message.splitlines()[0] == "cohort.csv: 2 problems:"
    assert len(message.splitlines()) == 3


def test_validate_site_table_reports_rows_of_the_source(frame, make_spec):
    south = plant(frame, "time_days", [45], -SECRET_NUMBER)[frame["hospital"] == "south"]
    with pytest.raises(DataError, match=r"^s\.csv \(site 'south'\): column 'time_days' has 1 "):
        validate_site_table(south, make_spec(), "s.csv", site="south")
    with pytest.raises(DataError, match=r"\(row 45\)"):
        validate_site_table(south, make_spec(), "s.csv", site="south")


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(rows=st.sets(st.integers(min_value=1, max_value=90), min_size=1, max_size=12))
def test_negative_time_rows_are_reported_exactly(make_frame, make_spec, rows):
    bad = plant(make_frame(), "time_days", sorted(rows), -SECRET_NUMBER)
    with pytest.raises(DataError) as info:
        validate_site_table(bad, make_spec(), "cohort.csv")
    message = str(info.value)
    shown = ", ".join(str(r) for r in sorted(rows)[:5])
    assert f"has {len(rows)} negative value" in message
    assert f"({'row' if len(rows) == 1 else 'rows'} {shown}" in message
    assert "4817" not in message

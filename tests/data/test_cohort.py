"""Loading cohorts from tables: layouts, time units, splits, site groups."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from accord.core import ConfigError
from accord.data import SiteCohort, load_cohort


def test_single_csv_gives_sorted_sites_with_typed_features(frame, make_spec, write_table, tmp_path):
    write_table(frame)
    cohort = load_cohort(make_spec(), tmp_path, seed=0)
    assert cohort.site_ids == ("north", "south", "west")
    assert cohort.notes == ()
    north = cohort.sites["north"]
    assert (north.n, north.n_events, north.source) == (30, 20, "cohort.csv")
    assert list(north.features.columns) == ["age", "sex", "stage"]
    assert isinstance(north.features.index, pd.RangeIndex)
    assert north.features["age"].dtype == np.float64
    assert north.time_days.dtype == np.float64 and north.event.dtype == bool
    np.testing.assert_array_equal(north.source_rows, np.arange(1, 31))
    np.testing.assert_allclose(cohort.sites["south"].time_days, frame["time_days"][30:60])


def test_parquet_and_per_site_files_give_the_same_cohort(frame, make_spec, write_table, tmp_path):
    write_table(frame)
    write_table(frame, "cohort.parquet")
    for site in ("north", "south", "west"):
        write_table(frame[frame["hospital"] == site], f"{site}.csv")
    from_csv = load_cohort(make_spec(), tmp_path, seed=3)
    from_pq = load_cohort(make_spec(files=("cohort.parquet",)), tmp_path, seed=3)
    per_site = make_spec(files=(), sites={s: f"{s}.csv" for s in ("west", "north", "south")})
    from_sites = load_cohort(per_site, tmp_path, seed=3)
    assert from_sites.site_ids == ("north", "south", "west")
    for other in (from_pq, from_sites):
        for site_id, site in from_csv.sites.items():
            pd.testing.assert_frame_equal(other.sites[site_id].features, site.features)
            np.testing.assert_array_equal(other.sites[site_id].time_days, site.time_days)
            np.testing.assert_array_equal(other.sites[site_id].is_test, site.is_test)


@pytest.mark.parametrize(
    ("unit", "days"), [("days", 1.0), ("weeks", 7.0), ("months", 30.4375), ("years", 365.25)]
)
def test_times_are_harmonised_to_days(frame, make_spec, write_table, tmp_path, unit, days):
    write_table(frame)
    cohort = load_cohort(make_spec(time_unit=unit), tmp_path, seed=0)
    np.testing.assert_allclose(cohort.sites["north"].time_days, frame["time_days"][:30] * days)


def test_split_column_decides_the_split(frame, make_spec, write_table, tmp_path):
    frame["split"] = np.where(np.arange(len(frame)) % 4 == 0, "test", "train")
    write_table(frame)
    cohort = load_cohort(make_spec(split_column="split"), tmp_path, seed=0)
    np.testing.assert_array_equal(cohort.sites["north"].is_test, np.arange(30) % 4 == 0)


def test_seeded_split_is_deterministic_and_stratified(frame, make_spec, write_table, tmp_path):
    write_table(frame)
    spec = make_spec(test_fraction=0.2)
    first, again = (load_cohort(spec, tmp_path, seed=11) for _ in range(2))
    other = load_cohort(spec, tmp_path, seed=12)
    for site_id, site in first.sites.items():
        np.testing.assert_array_equal(site.is_test, again.sites[site_id].is_test)
        assert (site.n_train, site.n_test) == (24, 6)
        assert int(site.event[site.is_test].sum()) == 4  # 20% of 20 events
    assert any(
        not np.array_equal(site.is_test, other.sites[s].is_test) for s, site in first.sites.items()
    )


def test_tiny_site_gets_one_test_row_and_zero_fraction_none(
    make_frame, make_spec, write_table, tmp_path
):
    write_table(make_frame(n_per_site=3))
    tiny = load_cohort(make_spec(test_fraction=0.05), tmp_path, seed=0)
    assert all(s.n_test == 1 and s.event[~s.is_test].any() for s in tiny.sites.values())
    none = load_cohort(make_spec(test_fraction=0.0), tmp_path, seed=0)
    assert all(s.n_test == 0 for s in none.sites.values())


def test_site_groups_merge_institutions(frame, make_spec, write_table, tmp_path):
    write_table(frame)
    groups = {"coast": ("north", "south"), "inland": ("west",)}
    cohort = load_cohort(make_spec(site_groups=groups), tmp_path, seed=0)
    assert cohort.site_ids == ("coast", "inland")
    assert (cohort.sites["coast"].n, cohort.sites["inland"].n) == (60, 30)


def test_pooled_and_subset(frame, make_spec, write_table, tmp_path):
    write_table(frame)
    cohort = load_cohort(make_spec(), tmp_path, seed=0)
    pooled = cohort.pooled()
    assert (pooled.n, pooled.n_events) == (90, 60)
    assert pooled.n_train == sum(s.n_train for s in cohort.sites.values())
    test = pooled.subset(test=True)
    assert test.is_test.all() and test.n == pooled.n_test
    assert isinstance(test.features.index, pd.RangeIndex)


def test_site_cohort_rejects_mismatched_arrays():
    with pytest.raises(ValueError, match="shape"):
        SiteCohort(
            "a",
            "a.csv",
            pd.DataFrame({"x": [1.0]}),
            np.ones(2),
            np.ones(1, bool),
            np.zeros(1, bool),
        )


def test_several_files_or_groups_with_per_site_files_are_config_errors(make_spec, tmp_path):
    with pytest.raises(ConfigError, match=r"cohort\.files"):
        load_cohort(make_spec(files=("a.csv", "b.csv")), tmp_path, seed=0)
    spec = make_spec(files=(), sites={"a": "a.csv"}, site_groups={"g": ("a",)})
    with pytest.raises(ConfigError, match=r"cohort\.site_groups"):
        load_cohort(spec, tmp_path, seed=0)


def test_data_dir_none_reads_relative_to_cwd(frame, make_spec, write_table, tmp_path, monkeypatch):
    write_table(frame)
    monkeypatch.chdir(tmp_path)
    assert load_cohort(make_spec(), None, seed=0).site_ids == ("north", "south", "west")

"""Federated preprocessing equals pooled statistics; small cells never leave a site."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from accord.core import CohortSpec, DataError, PreprocessingSpec, PrivacyError
from accord.data import (
    Cohort,
    Preprocessor,
    SiteCohort,
    SiteFeatureStats,
    feature_statistics,
    fit_preprocessor,
    load_cohort,
)

PREP = PreprocessingSpec()


@pytest.fixture
def cohort(frame, make_spec, write_table, tmp_path) -> Cohort:
    write_table(frame)
    return load_cohort(make_spec(), tmp_path, seed=5)


def fit(cohort: Cohort, spec: CohortSpec, prep: PreprocessingSpec = PREP) -> Preprocessor:
    stats = [feature_statistics(site, spec, prep) for site in cohort.sites.values()]
    return fit_preprocessor(stats, spec, prep)


def test_means_and_scales_equal_pooled_pandas_statistics(cohort, make_spec):
    pre = fit(cohort, make_spec())
    train = cohort.pooled().subset(test=False).features
    dummies = pd.get_dummies(train["stage"], dtype=float)
    expected = pd.DataFrame(
        {
            "age": train["age"],
            "sex": train["sex"],
            "stage=II": dummies["II"],
            "stage=III": dummies["III"],
        }
    )
    assert pre.columns == tuple(expected.columns)
    np.testing.assert_allclose(pre.means, expected.mean().to_numpy(), rtol=1e-12, atol=0)
    np.testing.assert_allclose(pre.scales, expected.std().to_numpy(), rtol=1e-12, atol=0)
    matrix = pre.transform(train)
    np.testing.assert_allclose(matrix.mean(axis=0), 0.0, atol=1e-12)
    np.testing.assert_allclose(matrix.std(axis=0, ddof=1), 1.0, rtol=1e-12)


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    values=st.lists(st.floats(-1e4, 1e4, allow_nan=False), min_size=4, max_size=60),
    cuts=st.lists(st.integers(1, 59), max_size=4),
    offset=st.floats(-1e3, 1e3, allow_nan=False),
)
@example(values=[0.0, 0.0, 0.0, 0.005], cuts=[], offset=11.0)  # sums of squares cancel here
@example(values=[0.0, 0.001, 0.002, 0.003], cuts=[2], offset=1e3)
def test_pooling_site_statistics_equals_pandas_for_any_partition(values, cuts, offset):
    x = np.asarray(values) + offset
    spec = CohortSpec(files=("x.csv",), site_column="s", features={"x": "numeric"})
    bounds = [0, *sorted({c for c in cuts if c < len(x)}), len(x)]
    stats = [feature_statistics(_site(x[a:b]), spec, PREP) for a, b in itertools.pairwise(bounds)]
    pre = fit_preprocessor(stats, spec, PREP)
    std = pd.Series(x).std()
    assert pre.means[0] == pytest.approx(pd.Series(x).mean(), rel=1e-12, abs=1e-9)
    if std > 1e-6 * max(1.0, float(np.abs(x).max())):
        assert pre.scales[0] == pytest.approx(std, rel=1e-9)


def _site(x: np.ndarray, name: str = "s") -> SiteCohort:
    n = len(x)
    return SiteCohort(
        name, f"{name}.csv", pd.DataFrame({"x": x}), np.ones(n), np.ones(n, bool), np.zeros(n, bool)
    )


def _categorical_site(name: str, levels: list[str]) -> SiteCohort:
    n = len(levels)
    features = pd.DataFrame({"g": pd.Series(levels, dtype=object)})
    return SiteCohort(
        name, f"{name}.csv", features, np.ones(n), np.ones(n, bool), np.zeros(n, bool)
    )


CAT_SPEC = CohortSpec(files=("x.csv",), site_column="s", features={"g": "categorical"})


def test_small_level_counts_are_suppressed_before_leaving_the_site():
    site = _categorical_site("a", ["A"] * 6 + ["B"] * 5 + ["RARE"] * 4)
    stats = feature_statistics(site, CAT_SPEC, PREP)
    arrays, meta = stats.to_payload()
    assert meta == {"levels": {"g": ["A", "B"]}}
    np.testing.assert_array_equal(arrays["cat.g.counts"], [6.0, 5.0])
    np.testing.assert_array_equal(arrays["cat.g.n"], [15.0])
    assert "RARE" not in json.dumps(meta)


def test_levels_kept_by_pooled_count_and_first_is_reference():
    a = _categorical_site("a", ["A"] * 6 + ["C"] * 3 + ["D"] * 2)  # C, D suppressed here
    b = _categorical_site("b", ["A"] * 5 + ["C"] * 7 + ["D"] * 4)  # D suppressed here too
    stats = [feature_statistics(s, CAT_SPEC, PREP) for s in (a, b)]
    pre = fit_preprocessor(stats, CAT_SPEC, PREP)
    assert pre.levels == {"g": ("A", "C")}
    assert pre.columns == ("g=C",)
    # the hub only saw C's unsuppressed 7 of 27 rows
    assert pre.means[0] == pytest.approx(7 / 27)
    raw = PreprocessingSpec(standardise=False, missing="impute_mean")
    plain = fit_preprocessor(stats, CAT_SPEC, raw)
    frame = pd.DataFrame({"g": ["A", "C", "D", None, "NEW"]})
    np.testing.assert_array_equal(plain.transform(frame)[:, 0], [0, 1, 0, 0, 0])


def test_hub_refuses_an_unsuppressed_small_count():
    bad = SiteFeatureStats(
        arrays={"cat.g.n": np.array([8.0]), "cat.g.counts": np.array([6.0, 2.0])},
        levels={"g": ("A", "B")},
    )
    with pytest.raises(PrivacyError, match="below min_cell_count for 'g'"):
        fit_preprocessor([bad], CAT_SPEC, PREP)


def test_payload_round_trip_is_json_able(cohort, make_spec):
    stats = feature_statistics(cohort.sites["south"], make_spec(), PREP)
    arrays, meta = stats.to_payload()
    assert set(arrays) == {
        "num.age.n",
        "num.age.sum",
        "num.age.m2",
        "num.sex.n",
        "num.sex.sum",
        "num.sex.m2",
        "cat.stage.n",
        "cat.stage.counts",
    }
    back = SiteFeatureStats.from_payload(arrays, json.loads(json.dumps(meta)))
    assert back.levels == stats.levels
    for key, value in stats.arrays.items():
        np.testing.assert_array_equal(back.arrays[key], value)
    assert stats.arrays["num.age.n"] == [float(cohort.sites["south"].n_train)]


def test_preprocessor_dict_round_trip(cohort, make_spec):
    pre = fit(cohort, make_spec())
    back = Preprocessor.from_dict(json.loads(json.dumps(pre.to_dict())))
    features = cohort.sites["west"].features
    np.testing.assert_array_equal(back.transform(features), pre.transform(features))
    assert back.columns == pre.columns and back.levels == pre.levels


def test_no_standardising_gives_raw_values(cohort, make_spec):
    pre = fit(cohort, make_spec(), PreprocessingSpec(standardise=False))
    np.testing.assert_array_equal(pre.means, 0.0)
    np.testing.assert_array_equal(pre.scales, 1.0)
    features = cohort.sites["north"].features
    matrix = pre.transform(features)
    np.testing.assert_array_equal(matrix[:, 0], features["age"])
    np.testing.assert_array_equal(matrix[:, 2], (features["stage"] == "II").astype(float))


def test_impute_mean_fills_missing_numbers_with_the_pooled_mean(cohort, make_spec):
    prep = PreprocessingSpec(missing="impute_mean")
    pre = fit(cohort, make_spec(), prep)
    features = cohort.sites["north"].features.copy()
    features.loc[[0, 3], "age"] = np.nan
    matrix = pre.transform(features)
    np.testing.assert_allclose(matrix[[0, 3], 0], 0.0, atol=1e-12)
    raw = fit(cohort, make_spec(), PreprocessingSpec(missing="impute_mean", standardise=False))
    assert raw.transform(features)[0, 0] == pytest.approx(pre.fill["age"])


def test_transform_rejects_missing_values_when_missing_is_error(cohort, make_spec):
    pre = fit(cohort, make_spec())
    features = cohort.sites["north"].features.copy()
    features.loc[4, "age"] = np.nan
    with pytest.raises(DataError, match=r"features: column 'age' has 1 missing value \(row 5\)"):
        pre.transform(features)
    with pytest.raises(DataError, match="missing column"):
        pre.transform(features.drop(columns=["sex"]))


def test_constant_column_gets_scale_one():
    spec = CohortSpec(files=("x.csv",), site_column="s", features={"x": "numeric"})
    stats = [feature_statistics(_site(np.full(10, 61.3)), spec, PREP)]
    pre = fit_preprocessor(stats, spec, PREP)
    assert pre.scales[0] == 1.0
    np.testing.assert_allclose(pre.transform(pd.DataFrame({"x": [61.3]})), 0.0, atol=1e-9)


def test_statistics_use_train_rows_only(cohort, make_spec):
    site = cohort.sites["north"]
    stats = feature_statistics(site, make_spec(), PREP)
    train_age = site.features["age"][~site.is_test]
    assert stats.arrays["num.age.sum"][0] == pytest.approx(train_age.sum())
    assert stats.arrays["num.age.n"][0] == site.n_train

"""Federated preprocessing equals pooled statistics; small cells never leave a site in clear."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from accord.core import CohortSpec, ConfigError, DataError, PreprocessingSpec, PrivacyError
from accord.data import (
    Cohort,
    Preprocessor,
    SiteCohort,
    consortium_vocabulary,
    feature_levels,
    feature_spread,
    feature_sums,
    load_cohort,
    pool_sites,
    pooled_means,
)

PREP = PreprocessingSpec()


@pytest.fixture
def cohort(frame, make_spec, write_table, tmp_path) -> Cohort:
    write_table(frame)
    return load_cohort(make_spec(), tmp_path, seed=5)


def fit(cohort: Cohort, spec: CohortSpec, prep: PreprocessingSpec = PREP) -> Preprocessor:
    return pool_sites(list(cohort.sites.values()), spec, prep)


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
    pre = pool_sites([_site(x[a:b]) for a, b in itertools.pairwise(bounds)], spec, PREP)
    std = pd.Series(x).std()
    assert pre.means[0] == pytest.approx(pd.Series(x).mean(), rel=1e-12, abs=1e-9)
    if std > 1e-9 * max(1.0, float(np.abs(x).max())):
        assert pre.scales[0] == pytest.approx(std, rel=1e-12)


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


def test_small_level_counts_stay_at_the_site():
    site = _categorical_site("a", ["A"] * 6 + ["B"] * 5 + ["RARE"] * 4)
    levels = feature_levels(site, CAT_SPEC, PREP)
    assert levels == {"g": ("A", "B")}  # RARE: seen fewer than min_cell_count times
    vocabulary = {"g": ("A", "B", "C")}  # C: another site's level, 4 times here
    other = _categorical_site("b", ["A"] * 6 + ["C"] * 4)
    clear = feature_sums(other, CAT_SPEC, PREP, vocabulary, secure=False)
    np.testing.assert_array_equal(clear["cat.g.counts"], [[6.0, 0.0, 0.0]])  # 4 withheld
    masked = feature_sums(other, CAT_SPEC, PREP, vocabulary, secure=True)
    np.testing.assert_array_equal(masked["cat.g.counts"], [[6.0, 0.0, 4.0]])  # only summed
    np.testing.assert_array_equal(masked["cat.g.n"], [10.0])


@pytest.mark.parametrize(("secure", "count_c"), [(True, 10), (False, 7)])
def test_levels_kept_by_pooled_count_and_first_is_reference(secure: bool, count_c: int):
    a = _categorical_site("a", ["A"] * 6 + ["C"] * 3 + ["D"] * 2)  # C, D small here
    b = _categorical_site("b", ["A"] * 5 + ["C"] * 7 + ["D"] * 4)  # D small here too
    pre = pool_sites([a, b], CAT_SPEC, PREP, secure=secure)
    assert pre.levels == {"g": ("A", "C")}  # D: no site saw it min_cell_count times
    assert pre.columns == ("g=C",)
    # securely summed, C's 3 + 7 rows count; in clear the hub saw only the unsuppressed 7
    assert pre.means[0] == pytest.approx(count_c / 27)
    raw = PreprocessingSpec(standardise=False, missing="impute_mean")
    plain = pool_sites([a, b], CAT_SPEC, raw, secure=secure)
    frame = pd.DataFrame({"g": ["A", "C", "D", None, "NEW"]})
    np.testing.assert_array_equal(plain.transform(frame)[:, 0], [0, 1, 0, 0, 0])


def test_a_small_missing_count_never_leaves_a_site_in_clear():
    spec = CohortSpec(files=("x.csv",), site_column="s", features={"x": "numeric"})
    prep = PreprocessingSpec(missing="impute_mean")
    x = np.arange(12.0)
    x[[2, 5]] = np.nan  # two missing: fewer than min_cell_count
    site = _site(x)
    with pytest.raises(PrivacyError, match="fewer than 5 missing values") as caught:
        feature_sums(site, spec, prep, {}, secure=False)
    assert "2" not in str(caught.value).replace("5", "")  # the count itself is not said
    masked = feature_sums(site, spec, prep, {}, secure=True)
    assert masked["num.x.n"][0] == 10.0  # summed with the other sites' counts only
    x[[2, 5, 7, 8, 9]] = np.nan  # five missing: a count that may leave
    assert feature_sums(_site(x), spec, prep, {}, secure=False)["num.x.n"][0] == 7.0


def test_every_stage_sends_the_same_names_and_shapes_from_every_site(cohort, make_spec):
    spec = make_spec()
    sites = list(cohort.sites.values())
    vocabulary = consortium_vocabulary((feature_levels(s, spec, PREP) for s in sites), spec)
    assert json.loads(json.dumps(vocabulary)) == {k: list(v) for k, v in vocabulary.items()}
    sums = [feature_sums(s, spec, PREP, vocabulary, secure=True) for s in sites]
    assert set(sums[0]) == {
        "num.age.n",
        "num.age.sum",
        "num.sex.n",
        "num.sex.sum",
        "cat.stage.n",
        "cat.stage.counts",
    }
    assert all(
        {k: v.shape for k, v in s.items()} == {k: v.shape for k, v in sums[0].items()} for s in sums
    )
    total = {k: sum(s[k] for s in sums) for k in sums[0]}
    spread = [feature_spread(s, spec, pooled_means(total, spec)) for s in sites]
    assert set(spread[0]) == {"num.age.m2", "num.sex.m2"}
    assert sums[0]["num.age.n"] == [float(sites[0].n_train)]


def test_preprocessor_dict_round_trip(cohort, make_spec):
    pre = fit(cohort, make_spec())
    back = Preprocessor.from_dict(json.loads(json.dumps(pre.to_dict())))
    features = cohort.sites["west"].features
    np.testing.assert_array_equal(back.transform(features), pre.transform(features))
    assert back.columns == pre.columns and back.levels == pre.levels


UNSORTED = {"stage": "categorical", "sex": "binary", "age": "numeric"}  # not in key order


@pytest.mark.parametrize("keep_order", [True, False], ids=["feature_order", "older_document"])
def test_round_trip_through_sorted_json_keeps_the_column_order(cohort, make_spec, keep_order):
    """results.json and canonical JSON sort keys: ``kinds`` comes back alphabetical, yet
    the design matrix must keep ``columns``' order (``feature_order``, or for a document
    written before it, the order of the blocks in ``columns``)."""
    pre = fit(cohort, make_spec(features=UNSORTED))
    assert pre.columns == ("stage=II", "stage=III", "sex", "age")
    document = json.loads(json.dumps(pre.to_dict(), sort_keys=True))
    assert list(document["kinds"]) == ["age", "sex", "stage"]
    if not keep_order:
        del document["feature_order"]
    back = Preprocessor.from_dict(document)
    assert list(back.kinds) == list(UNSORTED) and back.columns == pre.columns
    features = cohort.sites["west"].features
    np.testing.assert_array_equal(back.transform(features), pre.transform(features))


@pytest.mark.parametrize(
    ("field", "value", "match"),
    [
        ("feature_order", ["age", "sex", "stage"], "not the blocks of 'feature_order'"),
        ("means", [0.0], "must have 4 values"),
        ("scales", [1.0, 1.0, 0.0, 1.0], "scales' positive"),
        ("kinds", None, "field 'kinds' is missing"),
    ],
)
def test_from_dict_rejects_a_document_that_is_not_one_design(
    cohort, make_spec, field, value, match
):
    document = fit(cohort, make_spec(features=UNSORTED)).to_dict()
    if value is None:
        del document[field]
    else:
        document[field] = value
    with pytest.raises(ConfigError, match=match):
        Preprocessor.from_dict(document)


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
    pre = pool_sites([_site(np.full(10, 61.3))], spec, PREP)
    assert pre.scales[0] == 1.0
    np.testing.assert_allclose(pre.transform(pd.DataFrame({"x": [61.3]})), 0.0, atol=1e-9)


def test_statistics_use_train_rows_only(cohort, make_spec):
    site = cohort.sites["north"]
    sums = feature_sums(site, make_spec(), PREP, {"stage": ("I", "II", "III")}, secure=True)
    train_age = site.features["age"][~site.is_test]
    assert sums["num.age.sum"][0] == pytest.approx(train_age.sum())
    assert sums["num.age.n"][0] == site.n_train

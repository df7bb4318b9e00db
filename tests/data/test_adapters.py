"""Built-in public datasets: FLamby Fed-TCGA-BRCA and lifelines' NCCTG lung."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from accord.core import CohortSpec, DataError, MissingFileError, PreprocessingSpec
from accord.data import load_cohort, pool_sites

FLAMBY = Path(__file__).resolve().parents[3] / "shared" / "data" / "flamby" / "fed_tcga_brca"
LUNG_GROUPS = {
    "site_a": ("1", "2", "3", "4", "5"),
    "site_b": ("6", "7", "10", "11", "12"),
    "site_c": ("13", "15", "16", "21", "22", "26", "32", "33"),
}


def flamby_spec() -> CohortSpec:
    columns = pd.read_csv(FLAMBY / "brca.csv", nrows=0).columns
    features = {
        c: "numeric" if c == "age_at_index" else "binary"
        for c in columns
        if c not in ("pid", "T", "E")
    }
    return CohortSpec(source="flamby-tcga-brca", features=features)


@pytest.mark.shared
@pytest.mark.skipif(not FLAMBY.is_dir(), reason="needs ../shared/data/flamby/fed_tcga_brca")
def test_flamby_brca_has_flambys_six_centers_and_split():
    cohort = load_cohort(flamby_spec(), FLAMBY, seed=0)
    assert cohort.site_ids == tuple(f"center_{k}" for k in range(6))
    sizes = [(s.n_train, s.n_test) for s in cohort.sites.values()]
    assert sizes == [(248, 63), (156, 40), (164, 42), (129, 33), (129, 33), (40, 11)]
    train_events = [int(s.event[~s.is_test].sum()) for s in cohort.sites.values()]
    assert train_events == [45, 35, 14, 16, 7, 2]
    assert cohort.notes == ("brca.csv: 8 rows not in train_test_split.csv were left out",)
    assert len(cohort.sites["center_0"].features.columns) == 39


def test_flamby_missing_split_file_is_named(tmp_path):
    pd.DataFrame({"pid": ["TCGA-XX-0001"], "T": [1.0], "E": [1], "age": [50]}).to_csv(
        tmp_path / "brca.csv", index=False
    )
    spec = CohortSpec(source="flamby-tcga-brca", features={"age": "numeric"})
    with pytest.raises(MissingFileError, match=r"^train_test_split\.csv: file not found"):
        load_cohort(spec, tmp_path, seed=0)
    with pytest.raises(MissingFileError, match=r"nowhere: no such data folder \(for brca\.csv\)"):
        load_cohort(spec, tmp_path / "nowhere", seed=0)


def test_flamby_bad_center_label_names_rows_not_values(tmp_path):
    pd.DataFrame(
        {"pid": ["TCGA-XX-0001", "TCGA-XX-0002"], "T": [1.0, 2.0], "E": [1, 0], "age": [50, 60]}
    ).to_csv(tmp_path / "brca.csv", index=False)
    pd.DataFrame(
        {
            "pid": ["TCGA-XX-0001", "TCGA-XX-0002"],
            "fold": ["train", "test"],
            "fold2": ["train_0", "SECRET-CENTER"],
        }
    ).to_csv(tmp_path / "train_test_split.csv", index=False)
    spec = CohortSpec(source="flamby-tcga-brca", features={"age": "numeric"})
    with pytest.raises(DataError, match=r"column 'fold2' has 1 values .* \(row 2\)") as info:
        load_cohort(spec, tmp_path, seed=0)
    assert "SECRET" not in str(info.value) and "TCGA" not in str(info.value)


def test_lifelines_lung_grouped_into_three_sites():
    spec = CohortSpec(
        source="lifelines-lung",
        features={"age": "numeric", "sex": "categorical", "ph.ecog": "numeric"},
        site_groups=LUNG_GROUPS,
        test_fraction=0.2,
    )
    cohort = load_cohort(spec, None, seed=1)
    assert cohort.site_ids == ("site_a", "site_b", "site_c")
    assert sum(s.n for s in cohort.sites.values()) == 227
    assert sum(s.n_events for s in cohort.sites.values()) == 164  # the dropped row was a death
    assert cohort.notes == ("lifelines lung: dropped 1 row(s) with no institution (column 'inst')",)
    assert all(s.n_test > 0 and s.event[~s.is_test].any() for s in cohort.sites.values())
    prep = PreprocessingSpec(missing="impute_mean")
    pre = pool_sites(list(cohort.sites.values()), spec, prep)
    assert pre.columns == ("age", "sex=2", "ph.ecog")
    assert pre.transform(cohort.sites["site_a"].features).shape == (73, 3)


def test_lifelines_lung_missing_features_rejected_when_strict():
    spec = CohortSpec(
        source="lifelines-lung", features={"ph.ecog": "numeric"}, site_groups=LUNG_GROUPS
    )
    with pytest.raises(DataError, match=r"lifelines lung: column 'ph\.ecog' has 1 missing value"):
        load_cohort(spec, None, seed=0, preprocessing=PreprocessingSpec(missing="error"))

"""Clinical cohorts: loading and validation, splits, federated preprocessing.

Preprocessing statistics come in three summable stages (levels, sums, spread): see
``_statistics``; :func:`pool_sites` runs them in one process as a reference.
"""

from accord.data._cohort import Cohort, SiteCohort, feature_frame, load_cohort, load_site_cohort
from accord.data._dataset_summary import DatasetSummary, released_count, summarise_dataset
from accord.data._preprocessing import Preprocessor
from accord.data._statistics import (
    Vocabulary,
    add_arrays,
    consortium_vocabulary,
    feature_levels,
    feature_spread,
    feature_sums,
    fit_preprocessor,
    pool_sites,
    pooled_means,
)
from accord.data._tables import read_table
from accord.data._validation import validate_cohort, validate_feature_table, validate_site_table

__all__ = [
    "Cohort",
    "DatasetSummary",
    "Preprocessor",
    "SiteCohort",
    "Vocabulary",
    "add_arrays",
    "consortium_vocabulary",
    "feature_frame",
    "feature_levels",
    "feature_spread",
    "feature_sums",
    "fit_preprocessor",
    "load_cohort",
    "load_site_cohort",
    "pool_sites",
    "pooled_means",
    "read_table",
    "released_count",
    "summarise_dataset",
    "validate_cohort",
    "validate_feature_table",
    "validate_site_table",
]

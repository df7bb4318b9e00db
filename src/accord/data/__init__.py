"""Clinical cohorts: loading and validation, splits, federated preprocessing."""

from accord.data._cohort import Cohort, SiteCohort, load_cohort
from accord.data._preprocessing import (
    Preprocessor,
    SiteFeatureStats,
    feature_statistics,
    fit_preprocessor,
)
from accord.data._validation import validate_cohort, validate_site_table

__all__ = [
    "Cohort",
    "Preprocessor",
    "SiteCohort",
    "SiteFeatureStats",
    "feature_statistics",
    "fit_preprocessor",
    "load_cohort",
    "validate_cohort",
    "validate_site_table",
]

"""Adapter: lifelines' bundled NCCTG lung data (228 patients, 18 institutions).

Sites come from the institution column ``inst`` (grouped by ``cohort.site_groups``);
``time`` is in days and ``status`` is 1 for death. The one row without an institution is
dropped and counted in the cohort's notes: this is a shipped dataset, not a site's file.
"""

from __future__ import annotations

import pandas as pd

from accord.core import CohortSpec

__all__ = ["LUNG_SOURCE", "read_lifelines_lung"]

LUNG_SOURCE = "lifelines lung"


def read_lifelines_lung(spec: CohortSpec) -> tuple[pd.DataFrame, CohortSpec, tuple[str, ...]]:
    """The lung table (index = row of lifelines' table), the spec that reads it, notes."""
    from lifelines.datasets import load_lung

    lung = load_lung().reset_index(drop=True)
    no_site = lung["inst"].isna().to_numpy()
    notes = (
        ()
        if not no_site.any()
        else (
            f"{LUNG_SOURCE}: dropped {int(no_site.sum())} row(s) with no institution "
            "(column 'inst')",
        )
    )
    read_as = spec.model_copy(
        update={
            "site_column": "inst",
            "split_column": None,
            "id_column": None,
            "time_column": "time",
            "event_column": "status",
            "time_unit": "days",
        }
    )
    return lung[~no_site], read_as, notes

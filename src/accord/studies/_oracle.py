"""The oracle reference of a synthetic consortium: the C-index of the true risk.

``accord synth hcc`` saves each patient's true linear predictor in ``truth.csv`` beside
the sites' folders. On the same held-out patients and with the same within-site pairs as
the consortium C-index, the true risk gives the best C any model could reach on average;
reports show it next to the trained models. Only a simulation knows it: real consortia
have no ``truth.csv`` and get no oracle.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from accord.core import CohortSpec, DataError
from accord.data import SiteCohort
from accord.studies._outcome import MethodResult
from accord.survival import ConcordanceCounts, concordance_counts

__all__ = ["TRUTH_FILE", "oracle_result"]

TRUTH_FILE = "truth.csv"


def oracle_result(
    data_dir: Path | None,
    spec: CohortSpec,
    sites: Mapping[str, SiteCohort],
    excluded: Collection[str] = (),
) -> MethodResult | None:
    """Consortium and per-site C of the true linear predictor on the test rows of
    ``sites`` (all of them in one place: simulation only), leaving out ``excluded``;
    None without a truth file in ``data_dir``."""
    if data_dir is None or not (Path(data_dir) / TRUTH_FILE).is_file():
        return None
    truth = _truth(Path(data_dir) / TRUTH_FILE)
    total = ConcordanceCounts(0.0, 0.0, 0.0, 0)
    per_site: dict[str, dict[str, float | int | None]] = {}
    for name, cohort in sites.items():
        if name in excluded or cohort.source_rows is None:
            continue
        table = pd.read_csv(Path(data_dir) / name / spec.table, usecols=[spec.id_column])
        ids = table[spec.id_column].astype(str).to_numpy()[cohort.source_rows - 1]
        test = cohort.is_test
        risk = truth.reindex(ids[test]).to_numpy(dtype=np.float64)
        if np.isnan(risk).any():
            raise DataError(f"{TRUTH_FILE}: site '{name}' has patients without a true risk")
        counts = concordance_counts(cohort.time_days[test], cohort.event[test], risk)
        per_site[name] = {"harrell_c": counts.cindex if counts.comparable else None}
        total = ConcordanceCounts(
            total.concordant + counts.concordant,
            total.discordant + counts.discordant,
            total.tied_risk + counts.tied_risk,
            total.comparable + counts.comparable,
        )
    cs = [float(m["harrell_c"]) for m in per_site.values() if m["harrell_c"] is not None]
    return MethodResult(
        method="oracle",
        per_site=per_site,
        consortium_cindex=total.cindex if total.comparable else None,
        consortium_interval=None,
        mean_site_cindex=float(np.mean(cs)) if cs else None,
        rounds=0,
        trained_on=("true risk",),
    )


def _truth(path: Path) -> pd.Series:
    try:
        frame = pd.read_csv(path, usecols=["patient_id", "linear_predictor"])
    except (ValueError, OSError) as exc:
        raise DataError(f"{path}: needs columns 'patient_id' and 'linear_predictor'") from exc
    return frame.set_index(frame["patient_id"].astype(str))["linear_predictor"]

"""A synthetic multi-centre cohort as one CSV with a site column (the quickstart's format).

Columns: ``pid, site, time_days, event, age, stage, smoker``. Survival follows a
Cox–Weibull model with the log hazard ratios of :data:`COHORT_LOG_HR` (age per year above
60; stage II–IV against I; smoker) and a baseline scale of its own per site (case mix and
follow-up differ between hospitals, which a site-stratified Cox model absorbs); censoring
is administrative at 5 years plus random loss to follow-up. Every patient is invented.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

__all__ = ["COHORT_LOG_HR", "simulate_cohort_csv"]

COHORT_LOG_HR: dict[str, float] = {
    "age_per_year": math.log(1.03),
    "stage=II": math.log(1.5),
    "stage=III": math.log(2.5),
    "stage=IV": math.log(4.5),
    "smoker": math.log(1.4),
}
"""True log hazard ratios of :func:`simulate_cohort_csv`."""

_STAGES = ("I", "II", "III", "IV")
_ADMIN_CENSOR_DAYS = 5 * 365.0
_WEIBULL_SHAPE = 1.3


def simulate_cohort_csv(sites: int = 3, patients: int = 150, seed: int = 0) -> pd.DataFrame:
    """``patients`` per site for ``sites`` hospitals (``hospital_a``, ``hospital_b``, …)."""
    if not 1 <= sites <= 26:
        raise ValueError(f"sites is {sites}; expected 1 to 26")
    if patients < 10:
        raise ValueError(f"patients is {patients}; expected at least 10 per site")
    rng = np.random.default_rng(seed)
    frames = []
    n = patients
    for k in range(sites):
        age = np.round(rng.normal(63.0 + 2.0 * k, 9.0, n).clip(25, 95), 1)
        stage = rng.choice(_STAGES, size=n, p=[0.3, 0.3, 0.25, 0.15])
        smoker = (rng.random(n) < 0.3 + 0.05 * k).astype(int)
        lp = COHORT_LOG_HR["age_per_year"] * (age - 60.0) + COHORT_LOG_HR["smoker"] * smoker
        for level in _STAGES[1:]:
            lp += COHORT_LOG_HR[f"stage={level}"] * (stage == level)
        scale = 2000.0 * (1.0 + 0.25 * k)  # the site's own baseline hazard
        t_event = scale * (-np.log(rng.random(n)) / np.exp(lp)) ** (1.0 / _WEIBULL_SHAPE)
        t_censor = np.minimum(rng.exponential(4000.0, n), _ADMIN_CENSOR_DAYS)
        time = np.maximum(np.round(np.minimum(t_event, t_censor), 0), 1.0)
        frames.append(
            pd.DataFrame(
                {
                    "pid": [f"P-{k:02d}{i:04d}" for i in range(n)],
                    "site": f"hospital_{chr(ord('a') + k)}",
                    "time_days": time,
                    "event": (t_event <= t_censor).astype(int),
                    "age": age,
                    "stage": stage,
                    "smoker": smoker,
                }
            )
        )
    return pd.concat(frames, ignore_index=True)

"""Seeded synthetic survival data shared by the survival tests."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt
import pytest

Ties = Literal["breslow", "efron"]


@dataclass(frozen=True)
class Cohort:
    """A synthetic cohort: covariates, times in days (with ties), events, true risk, site."""

    x: npt.NDArray[np.float64]
    time: npt.NDArray[np.float64]
    event: npt.NDArray[np.bool_]
    risk: npt.NDArray[np.float64]
    site: npt.NDArray[np.int64]


def make_cohort(n: int, seed: int, p: int = 3, n_sites: int = 3) -> Cohort:
    """Exponential survival with hazard exp(x @ beta), random censoring, times rounded to
    whole weeks so that tied times are frequent."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, p))
    beta = np.linspace(0.8, -0.5, p)
    risk = x @ beta
    event_time = rng.exponential(scale=365.0 * np.exp(-risk))
    censor_time = rng.uniform(30.0, 900.0, size=n)
    time = np.ceil(np.minimum(event_time, censor_time) / 7.0) * 7.0
    event = event_time <= censor_time
    site = rng.integers(0, n_sites, size=n)
    return Cohort(x=x, time=time, event=event, risk=risk, site=site)


@pytest.fixture
def cohort() -> Cohort:
    return make_cohort(n=240, seed=7)

"""Generated cohorts: three sites of 30 patients with known censoring (every third
patient censored, so 20 events per site), written as CSV or Parquet into tmp_path."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from accord.core import CohortSpec

SITES = ("north", "south", "west")
N_PER_SITE = 30
FEATURES: dict[str, Any] = {"age": "numeric", "sex": "binary", "stage": "categorical"}


def make_frame(seed: int = 7, n_per_site: int = N_PER_SITE) -> pd.DataFrame:
    """One table for all sites; row ``i`` (0-based) is data row ``i + 1`` of the file."""
    rng = np.random.default_rng(seed)
    parts = []
    for s, site in enumerate(SITES):
        j = np.arange(n_per_site)
        parts.append(
            pd.DataFrame(
                {
                    "pid": [f"P{s}{k:03d}" for k in j],
                    "hospital": site,
                    "time_days": np.round(rng.exponential(500.0, n_per_site) + 1.0, 1),
                    "event": (j % 3 != 2).astype(int),
                    "age": np.round(rng.normal(60.0 + 5 * s, 10.0, n_per_site), 1),
                    "sex": rng.integers(0, 2, n_per_site),
                    "stage": np.array(["I", "II", "III"])[(j // 2) % 3],
                }
            )
        )
    return pd.concat(parts, ignore_index=True)


def make_spec(**changes: Any) -> CohortSpec:
    base: dict[str, Any] = {
        "files": ("cohort.csv",),
        "site_column": "hospital",
        "id_column": "pid",
        "time_column": "time_days",
        "event_column": "event",
        "features": dict(FEATURES),
    }
    base.update(changes)
    return CohortSpec(**base)


def write(frame: pd.DataFrame, path: Path) -> Path:
    if path.suffix == ".csv":
        frame.to_csv(path, index=False)
    else:
        frame.to_parquet(path, index=False)
    return path


@pytest.fixture
def frame() -> pd.DataFrame:
    """The seeded 3 x 30 cohort table."""
    return make_frame()


@pytest.fixture(name="make_frame")
def make_frame_fixture() -> Callable[..., pd.DataFrame]:
    return make_frame


@pytest.fixture(name="make_spec")
def make_spec_fixture() -> Callable[..., CohortSpec]:
    """``make_spec(**changes)``: the cohort spec that reads ``cohort.csv``."""
    return make_spec


@pytest.fixture
def write_table(tmp_path: Path) -> Callable[[pd.DataFrame, str], Path]:
    """``write_table(frame, name="cohort.csv")`` writes into tmp_path, returns the path."""

    def _write(df: pd.DataFrame, name: str = "cohort.csv") -> Path:
        return write(df, tmp_path / name)

    return _write

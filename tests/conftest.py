"""Shared fixtures: generated cohorts only (real data lives in ../shared and is optional)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, settings

from tests.pg import pg_dsn, pg_schema  # noqa: F401  (fixtures for tests marked pg)

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"

STUDY_TOML = """
[study]
name = "synthetic"

[cohort]
files = ["cohort.csv"]
site_column = "site"
id_column = "pid"
time_column = "time_days"
event_column = "event"
test_fraction = 0.25

[cohort.features]
age = "numeric"
marker = "numeric"
stage = "categorical"
smoker = "binary"

[model]
kind = "linear_cox"
l2 = {l2}

[training]
strategy = "{strategy}"
rounds = {rounds}
local_steps = 20
batch_size = 16
lr = 0.05
baselines = {baselines}

[evaluation]
bootstrap = 20
"""


def synthetic_cohort(n_per_site: int = 60, sites: int = 3, seed: int = 0) -> pd.DataFrame:
    """A seeded multi-site cohort with known effects, tied times and ~30 % censoring.

    Times are non-integer days so a test can spot any leaked per-patient value.
    """
    rng = np.random.default_rng(seed)
    frames = []
    for s in range(sites):
        n = n_per_site + 10 * s
        age = rng.normal(62 + 3 * s, 9, n)
        marker = rng.lognormal(2.5, 0.7, n)
        stage = rng.choice(["I", "II", "III"], n, p=[0.4, 0.35, 0.25])
        smoker = rng.integers(0, 2, n)
        lp = 0.03 * (age - 62) + 0.4 * np.log(marker) + 0.7 * (stage == "III") + 0.3 * smoker
        t = rng.exponential(900 * np.exp(-(lp - lp.mean())) * (1 + 0.2 * s)) + rng.uniform(0, 1, n)
        c = rng.uniform(200, 2500, n) + 0.123
        time = np.round(np.minimum(t, c), 3)
        time[:4] = time[4]  # tied times
        frames.append(
            pd.DataFrame(
                {
                    "pid": [f"PATIENT-{s}-{i:04d}-XQ" for i in range(n)],
                    "site": f"hospital_{s}",
                    "time_days": time,
                    "event": (t <= c).astype(int),
                    "age": np.round(age, 4),
                    "marker": np.round(marker, 5),
                    "stage": stage,
                    "smoker": smoker,
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


@pytest.fixture
def cohort_dir(tmp_path: Path) -> Path:
    synthetic_cohort().to_csv(tmp_path / "cohort.csv", index=False)
    return tmp_path


def write_study(
    folder: Path,
    strategy: str = "newton_raphson",
    rounds: int = 30,
    l2: float = 0.0,
    baselines: str = '["pooled", "local"]',
) -> Path:
    path = folder / "study.toml"
    path.write_text(STUDY_TOML.format(strategy=strategy, rounds=rounds, l2=l2, baselines=baselines))
    return path


def fuzz_settings(max_examples: int) -> settings:
    """Hypothesis settings for the fuzz tests: derandomized and without an example
    database (every run draws the same examples: never flaky), no deadline."""
    return settings(
        max_examples=max_examples,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )

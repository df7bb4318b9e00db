"""Federated Newton–Raphson equals lifelines' stratified Cox on pooled rows, to 1e-6."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from lifelines import CoxPHFitter

from accord.core import load_study
from accord.data import pool_sites
from accord.studies import Simulation
from tests.conftest import synthetic_cohort, write_study

OPTIONS = {"precision": 1e-12, "r_precision": 1e-15, "max_steps": 200}


def _pooled_frame(sim: Simulation) -> pd.DataFrame:
    frames = []
    run = sim.run
    for name, site in sim.cohort.sites.items():
        train = site.subset(test=False)
        x = run.preprocessor.transform(train.features)
        frame = pd.DataFrame(x, columns=list(run.preprocessor.columns))
        frame["T"], frame["E"], frame["site"] = train.time_days, train.event.astype(int), name
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


@pytest.mark.parametrize("l2", [0.0, 0.05])
def test_federated_newton_raphson_matches_lifelines_stratified(cohort_dir: Path, l2: float) -> None:
    study = load_study(write_study(cohort_dir, "newton_raphson", rounds=50, l2=l2))
    plain = study.privacy.model_copy(update={"secure_aggregation": "off"})  # exact sums
    study = study.model_copy(update={"privacy": plain})
    sim = Simulation.prepare(study, cohort_dir, seed=1)
    result = sim.run.federated()
    ours = result.params["linear.weight"].reshape(-1)

    cph = CoxPHFitter(penalizer=l2)
    # tight tolerances: lifelines' default r_precision stops ~1e-6 short of the optimum
    cph.fit(_pooled_frame(sim), "T", "E", strata=["site"], fit_options=OPTIONS)
    np.testing.assert_allclose(ours, cph.params_.to_numpy(), atol=1e-6, rtol=0)
    assert result.consortium_cindex is not None and 0.5 < result.consortium_cindex < 1.0


def _rare_level_cohort(folder: Path) -> Path:
    """The synthetic cohort with a rare stage 'IV': 9 patients at hospital_0, 4 at
    hospital_1 — below min_cell_count (5) there, so a clear reply sends that count as 0."""
    frame = synthetic_cohort()
    for site, rows in (("hospital_0", 9), ("hospital_1", 4)):
        at = frame.index[frame["site"] == site][10 : 10 + rows]
        frame.loc[at, "stage"] = "IV"
    frame.to_csv(folder / "cohort.csv", index=False)
    return write_study(folder, "newton_raphson", rounds=50, l2=0.05)


@pytest.mark.parametrize("secure", [True, False], ids=["secure_sums", "clear_sums"])
def test_a_rare_level_standardises_from_exact_sums_only_when_they_are_secure(
    tmp_path: Path, secure: bool
) -> None:
    """docs/privacy.md, "Small cells and standardisation": securely summed statistics are
    exact, so the consortium's centres and scales are the pooled encoded columns' own;
    in clear a site's small level count is released as 0, and the one-hot column of that
    level is centred and scaled from the released counts instead."""
    study = load_study(_rare_level_cohort(tmp_path))
    sim_cohort = Simulation.prepare(study, tmp_path, seed=1).cohort
    sites = list(sim_cohort.sites.values())
    train = {s.site: s.subset(test=False) for s in sites}
    iv = {name: int((t.features["stage"] == "IV").sum()) for name, t in train.items()}
    assert iv["hospital_0"] >= 5 and 0 < iv["hospital_1"] < 5  # the case under test

    prep = pool_sites(sites, study.cohort, study.preprocessing, secure=secure)
    column = prep.columns.index("stage=IV")
    n = sum(t.n for t in train.values())
    released = iv["hospital_0"] + (iv["hospital_1"] if secure else 0)
    assert prep.means[column] == pytest.approx(released / n, rel=1e-12)
    raw = pd.concat([t.features for t in train.values()], ignore_index=True)
    exact = (raw["stage"] == "IV").astype(float)
    assert bool(prep.means[column] == pytest.approx(exact.mean(), rel=1e-12)) is secure
    assert bool(prep.scales[column] == pytest.approx(exact.std(), rel=1e-12)) is secure


def test_federated_newton_raphson_with_a_rare_level_matches_lifelines_same_penalty(
    tmp_path: Path,
) -> None:
    """In clear, the rare level's column is not exactly standardised (see above); the
    federated fit is still the penalised fit on the columns the sites encode: lifelines
    standardises internally and penalises the standardised coefficients, so on these
    columns "the same penalty" is ``l2 / sd_j**2`` per column (``l2`` where sd_j = 1)."""
    l2 = 0.05
    study = load_study(_rare_level_cohort(tmp_path))
    plain = study.privacy.model_copy(update={"secure_aggregation": "off"})  # exact sums
    study = study.model_copy(update={"privacy": plain})
    sim = Simulation.prepare(study, tmp_path, seed=1)
    ours = sim.run.federated().params["linear.weight"].reshape(-1)

    frame = _pooled_frame(sim)
    sd = frame[list(sim.run.preprocessor.columns)].std().to_numpy()
    assert np.max(np.abs(sd - 1.0)) > 1e-3  # the rare level's column: not unit variance
    cph = CoxPHFitter(penalizer=l2 / sd**2)
    cph.fit(frame, "T", "E", strata=["site"], fit_options=OPTIONS)
    np.testing.assert_allclose(ours, cph.params_.to_numpy(), atol=1e-6, rtol=0)

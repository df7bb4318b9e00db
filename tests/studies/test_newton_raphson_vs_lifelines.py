"""Federated Newton–Raphson equals lifelines' stratified Cox on pooled rows, to 1e-6."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from lifelines import CoxPHFitter

from accord.core import load_study
from accord.studies import Simulation
from tests.conftest import write_study


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
    options = {"precision": 1e-12, "r_precision": 1e-15, "max_steps": 200}
    cph.fit(_pooled_frame(sim), "T", "E", strata=["site"], fit_options=options)
    np.testing.assert_allclose(ours, cph.params_.to_numpy(), atol=1e-6, rtol=0)
    assert result.consortium_cindex is not None and 0.5 < result.consortium_cindex < 1.0

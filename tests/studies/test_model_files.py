"""Model files of a ledger-less simulation: the cards say how each model was trained, and a
card applied to a site's rows gives the scores the site computed itself (dropout off)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from accord.core import load_study
from accord.fl.tasks._handlers import _risks
from accord.net import Task
from accord.studies import predict_rows, read_model_card, run_study, write_model_files
from tests.conftest import write_study


def test_cards_of_an_mlp_study_and_its_clinical_baseline(cohort_dir: Path, tmp_path: Path) -> None:
    study = load_study(write_study(cohort_dir, "fedavg", rounds=1, baselines='["clinical_only"]'))
    model = study.model.model_copy(update={"kind": "mlp_cox", "hidden": (8,), "dropout": 0.5})
    study = study.model_copy(update={"model": model})
    sim, results = run_study(study, cohort_dir, seed=2)
    written = write_model_files(sim.run, results, tmp_path / "out")
    assert set(written) == {"fedavg", "clinical_only"}

    clinical = read_model_card(tmp_path / "out" / written["clinical_only"]["card"])
    assert clinical.model.kind == "linear_cox" and clinical.model.l2 >= 0.01
    assert clinical.document["strategy"]["name"] == "newton_raphson"
    assert clinical.document["ledger"] == {}  # no ledger in this simulation: nothing to cite

    card = read_model_card(tmp_path / "out" / written["fedavg"]["weights"])
    assert card.model.kind == "mlp_cox" and card.model.dropout == 0.5
    frame = pd.read_csv(cohort_dir / "cohort.csv", dtype={"pid": str})
    rows = frame[frame["site"] == "hospital_0"].reset_index(drop=True)
    risk, unknown = predict_rows(card, rows, "hospital_0.csv")
    assert unknown == 0

    ctx = sim.sites["hospital_0"].context
    params = results[0].params
    task = Task.build(
        arrays=params, task_id="t", plan_id="p", round=0, site=ctx.site, kind="evaluate"
    )
    site_train, site_test = _risks(task, ctx)
    is_test = ctx.cohort.is_test
    np.testing.assert_allclose(risk[is_test], site_test, rtol=0, atol=1e-12)
    np.testing.assert_allclose(risk[~is_test], site_train, rtol=0, atol=1e-12)

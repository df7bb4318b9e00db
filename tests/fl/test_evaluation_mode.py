"""Sites score a model in eval mode: an MLP's dropout is off when its risks are computed."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from accord.core import load_study
from accord.fl.tasks._handlers import _risks, handle_evaluate
from accord.models import build_model, set_arrays
from accord.net import Task
from accord.studies import Simulation
from tests.conftest import write_study


def test_scores_are_the_eval_mode_model_s_whatever_the_dropout(cohort_dir: Path) -> None:
    study = load_study(write_study(cohort_dir, "fedavg", rounds=1, baselines="[]"))
    model_spec = study.model.model_copy(update={"kind": "mlp_cox", "hidden": (16,), "dropout": 0.5})
    study = study.model_copy(update={"model": model_spec})
    sim = Simulation.prepare(study, cohort_dir, seed=3)
    params = sim.run.initial_params(study)
    ctx = sim.sites["hospital_0"].context
    task = Task.build(
        arrays=params, task_id="t", plan_id="p", round=0, site=ctx.site, kind="evaluate"
    )

    first_train, first_test = _risks(task, ctx)
    second_train, second_test = _risks(task, ctx)
    np.testing.assert_array_equal(first_test, second_test)
    np.testing.assert_array_equal(first_train, second_train)

    model = build_model(model_spec, len(sim.run.preprocessor.columns), seed=0)
    set_arrays(model, params)
    model.eval()
    with torch.no_grad():
        expected = model(torch.as_tensor(ctx.state["x_test"])).numpy()
    np.testing.assert_array_equal(first_test, expected)
    # and the metrics that leave the site are the same on every evaluation
    assert handle_evaluate(task, ctx).metrics == handle_evaluate(task, ctx).metrics

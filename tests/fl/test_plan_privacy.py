"""A site trains with its own approved study's DP settings, never the task's."""

from __future__ import annotations

from pathlib import Path

import pytest

from accord.core import PolicyError, load_study
from accord.fl import DPSettings, SiteContext, TaskConfig
from accord.fl.tasks._handlers import plan_privacy
from accord.net._messages import Task
from tests.conftest import write_study


def test_a_task_carrying_weaker_dp_settings_than_the_sites_study_is_refused(
    tmp_path: Path,
) -> None:
    study = load_study(write_study(tmp_path, "fedavg", rounds=2))
    private = study.privacy.model_copy(update={"dp": "dpfedavg", "noise_multiplier": 1.0})
    study = study.model_copy(update={"privacy": private})
    ctx = SiteContext("hospital_0", None, study, 0)  # type: ignore[arg-type]

    def task(dp: DPSettings) -> Task:
        config = TaskConfig(rounds=2, dp=dp).to_wire()
        return Task(
            task_id="t", plan_id="p", round=0, site="hospital_0", kind="train", config=config
        )

    assert plan_privacy(task(DPSettings.of(private)), ctx) == private
    assert plan_privacy(task(DPSettings()), ctx) == private  # silent task: the study's own
    weaker = DPSettings.of(private.model_copy(update={"noise_multiplier": 0.01}))
    with pytest.raises(PolicyError, match="differ from this site's approved study"):
        plan_privacy(task(weaker), ctx)

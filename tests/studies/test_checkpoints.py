"""Plan checkpoints: a hub that dies mid-plan resumes from its last round, exactly once."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from accord.core import load_study
from accord.studies import PlanCheckpoints, Simulation
from tests.conftest import synthetic_cohort, write_study


class _CrashError(Exception):
    pass


def test_a_hub_killed_between_checkpoint_and_ledger_resumes_exactly_once(tmp_path: Path) -> None:
    synthetic_cohort().to_csv(tmp_path / "cohort.csv", index=False)
    study = load_study(write_study(tmp_path, strategy="fedavg", rounds=4, baselines="[]"))
    reference = Simulation.prepare(study, tmp_path, 0).run.federated()

    def crash_after_round_2(label: str, done: int, total: int) -> None:
        if label == "fedavg" and done == 2:
            raise _CrashError  # after the round's checkpoint, before its ledger entry

    keep = PlanCheckpoints(tmp_path / "checkpoints")
    first = Simulation.prepare(
        study, tmp_path, 0, ledger_dir=tmp_path / "out", checkpoints=keep
    ).run
    first.progress = crash_after_round_2
    with pytest.raises(_CrashError):
        first.federated()
    saved = keep.load("fedavg")
    assert saved is not None and saved.rounds_done == 2

    second = Simulation.prepare(study, tmp_path, 0, audit=first.audit, checkpoints=keep).run
    result = second.federated()
    assert second.plan.plan_id == saved.plan_id  # the same plan, carried on
    for name, value in reference.params.items():
        np.testing.assert_allclose(result.params[name], value, atol=1e-12)
    assert result.consortium_cindex == pytest.approx(reference.consortium_cindex, abs=1e-12)

    assert first.audit is not None
    store = first.audit.ledger.store
    payloads = [json.loads(s.entry)["payload"] for s in store.find(kind="aggregation")]
    rounds = sorted(p["round"] for p in payloads if p["plan"] == saved.plan_id)
    assert rounds == [0, 1, 2, 3]
    submitted = [
        json.loads(s.entry)["payload"]
        for s in store.find(kind="plan.submitted")
        if json.loads(s.entry)["payload"]["plan"] == saved.plan_id
    ]
    assert len(submitted) == 1

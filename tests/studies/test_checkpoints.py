"""Plan checkpoints: a hub that dies mid-plan resumes from its last round, exactly once."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from accord.core import LedgerError, load_study
from accord.ledger import LedgerStore
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


def _payloads(store: LedgerStore, kind: str) -> list[dict[str, Any]]:
    return [json.loads(s.entry)["payload"] for s in store.find(kind=kind)]


@pytest.mark.parametrize("crash", ["before_evaluation", "after_metric"])
def test_a_hub_restarted_after_registering_signs_each_model_and_metric_once(
    tmp_path: Path, crash: str
) -> None:
    """A hub killed between its model registration and its evaluation (or after signing
    the figures) and resumed from the same ledger and checkpoints signs no entry twice:
    one ``model.registered`` per plan, one ``metric`` per (plan, method), and the resumed
    figures cite the metric entry and the site entries it derives from."""
    synthetic_cohort().to_csv(tmp_path / "cohort.csv", index=False)
    study = load_study(write_study(tmp_path, strategy="fedavg", rounds=2, baselines="[]"))
    keep = PlanCheckpoints(tmp_path / "checkpoints")
    first = Simulation.prepare(
        study, tmp_path, 0, ledger_dir=tmp_path / "out", checkpoints=keep
    ).run
    evaluate = first.evaluate

    def crashing(*args, **kwargs):  # type: ignore[no-untyped-def]
        if crash == "after_metric":
            evaluate(*args, **kwargs)
        raise _CrashError

    first.evaluate = crashing  # type: ignore[method-assign]
    with pytest.raises(_CrashError):
        first.federated()
    assert first.audit is not None
    store = first.audit.ledger.store
    assert len(_payloads(store, "model.registered")) == 1
    assert len(_payloads(store, "metric")) == (crash == "after_metric")

    second = Simulation.prepare(study, tmp_path, 0, audit=first.audit, checkpoints=keep).run
    result = second.federated()

    registered = _payloads(store, "model.registered")
    assert [p["plan"] for p in registered] == [second.plan.plan_id]
    metrics = _payloads(store, "metric")
    keys = [(p["plan"], p.get("round"), p["method"]) for p in metrics]
    assert keys == [(second.plan.plan_id, None, "fedavg")]
    (metric,) = (s for s in store.find(kind="metric"))
    assert result.ledger["metric_seq"] == metric.seq
    cited = sorted(m["ledger_seq"] for m in result.per_site.values())
    assert cited == metrics[0]["derived_from"]
    for seq in cited:
        (entry,) = store.read(seq, seq + 1)
        assert entry.kind == "task.completed"
        assert json.loads(entry.entry)["payload"]["plan"] == second.plan.plan_id


def test_a_hub_refuses_to_sign_different_figures_under_the_same_key(tmp_path: Path) -> None:
    """Different figures for a (plan, method) already on the log are an error naming it."""
    synthetic_cohort().to_csv(tmp_path / "cohort.csv", index=False)
    study = load_study(write_study(tmp_path, strategy="fedavg", rounds=1, baselines="[]"))
    run = Simulation.prepare(study, tmp_path, 0, ledger_dir=tmp_path / "out").run
    run.sign_metrics("fedavg", {"consortium_cindex": 0.7}, [])
    assert run.sign_metrics("fedavg", {"consortium_cindex": 0.7}, [3]) is not None
    with pytest.raises(
        LedgerError, match=rf"metric entry for plan {run.plan.plan_id}, method fedavg"
    ):
        run.sign_metrics("fedavg", {"consortium_cindex": 0.6}, [])
    assert run.audit is not None
    assert len(_payloads(run.audit.ledger.store, "metric")) == 1

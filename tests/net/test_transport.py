"""The unchanged Hub and Sites across HTTP on loopback give what the in-memory transport gives."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from accord.core import load_study
from accord.fl import Hub, InMemoryTransport, Plan
from accord.fl.strategies import SiteInfo
from accord.net import Dropout, QueueTransport, Reply, Task, TaskQueue
from accord.studies import Simulation
from tests.conftest import write_study
from tests.net.conftest import Serve, make_sites, running_sites


def _hub(transport: QueueTransport | InMemoryTransport) -> Hub:
    return Hub(transport, timeout_s=20.0)


def _plan(sites: list[str]) -> Plan:
    return Plan("plan-1", "test", tuple(SiteInfo(s, 1) for s in sites))


def _summary(replies: dict[str, Reply]) -> dict[str, tuple[object, ...]]:
    return {
        site: (r.status, r.weight, r.counts, r.metrics, r.arrays["y"].tolist())
        for site, r in replies.items()
    }


def test_a_broadcast_over_http_gives_the_in_memory_replies(
    cohort_dir: Path, tmp_path: Path, serve: Serve, queue: TaskQueue
) -> None:
    sites = make_sites(cohort_dir)
    two = {k: sites[k] for k in ("hospital_0", "hospital_1")}
    x = np.array([1.5, -2.0, 0.25])
    plan = _plan(list(two))
    expected = _hub(InMemoryTransport(two)).broadcast(plan, "stats", 3, arrays={"x": x})
    url = serve()
    hub = _hub(QueueTransport(queue))
    with running_sites(url, two, tmp_path / "spool"):
        got = hub.broadcast(plan, "stats", 3, arrays={"x": x})
        again = hub.broadcast(plan, "stats", 4, arrays={"x": 2 * x})
    assert _summary(got) == _summary(expected)
    assert again["hospital_1"].metrics == {"round": 4.0}
    assert hub.log[-1].contributed == ["hospital_0", "hospital_1"]


def test_a_site_that_never_answers_is_a_dropout(
    cohort_dir: Path, tmp_path: Path, serve: Serve, queue: TaskQueue
) -> None:
    sites = make_sites(cohort_dir)
    url = serve()
    transport = QueueTransport(queue)
    hub = _hub(transport)
    hub.timeout_s = 1.0
    with running_sites(url, {"hospital_0": sites["hospital_0"]}, tmp_path / "spool"):
        replies = hub.broadcast(_plan(["hospital_0", "hospital_2"]), "stats", 0)
    assert set(replies) == {"hospital_0"}
    assert hub.log[-1].missing == {"hospital_2": "no answer within 1 s"}
    assert queue.pending("hospital_2") == []  # expired: not offered when it comes back
    assert queue.take("hospital_2") is None


def test_collect_reports_dropouts_as_data(queue: TaskQueue) -> None:
    task = Task.build(task_id="t1", plan_id="p", round=0, site="far", kind="stats")
    transport = QueueTransport(queue)
    transport.post_task(task)
    assert transport.collect(["t1"], 0.1) == {
        "t1": Dropout(task_id="t1", site="far", reason="no answer within 0.1 s")
    }


def test_a_whole_federated_study_over_http_matches_the_simulation(
    cohort_dir: Path, tmp_path: Path, serve: Serve, queue: TaskQueue
) -> None:
    """FedAvg with secure aggregation: every round and the evaluation cross the network."""
    study = load_study(write_study(cohort_dir, "fedavg", rounds=2))
    simulated = Simulation.prepare(study, cohort_dir, seed=0).run.federated()
    sim = Simulation.prepare(study, cohort_dir, seed=0)
    sim.run.consortium.hub.transport = QueueTransport(queue)
    url = serve()
    with running_sites(url, sim.sites, tmp_path / "spool"):
        networked = sim.run.federated()
    assert networked.per_site == simulated.per_site
    assert networked.consortium_cindex == simulated.consortium_cindex
    for name, value in simulated.params.items():
        np.testing.assert_array_equal(networked.params[name], value)

"""The Plan value (secure aggregation decided once) and the typed task settings."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from accord.core import AggregationError, ConfigError, PrivacySpec, TransportError
from accord.crypto.secagg import threshold_floor
from accord.fl import (
    DPSettings,
    Hub,
    InMemoryTransport,
    Plan,
    SecAggRound,
    SecureSettings,
    TaskConfig,
    round_secagg,
    secure_round,
)
from accord.fl.strategies import Cyclic, FedAvg, NewtonRaphson, SiteInfo
from accord.net import Task


def _sites(n: int) -> list[SiteInfo]:
    return [SiteInfo(f"s{i}", 10) for i in range(n)]


@pytest.mark.parametrize(
    ("mode", "n", "secure"),
    [("auto", 2, False), ("auto", 3, True), ("on", 2, True), ("off", 5, False)],
)
def test_secure_aggregation_follows_the_study_for_the_plans_sites(
    mode: str, n: int, secure: bool
) -> None:
    privacy = PrivacySpec(secure_aggregation=mode, secagg_clip=50.0, secagg_neighbours=4)  # type: ignore[arg-type]
    plan = Plan.create("fedavg", _sites(n), privacy, strategy=FedAvg())
    assert (plan.secure is not None) is secure
    if plan.secure is not None:
        assert plan.secure == SecureSettings(clip=50.0, threshold=0.67, neighbours=4)


def test_plans_whose_replies_are_not_summed_never_run_secure_aggregation() -> None:
    privacy = PrivacySpec(secure_aggregation="on")
    assert Plan.create("preprocessing", _sites(4), privacy, summed=False).secure is None


def test_a_strategy_needing_individual_updates_is_refused_under_on_and_clear_under_auto() -> None:
    with pytest.raises(ConfigError, match="needs each site's individual update"):
        Plan.create("cyclic", _sites(3), PrivacySpec(secure_aggregation="on"), strategy=Cyclic())
    auto = Plan.create("cyclic", _sites(3), PrivacySpec(), strategy=Cyclic())
    assert auto.secure is None and auto.strategy is not None
    with pytest.raises(ConfigError, match="needs each site's individual update"):
        Plan("p", "cyclic", tuple(_sites(3)), secure=SecureSettings(), strategy=Cyclic())


def test_a_plan_without_a_strategy_cannot_train() -> None:
    hub = Hub(InMemoryTransport({}))
    with pytest.raises(AggregationError, match="has no strategy"):
        hub.fit(Plan.plain(_sites(2)), {"w": np.zeros(1)}, 1)
    with pytest.raises(AggregationError, match="does not run secure aggregation"):
        secure_round(hub.exchange, Plan.plain(_sites(2)), 0, [])


def test_the_resumed_plan_keeps_its_id() -> None:
    plan = Plan.create("x", _sites(3), PrivacySpec(), plan_id="plan-7", strategy=NewtonRaphson())
    assert plan.plan_id == "plan-7" and plan.site_ids == ["s0", "s1", "s2"]


def _config() -> TaskConfig:
    secagg = round_secagg(["a", "b", "c", "d", "e"], SecureSettings(clip=100.0, neighbours=2))
    dp = DPSettings.of(PrivacySpec(dp="dpfedavg", noise_multiplier=1.1, clip_norm=0.5))
    return TaskConfig(function="f" * 64, rounds=7, n_sites=5, model="chowder", dp=dp, secagg=secagg)


def test_task_config_round_trips_through_a_tasks_flat_config() -> None:
    config = _config()
    wire = {**config.to_wire(), "lr": 0.1, "cutoff": 0.5}  # the handler's own keys stay
    task = Task.build(task_id="t", plan_id="p", round=1, site="a", kind="train", config=wire)
    back = TaskConfig.of(Task.from_wire(task.to_wire()))
    assert back == config
    assert back.secagg is not None and back.secagg.neighbours == 2
    assert back.dp.given() == {
        "dp": "dpfedavg",
        "delta": 1e-5,
        "max_grad_norm": 1.0,
        "noise_multiplier": 1.1,
        "clip_norm": 0.5,
    }
    assert TaskConfig.from_wire({}) == TaskConfig()


def test_the_hub_and_a_site_rebuild_the_same_secagg_round() -> None:
    config = _config()
    assert config.secagg is not None
    site_side = TaskConfig.from_wire(config.to_wire()).secagg
    assert site_side is not None
    a, b = config.secagg.secagg_config("p", 3, 10), site_side.secagg_config("p", 3, 10)
    assert (a.sites, a.threshold, a.k, a.graph_seed) == (b.sites, b.threshold, b.k, b.graph_seed)


@pytest.mark.parametrize(
    ("key", "value", "named"),
    [
        ("rounds", "many", "rounds"),
        ("n_sites", 0, "n_sites"),
        ("dp.epsilon", "eight", "dp.epsilon"),
        ("dp.unknown", 1, "dp.unknown"),
        ("secagg_threshold", "x", "secagg_threshold"),
        ("secagg_seed", "zz", "secagg_seed"),
        ("secagg_clip", -1.0, "secagg_clip"),
    ],
)
def test_a_malformed_task_config_names_the_key_not_the_value(
    key: str, value: object, named: str
) -> None:
    wire = {**_config().to_wire(), key: value}
    with pytest.raises(TransportError, match=f"key '{named}'") as caught:
        TaskConfig.from_wire(wire)  # type: ignore[arg-type]
    assert str(value) not in str(caught.value).replace(named, "")


@given(n=st.integers(2, 40), k=st.one_of(st.none(), st.integers(2, 40)))
def test_the_round_threshold_is_at_least_two_thirds_of_every_neighbourhood(
    n: int, k: int | None
) -> None:
    secagg = round_secagg([f"s{i}" for i in range(n)], SecureSettings(neighbours=k))
    neighbourhood = (secagg.neighbours + 1) if secagg.neighbours else n
    assert neighbourhood // 2 < secagg.threshold <= neighbourhood
    assert secagg.threshold >= threshold_floor(n, secagg.neighbours)  # what sites accept
    assert SecAggRound.from_wire(secagg.to_wire()) == secagg


def test_a_secure_plan_whose_sum_could_overflow_is_refused_when_made() -> None:
    with pytest.raises(ConfigError, match="could overflow the 96-bit fixed-point sum"):
        Plan("p", "newton", tuple(_sites(3)), secure=SecureSettings(clip=1e20))

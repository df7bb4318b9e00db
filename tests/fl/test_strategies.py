"""Strategies are pure array logic: test them on hand-made sums."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from accord.core import AggregationError, ConfigError, ModelSpec, TrainingSpec
from accord.fl import sum_contributions
from accord.fl.strategies import (
    STRATEGIES,
    Cyclic,
    FedAdagrad,
    FedAdam,
    FedAvg,
    FedProx,
    FedYogi,
    NewtonRaphson,
    Scaffold,
    SiteInfo,
    build_strategy,
)

SITES = [SiteInfo("a", 10), SiteInfo("b", 30), SiteInfo("c", 60)]
PARAMS = {"w": np.array([1.0, -1.0])}


def _summed(deltas: dict[str, np.ndarray], weights: dict[str, float], extra=None):
    return sum_contributions(
        (
            {"delta.w": deltas[s] * weights[s], **({} if extra is None else extra[s])},
            weights[s],
            {},
        )
        for s in deltas
    )


def test_fedavg_is_sample_weighted_mean_of_updates() -> None:
    strategy = FedAvg()
    state = strategy.initialize(PARAMS)
    ins = strategy.configure_round(0, state, SITES)
    assert [i.site for i in ins] == ["a", "b", "c"]
    assert all(i.config["weighting"] == "samples" for i in ins)
    deltas = {"a": np.array([1.0, 0.0]), "b": np.array([0.0, 1.0]), "c": np.array([1.0, 1.0])}
    new = strategy.aggregate(0, _summed(deltas, {"a": 10, "b": 30, "c": 60}), state)
    expected = PARAMS["w"] + (10 * deltas["a"] + 30 * deltas["b"] + 60 * deltas["c"]) / 100
    np.testing.assert_allclose(new.params["w"], expected)


@settings(max_examples=30, deadline=None)
@given(
    update=arrays(np.float64, (2,), elements=st.floats(-10, 10)),
    weights=st.lists(st.integers(1, 500), min_size=1, max_size=5),
)
def test_fedavg_of_identical_updates_is_that_update(update: np.ndarray, weights: list[int]) -> None:
    strategy = FedAvg()
    state = strategy.initialize(PARAMS)
    summed = sum_contributions(({"delta.w": update * w}, float(w), {}) for w in weights)
    new = strategy.aggregate(0, summed, state)
    np.testing.assert_allclose(new.params["w"], PARAMS["w"] + update, atol=1e-9)


def test_fedprox_sends_mu_to_sites() -> None:
    ins = FedProx(mu=0.3).configure_round(0, FedProx().initialize(PARAMS), SITES)
    assert {i.config["prox_mu"] for i in ins} == {0.3}


def test_scaffold_updates_server_control_with_uniform_mean() -> None:
    strategy = Scaffold()
    state = strategy.initialize(PARAMS)
    np.testing.assert_array_equal(state.extra["control.w"], [0.0, 0.0])
    ins = strategy.configure_round(0, state, SITES[:2])
    assert "control.w" in ins[0].arrays and ins[0].config["scaffold"] is True
    deltas = {"a": np.array([1.0, 1.0]), "b": np.array([3.0, 3.0])}
    extra = {"a": {"control.w": np.array([2.0, 0.0])}, "b": {"control.w": np.array([4.0, 0.0])}}
    new = strategy.aggregate(0, _summed(deltas, {"a": 1, "b": 3}, extra), state)
    np.testing.assert_allclose(new.params["w"], PARAMS["w"] + np.array([2.5, 2.5]))
    np.testing.assert_allclose(new.extra["control.w"], [3.0, 0.0])


@pytest.mark.parametrize("cls", [FedAdam, FedYogi, FedAdagrad])
def test_fedopt_moves_in_direction_of_mean_update(cls: type) -> None:
    strategy = cls(server_lr=0.1)
    state = strategy.initialize(PARAMS)
    delta = {"a": np.array([0.5, -0.5])}
    new = strategy.aggregate(0, _summed(delta, {"a": 1.0}), state)
    step = new.params["w"] - PARAMS["w"]
    assert np.all(np.sign(step) == np.sign(delta["a"]))
    assert np.all(new.extra["v.w"] > 0)


def test_fedadam_first_step_matches_hand_computation() -> None:
    strategy = FedAdam(server_lr=1.0, beta1=0.9, beta2=0.99, tau=1e-3)
    state = strategy.initialize({"w": np.array([0.0])})
    new = strategy.aggregate(0, _summed({"a": np.array([2.0])}, {"a": 1.0}), state)
    m = 0.1 * 2.0
    v = 0.99 * 1e-6 + 0.01 * 4.0
    np.testing.assert_allclose(new.params["w"], [m / (np.sqrt(v) + 1e-3)])


def test_fedyogi_second_moment_hand_computed() -> None:
    strategy = FedYogi(beta2=0.9, tau=0.1)
    v = strategy._second_moment(np.array([0.01]), np.array([1.0]))
    np.testing.assert_allclose(v, [0.01 + 0.1 * 1.0])


def test_cyclic_visits_sites_in_order_and_keeps_the_update() -> None:
    strategy = Cyclic()
    state = strategy.initialize(PARAMS)
    visited = [strategy.configure_round(r, state, SITES)[0].site for r in range(4)]
    assert visited == ["a", "b", "c", "a"]
    new = strategy.aggregate(0, _summed({"a": np.array([1.0, 2.0])}, {"a": 1.0}), state)
    np.testing.assert_allclose(new.params["w"], PARAMS["w"] + [1.0, 2.0])
    with pytest.raises(AggregationError, match="expects 1 contribution"):
        strategy.aggregate(0, _summed({"a": np.ones(2), "b": np.ones(2)}, {"a": 1, "b": 1}), state)


def test_newton_raphson_solves_a_quadratic_in_one_step() -> None:
    # loglik(b) = -0.5 (b - m)^T A (b - m): gradient A (m - b), Hessian -A.
    a_mat = np.array([[2.0, 0.5], [0.5, 1.0]])
    m = np.array([0.3, -0.7])
    strategy = NewtonRaphson(tol=1e-12)
    state = strategy.initialize({"linear.weight": np.zeros((1, 2))})
    beta = state.params["linear.weight"].reshape(-1)
    arrays = {
        "loglik": np.array([-0.5 * (beta - m) @ a_mat @ (beta - m)]),
        "gradient": a_mat @ (m - beta),
        "hessian": -a_mat,
    }
    summed = sum_contributions([(arrays, 1.0, {"n": 10})])
    new = strategy.aggregate(0, summed, state)
    np.testing.assert_allclose(new.params["linear.weight"].reshape(-1), m)


def test_newton_raphson_singular_hessian_is_a_clear_error() -> None:
    from accord.core import ConvergenceError

    strategy = NewtonRaphson(features=("age", "grade=3"))
    state = strategy.initialize({"linear.weight": np.zeros((1, 2))})
    hessian = np.array([[-4.0, 0.0], [0.0, 0.0]])  # no information on 'grade=3'
    arrays = {"loglik": np.array([0.0]), "gradient": np.ones(2), "hessian": hessian}
    with pytest.raises(
        ConvergenceError, match=r"feature 'grade=3' is not estimable.*raise model\.l2"
    ):
        strategy.aggregate(0, sum_contributions([(arrays, 1.0, {"n": 5})]), state)


def test_newton_raphson_ignores_a_fall_of_the_loglik_within_the_sums_rounding() -> None:
    from accord.fl import WeightedSum

    strategy = NewtonRaphson()
    beta = np.array([[0.5]])
    state = strategy.initialize({"linear.weight": beta})
    state = type(state)(
        params={"linear.weight": beta},
        extra={"prev_ll": np.array([-10.0]), "prev_beta": np.array([0.4])},
    )
    arrays = {"loglik": np.array([-10.0 - 1e-6]), "gradient": np.array([1e-3]),
              "hessian": np.array([[-2.0]])}  # fmt: skip
    noisy = WeightedSum(arrays, 1.0, 3, {"n": 5}, resolution=1e-6)
    stepped = strategy.aggregate(1, noisy, state)  # within 2 x resolution: a Newton step
    assert stepped.params["linear.weight"][0, 0] == pytest.approx(0.5 + 1e-3 / 2)
    exact = WeightedSum(arrays, 1.0, 3, {"n": 5})
    halved = strategy.aggregate(1, exact, state)  # exact sums: a real fall, backtrack
    assert halved.params["linear.weight"][0, 0] == pytest.approx(0.45)


def test_build_strategy_covers_every_name() -> None:
    for name in STRATEGIES:
        if name == "newton_raphson":
            continue
        assert build_strategy(TrainingSpec(strategy=name), ModelSpec()).name == name  # type: ignore[arg-type]
    nr = build_strategy(TrainingSpec(strategy="newton_raphson"), ModelSpec(l2=0.1))
    assert isinstance(nr, NewtonRaphson) and nr.l2 == 0.1


def test_newton_raphson_refuses_an_mlp() -> None:
    with pytest.raises(ConfigError, match="linear_cox"):
        build_strategy(TrainingSpec(strategy="newton_raphson"), ModelSpec(kind="mlp_cox"))


def _fit_newton(sum_sites, rounds: int = 50):  # type: ignore[no-untyped-def]
    """Federated Newton–Raphson on six generated strata; the final state and how many
    times it backtracked (a round whose penalised log-likelihood looked lower)."""
    from accord.survival import cox_derivatives

    rng = np.random.default_rng(3)  # test data only
    strata = []
    for _ in range(6):
        x = rng.normal(size=(150, 3))
        t = rng.exponential(np.exp(-x @ np.array([0.5, -0.3, 0.2])) * 365.0)
        strata.append((x, t, rng.random(150) < 0.7))
    backtracks: list[int] = []

    class Counting(NewtonRaphson):
        def _backtrack(self, *args):  # type: ignore[no-untyped-def]
            backtracks.append(1)
            return super()._backtrack(*args)

    strategy = Counting(l2=0.01)
    state = strategy.initialize({"linear.weight": np.zeros((1, 3))})
    for rnd in range(rounds):
        beta = state.params["linear.weight"].reshape(-1)
        parts = []
        for x, t, e in strata:
            d = cox_derivatives(x, t, e, beta)
            arrays = {"loglik": np.array([d.loglik]), "gradient": d.gradient, "hessian": d.hessian}
            parts.append((arrays, 1.0, {"n": len(t)}))
        state = strategy.aggregate(rnd, sum_sites(parts), state)
        if state.converged:
            break
    return state, len(backtracks)


def test_newton_raphson_under_secure_aggregation_never_backtracks_and_fits_exactly() -> None:
    """The sums secure aggregation returns (96-bit fixed point, 2^-41 per value) are exact
    enough that quantisation noise never looks like a worse step: same rounds, no
    backtrack, and the plain fit to 1e-9."""
    from accord.crypto.secagg import Quantizer
    from accord.fl._contribution import flatten, unflatten

    def secure_sum(parts):  # type: ignore[no-untyped-def]
        q = Quantizer(clip=1e12, n_summands=len(parts))
        words, layout = None, None
        for named, weight, counts in parts:
            vector, layout = flatten(named, weight, counts)
            words = q.encode(vector) if words is None else words + q.encode(vector)
        return sum_contributions([unflatten(q.decode_sum(words, len(parts)), layout)])

    plain, plain_backtracks = _fit_newton(sum_contributions)
    secure, secure_backtracks = _fit_newton(secure_sum)
    assert plain.converged and secure.converged
    assert plain_backtracks == secure_backtracks == 0
    assert len(secure.history) == len(plain.history)
    np.testing.assert_allclose(
        secure.params["linear.weight"], plain.params["linear.weight"], atol=1e-9, rtol=0
    )

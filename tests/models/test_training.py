import numpy as np
import pytest
import torch

from accord.core import AggregationError, ConfigError, ModelSpec
from accord.models import (
    LinearCox,
    LocalTrainingConfig,
    MLPCox,
    build_model,
    get_arrays,
    set_arrays,
    train_local,
)
from accord.survival.losses import cox_partial_likelihood_loss


def _cohort(n: int = 120, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 3))
    risk = x @ np.array([1.0, -0.5, 0.0])
    t = rng.exponential(np.exp(-risk)) * 365
    c = rng.exponential(2.0, size=n) * 365
    return x, np.minimum(t, c), t <= c


def _full_loss(model: torch.nn.Module, x, t, e) -> float:
    with torch.no_grad():
        risk = model(torch.as_tensor(x))
    return float(cox_partial_likelihood_loss(risk, torch.as_tensor(t), torch.as_tensor(e)))


@pytest.mark.parametrize("kind", ["linear_cox", "mlp_cox"])
def test_local_training_lowers_the_partial_likelihood_loss(kind: str) -> None:
    x, t, e = _cohort()
    model = build_model(ModelSpec(kind=kind, hidden=(8,)), 3, seed=1)  # type: ignore[arg-type]
    before = _full_loss(model, x, t, e)
    config = LocalTrainingConfig(steps=150, batch_size=16, lr=0.05)
    result = train_local(model, x, t, e, config, seed=3)
    assert result.steps == 150
    assert _full_loss(model, x, t, e) < before - 0.05


def test_training_is_deterministic_for_a_seed() -> None:
    x, t, e = _cohort()
    outs = []
    for _ in range(2):
        model = build_model(ModelSpec(kind="mlp_cox", hidden=(4,)), 3, seed=5)
        train_local(model, x, t, e, LocalTrainingConfig(20, 8, 0.1), seed=9)
        outs.append(get_arrays(model))
    for k in outs[0]:
        np.testing.assert_array_equal(outs[0][k], outs[1][k])


def test_prox_term_keeps_weights_closer_to_start() -> None:
    x, t, e = _cohort()
    drift = []
    for mu in (0.0, 10.0):
        model = LinearCox(3)
        train_local(model, x, t, e, LocalTrainingConfig(100, 8, 0.05, prox_mu=mu), seed=0)
        drift.append(np.linalg.norm(get_arrays(model)["linear.weight"]))
    assert drift[1] < drift[0]


def test_scaffold_control_follows_option_two() -> None:
    x, t, e = _cohort()
    model = LinearCox(3)
    start = get_arrays(model)
    zero = {k: np.zeros_like(v) for k, v in start.items()}
    config = LocalTrainingConfig(10, 8, 0.1)
    result = train_local(model, x, t, e, config, seed=0, scaffold=(zero, zero))
    end = get_arrays(model)
    assert result.control is not None
    expected = (start["linear.weight"] - end["linear.weight"]) / (10 * 0.1)
    np.testing.assert_allclose(result.control["linear.weight"], expected)


def test_batches_without_events_do_not_break_training() -> None:
    x, t, _ = _cohort(40)
    e = np.zeros(40, dtype=bool)
    e[0] = True
    model = LinearCox(3)
    train_local(model, x, t, e, LocalTrainingConfig(30, 4, 0.1), seed=0)
    assert np.all(np.isfinite(get_arrays(model)["linear.weight"]))


def test_set_arrays_checks_names_and_shapes() -> None:
    model = MLPCox(3, (4,))
    arrays = get_arrays(model)
    set_arrays(model, arrays)
    with pytest.raises(AggregationError, match="differ"):
        set_arrays(model, {"nope": np.zeros(1)})
    bad = {**arrays, "head.weight": np.zeros((1, 5))}
    with pytest.raises(AggregationError, match="shape"):
        set_arrays(model, bad)


@pytest.mark.parametrize("kind", ["linear_cox", "mlp_cox"])
def test_a_logistic_hazard_model_keeps_the_risk_names_and_adds_a_baseline(kind: str) -> None:
    cox = build_model(ModelSpec(kind=kind), 3, seed=4)  # type: ignore[arg-type]
    spec = ModelSpec(kind=kind, loss="logistic_hazard", time_bins_days=(90.0, 365.0, 730.0))  # type: ignore[arg-type]
    model, again = build_model(spec, 3, seed=4), build_model(spec, 3, seed=4)
    arrays, cox_arrays = get_arrays(model), get_arrays(cox)
    assert set(arrays) == set(cox_arrays) | {"hazard.weight", "hazard.bias"}
    for name, value in cox_arrays.items():  # the risk score starts where the Cox model does
        np.testing.assert_array_equal(arrays[name], value)
    for name, value in get_arrays(again).items():  # deterministic, data-free baseline
        np.testing.assert_array_equal(arrays[name], value)
    assert np.all(arrays["hazard.weight"] == 0) and not model.hazard.weight.requires_grad  # type: ignore[union-attr]
    # a constant yearly hazard of 0.1: the wider the interval, the larger its logit
    assert np.all(np.diff(arrays["hazard.bias"][[0, 2]]) > 0)
    x = torch.as_tensor(np.random.default_rng(0).normal(size=(5, 3)))
    risk = model(x)
    assert risk.shape == (5,)
    torch.testing.assert_close(
        model.interval_logits(x), risk[:, None] + torch.as_tensor(arrays["hazard.bias"])
    )


def test_local_training_with_the_logistic_hazard_loss_learns_the_baseline_and_risk() -> None:
    x, t, e = _cohort()
    bins = (90.0, 180.0, 365.0, 730.0)
    model = build_model(ModelSpec(loss="logistic_hazard", time_bins_days=bins), 3, seed=0)
    start = get_arrays(model)
    config = LocalTrainingConfig(150, 16, 0.1, loss="logistic_hazard", time_bins_days=bins, l2=0.1)
    result = train_local(model, x, t, e, config, seed=3)
    end = get_arrays(model)
    assert np.isfinite(result.mean_loss)
    assert not np.allclose(end["hazard.bias"], start["hazard.bias"])
    assert np.all(end["hazard.weight"] == 0)
    coef = end["linear.weight"].ravel()
    assert coef[0] > 0.3 and coef[1] < -0.1  # the true effects' signs (1.0, -0.5)


def test_the_logistic_hazard_loss_needs_a_model_with_a_baseline() -> None:
    x, t, e = _cohort(20)
    config = LocalTrainingConfig(2, 8, 0.1, loss="logistic_hazard", time_bins_days=(90.0,))
    with pytest.raises(ConfigError, match="model has no interval baseline"):
        train_local(LinearCox(3), x, t, e, config, seed=0)

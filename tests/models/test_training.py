import numpy as np
import pytest
import torch

from accord.core import AggregationError, ModelSpec
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

"""DP-SGD with Opacus on float64 survival models trained with the logistic-hazard loss:
it learns, it is reproducible, it clips."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pytest
import torch
from torch import nn

from accord.core import ConfigError
from accord.models import LinearCox, MLPCox
from accord.privacy import (
    DP_ACCOUNTING_RDP,
    OPACUS_RDP,
    DPTrainingResult,
    noise_for_epsilon,
    train_dpsgd,
)
from accord.survival import harrell_c
from accord.survival.losses import logistic_hazard_loss

BETA = np.array([0.8, 0.15, -0.5])
CUTS = (60.0, 120.0, 240.0, 480.0, 900.0)  # days; the cohort's follow-up ends by 900


def hazard_sum(
    module: nn.Module, x: torch.Tensor, time_days: torch.Tensor, event: torch.Tensor
) -> torch.Tensor:
    logits = module.interval_logits(x)  # type: ignore[operator]
    return logistic_hazard_loss(logits, time_days, event, torch.tensor(CUTS), reduction="sum")


def linear(p: int = 3) -> LinearCox:
    return LinearCox(p, CUTS)


def mlp(hidden: tuple[int, ...], dropout: float = 0.0) -> MLPCox:
    return MLPCox(3, hidden, dropout, CUTS)


@dataclass(frozen=True)
class Cohort:
    x: npt.NDArray[np.float64]
    time_days: npt.NDArray[np.float64]
    event: npt.NDArray[np.bool_]


def make_cohort(n: int, seed: int) -> Cohort:
    """Exponential survival with hazard exp(x·β), uniform censoring, weekly (tied) times."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, BETA.size))
    event_time = rng.exponential(scale=365.0 * np.exp(-(x @ BETA)))
    censor_time = rng.uniform(30.0, 900.0, size=n)
    time_days = np.ceil(np.minimum(event_time, censor_time) / 7.0) * 7.0
    return Cohort(x, time_days, event_time <= censor_time)


@pytest.fixture(scope="module")
def cohort() -> Cohort:
    return make_cohort(400, seed=0)


def full_loss(module: nn.Module, c: Cohort) -> float:
    with torch.no_grad():
        total = hazard_sum(
            module, torch.as_tensor(c.x), torch.as_tensor(c.time_days), torch.as_tensor(c.event)
        )
    return float(total) / len(c.x)


def train(module: nn.Module, c: Cohort, **overrides: float) -> DPTrainingResult:
    settings: dict[str, float] = {
        "steps": 200,
        "batch_size": 40,
        "lr": 0.2,
        "max_grad_norm": 1.0,
        "noise_multiplier": 1.0,
        "delta": 2.5e-4,
        "seed": 0,
    } | overrides
    return train_dpsgd(module, c.x, c.time_days, c.event, loss_fn=hazard_sum, **settings)  # type: ignore[arg-type]


def weights(module: nn.Module) -> list[np.ndarray]:
    return [p.detach().numpy().copy() for p in module.parameters()]


def test_linear_model_learns_the_logistic_hazard_under_epsilon_8(cohort: Cohort) -> None:
    sigma = noise_for_epsilon(8.0, 2.5e-4, 40 / 400, 200)
    model = linear()
    before = full_loss(model, cohort)
    result = train(model, cohort, noise_multiplier=sigma, delta=2.5e-4)
    assert full_loss(model, cohort) < before - 0.1
    with torch.no_grad():
        risk = model(torch.as_tensor(cohort.x)).numpy()
    assert harrell_c(cohort.time_days, cohort.event, risk) > 0.65
    coef = model.linear.weight.detach().numpy().ravel()
    assert coef[0] > 0 > coef[2]  # the strong effects have the right signs
    assert result.steps == 200
    assert set(result.spent) == {OPACUS_RDP, DP_ACCOUNTING_RDP}
    recorded = max(s.epsilon for s in result.spent.values())
    assert 0.99 * 8.0 <= recorded <= 8.0  # σ was searched on the larger of the two
    assert all(s.delta == 2.5e-4 for s in result.spent.values())


def test_same_seed_same_model_and_other_seed_other_model(cohort: Cohort) -> None:
    initial = {k: v.clone() for k, v in mlp((8,)).state_dict().items()}
    runs = []
    for seed in (3, 3, 4):
        model = mlp((8,), dropout=0.1)  # dropout draws from the seeded stream too
        model.load_state_dict(initial)
        result = train(model, cohort, steps=30, seed=seed)
        runs.append((model.state_dict(), result))
    for name, value in runs[0][0].items():
        torch.testing.assert_close(runs[1][0][name], value, rtol=0, atol=0)
    assert runs[1][1] == runs[0][1]
    assert any(not torch.equal(runs[2][0][k], v) for k, v in runs[0][0].items())


def test_more_noise_reports_less_epsilon(cohort: Cohort) -> None:
    quiet = train(linear(), cohort, steps=20, noise_multiplier=0.8)
    noisy = train(linear(), cohort, steps=20, noise_multiplier=2.0)
    for name in (OPACUS_RDP, DP_ACCOUNTING_RDP):
        assert noisy.spent[name].epsilon < quiet.spent[name].epsilon


@pytest.mark.filterwarnings("ignore:Optimal order is the smallest alpha:UserWarning")  # σ ≈ 0
def test_one_full_batch_step_is_the_clipped_per_row_gradient(cohort: Cohort) -> None:
    # q = 1 and negligible noise: the step is lr · Σ_j clip(g_j) / n, so ‖Δθ‖ <= lr · C.
    model = linear()
    start = weights(model)
    train(
        model,
        cohort,
        steps=1,
        batch_size=400,
        noise_multiplier=1e-9,
        max_grad_norm=0.01,
        delta=1e-4,
    )
    moved = [a - b for a, b in zip(weights(model), start, strict=True)]
    assert np.sqrt(sum((m**2).sum() for m in moved)) <= 0.2 * 0.01 * (1 + 1e-6)
    assert np.any(moved[0] != 0) and np.any(moved[2] != 0)  # risk and baseline both train
    assert np.all(moved[1] == 0)  # the baseline's frozen weight stays zero
    # with a clipping norm no row reaches, it is exactly plain SGD on the summed loss / n
    private, plain = linear(), linear()
    train(
        private,
        cohort,
        steps=1,
        batch_size=400,
        noise_multiplier=1e-9,
        max_grad_norm=1e6,
        delta=1e-4,
    )
    loss = hazard_sum(
        plain,
        torch.as_tensor(cohort.x),
        torch.as_tensor(cohort.time_days),
        torch.as_tensor(cohort.event),
    )
    loss.backward()  # type: ignore[no-untyped-call]
    assert plain.hazard is not None and plain.hazard.bias.grad is not None
    expected = -0.2 * plain.linear.weight.grad.numpy() / 400  # type: ignore[union-attr]
    np.testing.assert_allclose(weights(private)[0], expected, atol=1e-6)
    expected_bias = start[2] - 0.2 * plain.hazard.bias.grad.numpy() / 400
    np.testing.assert_allclose(weights(private)[2], expected_bias, atol=1e-6)


def test_float64_model_stays_float64_and_comes_back_clean(cohort: Cohort) -> None:
    model = mlp((4, 4))
    state = torch.random.get_rng_state()
    train(model, cohort, steps=5)
    assert torch.equal(torch.random.get_rng_state(), state)  # the caller's RNG is untouched
    assert all(p.dtype == torch.float64 for p in model.parameters())
    assert all(not hasattr(p, "grad_sample") and p.grad is None for p in model.parameters())
    assert not model.training
    assert all(not m._forward_hooks and not m._backward_hooks for m in model.modules())
    plain = hazard_sum(
        model,
        torch.as_tensor(cohort.x),
        torch.as_tensor(cohort.time_days),
        torch.as_tensor(cohort.event),
    )
    plain.backward()  # type: ignore[no-untyped-call]  # ordinary training works afterwards


def test_empty_poisson_batches_only_add_noise() -> None:
    small = make_cohort(20, seed=1)
    model = linear()
    result = train(model, small, steps=40, batch_size=1, delta=1e-3)
    assert result.steps == 40
    assert all(np.isfinite(w).all() for w in weights(model))


class _WithBatchNorm(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.norm = nn.BatchNorm1d(3, dtype=torch.float64)
        self.linear = nn.Linear(3, 1, dtype=torch.float64)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.linear(self.norm(x)).squeeze(-1)
        return out


@pytest.mark.parametrize(
    ("model", "overrides", "message"),
    [
        (_WithBatchNorm(), {}, "layers Opacus cannot train privately"),
        (linear(), {"delta": 3e-4}, r"delta is 0.0003; expected at most 1/\(10·n\) for the site"),
        (linear(), {"batch_size": 401}, "batch_size is 401; expected at most the site.s"),
        (linear(), {"noise_multiplier": 0.0}, "noise_multiplier is 0.0"),
        (linear(), {"lr": -1.0}, "lr is -1.0"),
        (linear(), {"seed": -1}, "seed is -1; expected a whole number >= 0"),
    ],
)
def test_invalid_settings_are_config_errors(
    cohort: Cohort, model: nn.Module, overrides: dict[str, float], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        train(model, cohort, steps=2, **({"delta": 1e-4} | overrides))


def test_a_loss_that_is_not_a_scalar_is_refused(cohort: Cohort) -> None:
    def per_row(
        module: nn.Module, x: torch.Tensor, time_days: torch.Tensor, event: torch.Tensor
    ) -> torch.Tensor:
        return module(x) * event

    with pytest.raises(ConfigError, match="expected a scalar"):
        train_dpsgd(
            linear(),
            cohort.x,
            cohort.time_days,
            cohort.event,
            loss_fn=per_row,
            steps=2,
            batch_size=40,
            lr=0.1,
            max_grad_norm=1.0,
            noise_multiplier=1.0,
            delta=1e-4,
            seed=0,
        )

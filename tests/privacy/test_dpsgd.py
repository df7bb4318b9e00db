"""DP-SGD with Opacus on float64 Cox models: it learns, it is reproducible, it clips."""

from __future__ import annotations

import functools
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
from accord.survival.losses import cox_partial_likelihood_loss

cox_sum = functools.partial(cox_partial_likelihood_loss, reduction="sum", ties="breslow")
BETA = np.array([0.8, 0.15, -0.5])


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
        risk = module(torch.as_tensor(c.x))
    return float(
        cox_partial_likelihood_loss(risk, torch.as_tensor(c.time_days), torch.as_tensor(c.event))
    )


def train(module: nn.Module, c: Cohort, **overrides: float) -> DPTrainingResult:
    settings: dict[str, float] = {
        "steps": 200,
        "batch_size": 40,
        "lr": 0.2,
        "max_grad_norm": 1.0,
        "noise_multiplier": 1.0,
        "delta": 1e-3,
        "seed": 0,
    } | overrides
    return train_dpsgd(module, c.x, c.time_days, c.event, loss_fn=cox_sum, **settings)  # type: ignore[arg-type]


def weights(module: nn.Module) -> list[np.ndarray]:
    return [p.detach().numpy().copy() for p in module.parameters()]


def test_linear_cox_learns_under_epsilon_8(cohort: Cohort) -> None:
    sigma = noise_for_epsilon(8.0, 1e-3, 40 / 400, 200)
    model = LinearCox(3)
    before = full_loss(model, cohort)
    result = train(model, cohort, noise_multiplier=sigma)
    assert full_loss(model, cohort) < before - 0.1
    with torch.no_grad():
        risk = model(torch.as_tensor(cohort.x)).numpy()
    assert harrell_c(cohort.time_days, cohort.event, risk) > 0.65
    coef = model.linear.weight.detach().numpy().ravel()
    assert coef[0] > 0 > coef[2]  # the strong effects have the right signs
    assert result.steps == 200 and np.isfinite(result.mean_loss)
    assert set(result.spent) == {OPACUS_RDP, DP_ACCOUNTING_RDP}
    assert 7.9 <= result.spent[OPACUS_RDP].epsilon <= 8.0
    assert result.spent[DP_ACCOUNTING_RDP].epsilon == pytest.approx(8.0, rel=0.03)
    assert all(s.delta == 1e-3 for s in result.spent.values())


def test_same_seed_same_model_and_other_seed_other_model(cohort: Cohort) -> None:
    initial = {k: v.clone() for k, v in MLPCox(3, (8,)).state_dict().items()}
    runs = []
    for seed in (3, 3, 4):
        model = MLPCox(3, (8,), dropout=0.1)  # dropout draws from the seeded stream too
        model.load_state_dict(initial)
        result = train(model, cohort, steps=30, seed=seed)
        runs.append((model.state_dict(), result))
    for name, value in runs[0][0].items():
        torch.testing.assert_close(runs[1][0][name], value, rtol=0, atol=0)
    assert runs[1][1] == runs[0][1]
    assert any(not torch.equal(runs[2][0][k], v) for k, v in runs[0][0].items())


def test_more_noise_reports_less_epsilon(cohort: Cohort) -> None:
    quiet = train(LinearCox(3), cohort, steps=20, noise_multiplier=0.8)
    noisy = train(LinearCox(3), cohort, steps=20, noise_multiplier=2.0)
    for name in (OPACUS_RDP, DP_ACCOUNTING_RDP):
        assert noisy.spent[name].epsilon < quiet.spent[name].epsilon


@pytest.mark.filterwarnings("ignore:Optimal order is the smallest alpha:UserWarning")  # σ ≈ 0
def test_one_full_batch_step_is_the_clipped_per_row_gradient(cohort: Cohort) -> None:
    # q = 1 and negligible noise: the step is lr · Σ_j clip(g_j) / n, so ‖Δθ‖ <= lr · C.
    model = LinearCox(3)
    train(
        model,
        cohort,
        steps=1,
        batch_size=400,
        noise_multiplier=1e-9,
        max_grad_norm=0.01,
        delta=1e-4,
    )
    assert np.linalg.norm(weights(model)[0]) <= 0.2 * 0.01 * (1 + 1e-6)
    # with a clipping norm no row reaches, it is exactly plain SGD on the summed loss / n
    private, plain = LinearCox(3), LinearCox(3)
    train(
        private,
        cohort,
        steps=1,
        batch_size=400,
        noise_multiplier=1e-9,
        max_grad_norm=1e6,
        delta=1e-4,
    )
    loss = cox_sum(
        plain(torch.as_tensor(cohort.x)),
        torch.as_tensor(cohort.time_days),
        torch.as_tensor(cohort.event),
    )
    loss.backward()  # type: ignore[no-untyped-call]
    expected = -0.2 * plain.linear.weight.grad.numpy() / 400  # type: ignore[union-attr]
    np.testing.assert_allclose(weights(private)[0], expected, atol=1e-6)


def test_float64_model_stays_float64_and_comes_back_clean(cohort: Cohort) -> None:
    model = MLPCox(3, (4, 4))
    state = torch.random.get_rng_state()
    train(model, cohort, steps=5)
    assert torch.equal(torch.random.get_rng_state(), state)  # the caller's RNG is untouched
    assert all(p.dtype == torch.float64 for p in model.parameters())
    assert all(not hasattr(p, "grad_sample") and p.grad is None for p in model.parameters())
    assert not model.training
    assert all(not m._forward_hooks and not m._backward_hooks for m in model.modules())
    plain = cox_sum(
        model(torch.as_tensor(cohort.x)),
        torch.as_tensor(cohort.time_days),
        torch.as_tensor(cohort.event),
    )
    plain.backward()  # type: ignore[no-untyped-call]  # ordinary training works afterwards


def test_empty_poisson_batches_only_add_noise() -> None:
    small = make_cohort(20, seed=1)
    model = LinearCox(3)
    result = train(model, small, steps=40, batch_size=1, delta=1e-2)
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
        (LinearCox(3), {"delta": 0.01}, r"delta is 0.01; expected below 1/n = 0.0025"),
        (LinearCox(3), {"batch_size": 401}, "batch_size is 401; expected at most the 400 rows"),
        (LinearCox(3), {"noise_multiplier": 0.0}, "noise_multiplier is 0.0"),
        (LinearCox(3), {"lr": -1.0}, "lr is -1.0"),
        (LinearCox(3), {"seed": -1}, "seed is -1; expected a whole number >= 0"),
    ],
)
def test_invalid_settings_are_config_errors(
    cohort: Cohort, model: nn.Module, overrides: dict[str, float], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        train(model, cohort, steps=2, **overrides)


def test_a_loss_that_is_not_a_scalar_is_refused(cohort: Cohort) -> None:
    def per_row(risk: torch.Tensor, time_days: torch.Tensor, event: torch.Tensor) -> torch.Tensor:
        return risk * event

    with pytest.raises(ConfigError, match="expected a scalar"):
        train_dpsgd(
            LinearCox(3),
            cohort.x,
            cohort.time_days,
            cohort.event,
            loss_fn=per_row,
            steps=2,
            batch_size=40,
            lr=0.1,
            max_grad_norm=1.0,
            noise_multiplier=1.0,
            delta=1e-3,
            seed=0,
        )

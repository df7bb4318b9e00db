"""What DP-SGD's guarantee rests on, measured: with the logistic-hazard loss, adding or
removing one patient moves the sum of clipped per-patient gradients by at most C (random
and adversarial batches); with the Cox partial likelihood it moves it by more (why the
study refuses DP-SGD with Cox). And the ε accord records is an upper bound on the tight
accountants' (PLD, PRV) without being far above them."""

from __future__ import annotations

import warnings
from collections.abc import Callable

import numpy as np
import pytest
import torch
from dp_accounting import dp_event  # type: ignore[import-untyped]
from dp_accounting.pld import pld_privacy_accountant  # type: ignore[import-untyped]
from opacus.accountants import PRVAccountant  # type: ignore[import-untyped]
from opacus.grad_sample import GradSampleModule  # type: ignore[import-untyped]
from torch import nn

from accord.core import ModelSpec
from accord.models import LinearCox, LocalTrainingConfig, batch_loss, build_model
from accord.privacy import dpsgd_epsilon, most_conservative
from accord.survival.losses import cox_partial_likelihood_loss

CUTS = (30.0, 90.0, 180.0, 365.0)
HAZARD = LocalTrainingConfig(1, 2, 0.1, loss="logistic_hazard", time_bins_days=CUTS)
BatchLoss = Callable[[nn.Module, torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]


def hazard_loss(
    module: nn.Module, x: torch.Tensor, t: torch.Tensor, e: torch.Tensor
) -> torch.Tensor:
    return batch_loss(module, x, t, e, HAZARD, reduction="sum")  # what the sites train with


def cox_loss(module: nn.Module, x: torch.Tensor, t: torch.Tensor, e: torch.Tensor) -> torch.Tensor:
    return cox_partial_likelihood_loss(module(x), t, e, ties="breslow", reduction="sum")


def clipped_sum(
    module: nn.Module, loss_fn: BatchLoss, rows: tuple[np.ndarray, ...], clip: float
) -> torch.Tensor:
    """Σ_j clip_C(g_j) with g_j Opacus' per-sample gradients and its clipping factor, as
    train_dpsgd's DPOptimizer computes it (before the noise)."""
    x, t, e = (torch.as_tensor(a, dtype=torch.float64) for a in rows)
    wrapped = GradSampleModule(module, batch_first=True, loss_reduction="sum", strict=True)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Full backward hook is firing")
            loss_fn(module, x, t, e).backward()  # type: ignore[no-untyped-call]
        trainable = [p for p in module.parameters() if p.requires_grad]
        per_row = torch.cat([p.grad_sample.reshape(len(x), -1) for p in trainable], dim=1)
    finally:
        wrapped.to_standard_module()
        module.zero_grad(set_to_none=True)
    norms = per_row.norm(dim=1)
    factor = (clip / (norms + 1e-6)).clamp(max=1.0)  # Opacus' clipping factor
    return (per_row * factor[:, None]).sum(0).detach()


def largest_change(
    module: nn.Module, loss_fn: BatchLoss, rows: tuple[np.ndarray, ...], clip: float
) -> float:
    """max over patients k of ‖Σ clip(g) over the batch − the same without k‖ (remove one;
    add one is the same pair read the other way)."""
    full = clipped_sum(module, loss_fn, rows, clip)
    n = len(rows[0])
    changes = []
    for k in range(n):
        keep = np.arange(n) != k
        without = clipped_sum(module, loss_fn, tuple(a[keep] for a in rows), clip)
        changes.append(float((full - without).norm()))
    return max(changes)


def random_batch(rng: np.random.Generator) -> tuple[np.ndarray, ...]:
    n = int(rng.integers(3, 12))
    scale = rng.choice([1.0, 30.0, 1e4])  # ordinary, large and extreme features
    x = rng.normal(size=(n, 3)) * scale
    t = rng.choice([10.0, 30.0, 60.0, 90.0, 200.0, 500.0], size=n)  # ties and cut points
    return x, t, rng.random(n) < 0.5


def adversarial_batches() -> list[tuple[np.ndarray, ...]]:
    ones = np.ones(8)
    rng = np.random.default_rng(7)
    x = rng.normal(size=(8, 3))
    huge = x.copy()
    huge[0] = [1e8, -1e8, 1e8]  # one patient with a huge feature vector
    return [
        (x, 60.0 * ones, ones > 0),  # every event at one time
        (huge, rng.choice([10.0, 60.0], 8), ones > 0),
        (x, np.r_[1e5, 30.0 * ones[1:]], np.r_[False, ones[1:] > 0]),  # one in every risk set
        (x, np.r_[1e5, 30.0 * ones[1:]], ones > 0),  # ... with an event beyond the last cut
        (np.zeros((8, 3)), 30.0 * ones, ones < 0),  # all censored at a cut point
    ]


def _hazard_model(rng: np.random.Generator, kind: str) -> nn.Module:
    spec = ModelSpec(kind=kind, hidden=(4,), loss="logistic_hazard", time_bins_days=CUTS)  # type: ignore[arg-type]
    model = build_model(spec, 3, seed=int(rng.integers(1000)))
    with torch.no_grad():
        for p in model.parameters():
            if p.requires_grad:  # random, large and huge coefficients and baselines
                p.copy_(torch.randn_like(p) * float(rng.choice([0.1, 5.0, 50.0])))
    return model


@pytest.mark.parametrize("kind", ["linear_cox", "mlp_cox"])
def test_one_patient_moves_the_clipped_hazard_gradient_sum_by_at_most_c(kind: str) -> None:
    rng = np.random.default_rng(0)
    batches = [random_batch(rng) for _ in range(15)] + adversarial_batches()
    worst = 0.0
    for rows in batches:
        clip = float(rng.choice([0.1, 1.0, 10.0]))
        change = largest_change(_hazard_model(rng, kind), hazard_loss, rows, clip)
        assert change <= clip * (1 + 1e-9)
        worst = max(worst, change / clip)
    assert worst > 0.5  # the bound is reached, not vacuous (a clipped row moves it by C)


def test_one_patient_moves_the_clipped_cox_gradient_sum_by_more_than_c() -> None:
    # ten events at risk 0 (each row's gradient below C: none is clipped); patient k,
    # censored last with a high risk, sits in every risk set and takes over its weight
    x = np.zeros((11, 3))
    x[:10, 1] = 0.5
    x[10, 0] = 5.0
    t = np.r_[np.arange(1.0, 11.0), 100.0]
    e = np.r_[np.ones(10, dtype=bool), False]
    model = LinearCox(3)
    with torch.no_grad():
        model.linear.weight.copy_(torch.tensor([[1.0, 0.0, 0.0]], dtype=torch.float64))
    full = clipped_sum(model, cox_loss, (x, t, e), clip=1.0)
    without = clipped_sum(model, cox_loss, (x[:10], t[:10], e[:10]), clip=1.0)
    assert float((full - without).norm()) > 4.0  # more than 4 C from one patient
    hazard = _hazard_model(np.random.default_rng(1), "linear_cox")
    assert largest_change(hazard, hazard_loss, (x, t, e), clip=1.0) <= 1.0 + 1e-9


def _pld_epsilon(sigma: float, q: float, steps: int, delta: float) -> float:
    accountant = pld_privacy_accountant.PLDAccountant(value_discretization_interval=1e-2)
    accountant.compose(dp_event.PoissonSampledDpEvent(q, dp_event.GaussianDpEvent(sigma)), steps)
    return float(accountant.get_epsilon(delta))


PRV_EPS_ERROR = 0.05


def _prv_epsilon(sigma: float, q: float, steps: int, delta: float) -> float:
    accountant = PRVAccountant()
    accountant.history = [(sigma, q, steps)]
    return float(accountant.get_epsilon(delta=delta, eps_error=PRV_EPS_ERROR))


@pytest.mark.parametrize(
    ("q", "sigma", "steps", "delta"),
    [
        (32 / 150, 4.0, 1000, 1e-4),  # the TCGA-BRCA bench's scale: ε ≈ 8
        (32 / 150, 4.0, 200, 1e-5),
        (8 / 248, 0.93, 1500, 1e-4),  # batch 8 on its largest centre, 15 × 100 steps
        (0.1, 1.0, 200, 1e-5),
        (0.02, 2.0, 500, 1e-5),
    ],
)
def test_recorded_epsilon_bounds_the_tight_accountants_and_stays_near(
    q: float, sigma: float, steps: int, delta: float
) -> None:
    spent = dpsgd_epsilon(sigma, q, steps, delta)
    recorded = most_conservative(spent).epsilon
    pld = _pld_epsilon(sigma, q, steps, delta)
    prv = _prv_epsilon(sigma, q, steps, delta)
    # RDP is an upper bound on the true ε; PLD (pessimistic) and PRV estimate it closely
    assert recorded >= pld
    assert recorded >= prv - PRV_EPS_ERROR
    assert all(s.epsilon <= 1.15 * pld for s in spent.values())  # RDP's slack: < 15 %
    assert abs(pld - prv) <= 0.05 * pld + PRV_EPS_ERROR  # the two tight ones agree

"""Patient-level DP-SGD for survival models, with Opacus (Abadi et al. 2016).

Each step draws a Poisson batch (every patient independently with probability
``q = batch_size / n``), computes one gradient contribution per row with Opacus'
per-sample hooks, clips each to L2 norm ``C = max_grad_norm``, sums them, adds
N(0, σ²C²) noise and divides by the *expected* batch size before the SGD update. The
reported (ε, δ) is that of ``steps`` Poisson-subsampled Gaussian mechanisms with
sensitivity C (:func:`accord.privacy._accounting.dpsgd_epsilon`, add-or-remove-one-patient
adjacency, both accountants).

What the guarantee covers for the Cox partial likelihood. The loss is *not* a sum of
per-patient terms: with the batch as the risk set, ``L_B = Σ_{i∈B, δ_i=1} [log Σ_{j∈B,
t_j≥t_i} exp η_j − η_i]`` (Breslow shown; Efron's tie correction changes the weights, not
the argument). Opacus' hooks attribute the gradient to rows through each row's own risk
score, ``g_j = (∂L_B/∂η_j) ∇_θ η_j = −M_j ∇_θ η_j`` with ``M_j = δ_j − Σ_{i: δ_i=1,
t_i≤t_j} π_ij`` the batch martingale residual and ``π_ij = exp η_j / Σ_{R_i∩B} exp η``;
the g_j add up to ∇L_B exactly, and each is clipped to C. Adding or removing patient k
changes g_k (at most C after clipping) but also every other row's M_j, because k enters
the risk sets of the earlier events and, if k had an event, its own term weights the rows
of its risk set. As clipping is a projection (1-Lipschitz), the L2 change of the clipped
sum is at most ``C + G·(δ_k + H_k)``, with ``G = max_j ‖∇_θ η_j‖`` and
``H_k = Σ_{i∈B: δ_i=1, t_i≤t_k} π_ik = e^{η_k}·Λ_B(t_k)`` (k's Breslow cumulative hazard
within the batch). H_k has no data-independent bound in general; for a linear Cox model
with ‖x‖ ≤ G and ‖β‖ ≤ B, ``π_ik ≤ e^{2BG} / |R_i∩B|`` and ``H_k ≤ e^{2BG}(1 + ln n)``.
This module charges sensitivity C, i.e. it neglects the cross-row term: the reported ε is
exact for the per-row mechanism above and *approximate* for Cox, the usual treatment when
per-sample gradients of a partial likelihood are clipped. For a rigorous bound, bound
features and coefficients (clip x, project β after each step) and account with the
effective noise multiplier ``σ·C / (C + G·(1 + e^{2BG}(1 + ln n)))``. Replace-one
adjacency (remove one patient, add another) doubles the bound.

Not covered at all: ``mean_loss`` (computed on the private batches without noise; keep it
on the site or treat it as a separate release), the choice of hyper-parameters on the
same data, and the noise seed. ``seed`` makes simulations reproducible; in deployment it
must be secret and fresh (e.g. from :func:`secrets.randbits`) and never leave the site,
since anyone who knows it can regenerate the noise and subtract it.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from opacus.grad_sample import GradSampleModule  # type: ignore[import-untyped]
from opacus.optimizers import DPOptimizer  # type: ignore[import-untyped]
from opacus.utils.uniform_sampler import (  # type: ignore[import-untyped]
    UniformWithReplacementSampler,
)
from opacus.validators import ModuleValidator  # type: ignore[import-untyped]
from torch import Tensor, nn

from accord.core import ConfigError, DataError
from accord.privacy._accounting import PrivacySpent, dpsgd_epsilon
from accord.privacy._checks import _check_count, _check_delta, _check_positive

__all__ = ["DPTrainingResult", "LossFn", "train_dpsgd"]

LossFn = Callable[[Tensor, Tensor, Tensor], Tensor]
"""``loss_fn(risk, time_days, event) -> scalar``: the batch loss as a SUM over its rows."""


@dataclass(frozen=True)
class DPTrainingResult:
    """``mean_loss`` is per row over all batches and is NOT differentially private."""

    steps: int
    mean_loss: float
    spent: dict[str, PrivacySpent]


def _check_cohort(x: np.ndarray, time_days: np.ndarray, event: np.ndarray) -> int:
    """Number of rows; shapes and finiteness checked (no values in messages)."""
    if x.ndim != 2:
        raise DataError(f"x has {x.ndim} dimensions; expected 2 (rows, features)")
    n = int(x.shape[0])
    for name, array in (("time_days", time_days), ("event", event)):
        if array.shape != (n,):
            raise DataError(f"{name} has shape {array.shape}; expected ({n},) like x's rows")
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(time_days))):
        raise DataError("x or time_days has non-finite values; expected finite numbers")
    if n < 2:
        raise DataError(f"cohort has {n} rows; expected at least 2")
    return n


def _check_module(module: nn.Module) -> None:
    errors = ModuleValidator.validate(module, strict=False)
    if errors:
        kinds = sorted({type(e).__name__ for e in errors})
        raise ConfigError(
            f"model has {len(errors)} layers Opacus cannot train privately ({', '.join(kinds)}); "
            "expected layers without buffers (no BatchNorm; use GroupNorm or LayerNorm)"
        )


def _generators(seed: int) -> tuple[torch.Generator, torch.Generator, int]:
    """Independent generators for Poisson sampling and noise, and a seed for dropout."""
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ConfigError(f"seed is {seed!r}; expected a whole number >= 0")
    sampling, noise, dropout = np.random.SeedSequence(seed).generate_state(3, dtype=np.uint64)
    return (
        torch.Generator().manual_seed(int(sampling)),
        torch.Generator().manual_seed(int(noise)),
        int(dropout),
    )


def train_dpsgd(
    module: nn.Module,
    x: np.ndarray,
    time_days: np.ndarray,
    event: np.ndarray,
    *,
    loss_fn: LossFn,
    steps: int,
    batch_size: int,
    lr: float,
    max_grad_norm: float,
    noise_multiplier: float,
    delta: float,
    seed: int,
) -> DPTrainingResult:
    """Train ``module`` in place with ``steps`` DP-SGD steps (plain SGD update).

    Args:
        module: a float64 risk model, (b, p) -> (b,); no BatchNorm.
        x: (n, p) covariates; time_days: (n,) days; event: (n,) bool or 0/1.
        loss_fn: the batch loss as a sum over rows (e.g. the Cox partial likelihood with
            ``reduction="sum"``); called as ``loss_fn(risk, time_days, event)``.
        batch_size: expected Poisson batch size; the sampling rate is ``batch_size / n``.
        max_grad_norm: C, the per-row clipping norm; noise_multiplier: σ (noise std σC).
        delta: δ of the reported guarantee, below 1 / n.

    Returns:
        Steps taken, the (non-private) mean training loss per row, and (ε, δ) by both
        accountants. See the module docstring for what (ε, δ) covers for Cox models.
    """
    n = _check_cohort(x, time_days, event)
    _check_count(steps, "steps")
    if _check_count(batch_size, "batch_size") > n:
        raise ConfigError(f"batch_size is {batch_size}; expected at most the {n} rows")
    _check_positive(lr, "lr")
    _check_positive(max_grad_norm, "max_grad_norm")
    if _check_delta(delta) >= 1.0 / n:
        raise ConfigError(f"delta is {delta}; expected below 1/n = {1.0 / n:.3g}")
    _check_module(module)
    sample_rate = batch_size / n
    spent = dpsgd_epsilon(noise_multiplier, sample_rate, steps, delta)
    sampling, noise, dropout_seed = _generators(seed)
    tensors = (
        torch.as_tensor(x, dtype=torch.float64),
        torch.as_tensor(time_days, dtype=torch.float64),
        torch.as_tensor(np.asarray(event, dtype=np.float64)),
    )
    sampler = UniformWithReplacementSampler(
        num_samples=n, sample_rate=sample_rate, generator=sampling, steps=steps
    )
    trainable = [p for p in module.parameters() if p.requires_grad]
    optimiser = DPOptimizer(
        torch.optim.SGD(trainable, lr=lr),
        noise_multiplier=noise_multiplier,
        max_grad_norm=max_grad_norm,
        expected_batch_size=batch_size,
        loss_reduction="mean",  # divide the noisy sum by the expected batch size
        generator=noise,
    )
    # loss_reduction="sum": the loss is a sum over rows, so per-row gradients need no rescaling
    wrapped = GradSampleModule(module, batch_first=True, loss_reduction="sum", strict=True)
    try:
        with torch.random.fork_rng(devices=[]), warnings.catch_warnings():
            # Opacus' hooks see module outputs, not inputs; torch warns that this is so
            warnings.filterwarnings("ignore", message="Full backward hook is firing")
            torch.manual_seed(dropout_seed)
            mean_loss = _run(wrapped, optimiser, sampler, tensors, loss_fn)
    finally:
        wrapped.to_standard_module()  # removes Opacus' hooks and per-sample attributes
        module.zero_grad(set_to_none=True)
        module.eval()
    return DPTrainingResult(steps, mean_loss, spent)


def _run(
    wrapped: nn.Module,
    optimiser: torch.optim.Optimizer,
    sampler: UniformWithReplacementSampler,
    tensors: tuple[Tensor, Tensor, Tensor],
    loss_fn: LossFn,
) -> float:
    """The DP-SGD loop; returns the mean loss per sampled row (0.0 if no row was drawn)."""
    x, time_days, event = tensors
    wrapped.train()
    total, rows = 0.0, 0
    for indices in sampler:  # possibly empty: the step then adds noise only
        index = torch.as_tensor(indices, dtype=torch.long)
        optimiser.zero_grad()
        loss = loss_fn(wrapped(x[index]), time_days[index], event[index])
        if loss.ndim != 0:
            raise ConfigError(
                f"loss_fn returned shape {tuple(loss.shape)}; expected a scalar (sum over rows)"
            )
        loss.backward()  # type: ignore[no-untyped-call]
        optimiser.step()
        total += float(loss.detach())
        rows += len(indices)
    return total / rows if rows else 0.0

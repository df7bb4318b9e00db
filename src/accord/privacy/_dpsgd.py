"""Patient-level DP-SGD for survival models, with Opacus (Abadi et al. 2016).

Mechanism. Each step draws a Poisson batch B (every patient independently with
probability ``q = batch_size / n``), computes one gradient per row with Opacus'
per-sample hooks, clips each to L2 norm ``C = max_grad_norm``, sums them, adds
N(0, σ²C²) noise and divides by the *expected* batch size before the SGD update. The
reported (ε, δ) is that of ``steps`` Poisson-subsampled Gaussian mechanisms with
sensitivity C (:func:`accord.privacy._accounting.dpsgd_epsilon`, both accountants).

What it covers. Unit: one patient (one row). Adjacency: add or remove one patient.
Sensitivity: the loss must be a sum of per-patient terms, ``L_B(θ) = Σ_{i∈B} ℓ(θ; x_i,
t_i, δ_i)``, as the discrete-time logistic-hazard loss is
(:func:`accord.survival.losses.logistic_hazard_loss`: a patient's term reads its own row
and the study's fixed cut points, nothing else). Then row j's per-sample gradient
``g_j = ∇ℓ(θ; row j)`` does not depend on who else is in B, so adding or removing patient
k changes the clipped sum ``Σ_j clip_C(g_j)`` by exactly ``clip_C(g_k)``, of norm at most C.
Replace-one adjacency (remove one patient, add another) doubles the sensitivity.

Why the Cox partial likelihood is refused (:func:`accord.core.dp_refusal`). It is *not* a
sum of per-patient terms: ``L_B = Σ_{i∈B, δ_i=1} [log Σ_{j∈B, t_j≥t_i} exp η_j − η_i]``.
Opacus attributes ``g_j = −M_j ∇_θ η_j``, with ``M_j`` row j's martingale residual within
the batch, and patient k enters every ``M_j`` of the rows whose risk sets hold k; adding
k changes g_k by up to C *and* every other row's gradient, a change of order
``G·e^{η_k}·Λ_B(t_k)`` (``G = max_j ‖∇η_j‖``, ``Λ_B`` the batch's Breslow cumulative hazard)
with no data-independent bound. Charging sensitivity C would understate ε, so DP-SGD runs
only with ``model.loss = "logistic_hazard"`` (and not with MIL models, whose loss is Cox
over bags, nor with Newton–Raphson, SCAFFOLD or FedProx).
tests/privacy/test_sensitivity.py measures both.

Not covered at all: the training loss on the private batches (not returned), the choice
of hyper-parameters on the same data, and the noise seed. ``seed`` makes simulations
reproducible; in deployment it must be secret and fresh (e.g. from
:func:`secrets.randbits`) and never leave the site, since anyone who knows it can
regenerate the noise and subtract it.
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

LossFn = Callable[[nn.Module, Tensor, Tensor, Tensor], Tensor]
"""``loss_fn(module, x, time_days, event) -> scalar``: the batch loss as a SUM of
per-patient terms (each reading only its own row), computed from ``module``'s outputs."""


@dataclass(frozen=True)
class DPTrainingResult:
    """Steps taken and the (ε, δ) spent, by each accountant. No training loss: computed on
    the private batches without noise, it would be a release of its own."""

    steps: int
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
        module: a float64 survival model; no BatchNorm.
        x: (n, p) covariates; time_days: (n,) days; event: (n,) bool or 0/1.
        loss_fn: the batch loss as a sum of per-patient terms (e.g. the logistic-hazard
            loss with ``reduction="sum"``), called as ``loss_fn(module, x_b, time_b, event_b)``;
            only then is the sensitivity C (module docstring).
        batch_size: expected Poisson batch size; the sampling rate is ``batch_size / n``.
        max_grad_norm: C, the per-row clipping norm; noise_multiplier: σ (noise std σC).
        delta: δ of the reported guarantee, at most 1 / (10 n).

    Returns:
        Steps taken and (ε, δ) by both accountants.

    Raises:
        ConfigError: invalid settings (δ above 1 / (10 n), a batch larger than the cohort,
            layers Opacus cannot train, a loss that is not a scalar).
        DataError: inconsistent shapes or non-finite values (no values in messages).
    """
    n = _check_cohort(x, time_days, event)
    _check_count(steps, "steps")
    if _check_count(batch_size, "batch_size") > n:
        raise ConfigError(f"batch_size is {batch_size}; expected at most the site's training rows")
    _check_positive(lr, "lr")
    _check_positive(max_grad_norm, "max_grad_norm")
    if _check_delta(delta) > 1.0 / (10 * n):
        raise ConfigError(
            f"delta is {delta}; expected at most 1/(10·n) for the site's n training rows "
            "(the site's size is not repeated here: it may be a small cell)"
        )
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
            _run(module, wrapped, optimiser, sampler, tensors, loss_fn)
    finally:
        wrapped.to_standard_module()  # removes Opacus' hooks and per-sample attributes
        module.zero_grad(set_to_none=True)
        module.eval()
    return DPTrainingResult(steps, spent)


def _run(
    module: nn.Module,
    wrapped: nn.Module,
    optimiser: torch.optim.Optimizer,
    sampler: UniformWithReplacementSampler,
    tensors: tuple[Tensor, Tensor, Tensor],
    loss_fn: LossFn,
) -> None:
    """The DP-SGD loop. ``loss_fn`` calls ``module`` (or its methods, such as
    ``interval_logits``): Opacus' hooks sit on its layers, so every call is recorded."""
    x, time_days, event = tensors
    wrapped.train()
    for indices in sampler:  # possibly empty: the step then adds noise only
        index = torch.as_tensor(indices, dtype=torch.long)
        optimiser.zero_grad()
        loss = loss_fn(module, x[index], time_days[index], event[index])
        if loss.ndim != 0:
            raise ConfigError(
                f"loss_fn returned shape {tuple(loss.shape)}; expected a scalar (sum over rows)"
            )
        loss.backward()  # type: ignore[no-untyped-call]
        optimiser.step()

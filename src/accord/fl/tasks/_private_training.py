"""Differential privacy at a site: patient-level DP-SGD, or site-level DP-FedAvg clipping.

``dpsgd``: the site trains with Opacus' DP-SGD (per-row clipping to ``max_grad_norm``,
Gaussian noise); the noise multiplier comes from the study's target ε at δ over the whole
plan (``rounds × local_steps`` steps at sampling rate batch/n), and after each round the site
reports the ε spent so far by two accountants (Opacus RDP, dp-accounting RDP), which the
ledger records per site, dataset and round.

``dpfedavg``: the site clips its whole update to ``clip_norm`` (weight 1: each site counts
once) and adds its share σC/√t of Gaussian noise, t the secure round's threshold, so that
the sum the hub learns — masked by secure aggregation — carries at least N(0, σ²C²) noise
whenever it can be unmasked at all (t or more sites): the central DP-FedAvg guarantee
without trusting the hub with the noise, and without too little noise when sites drop
out. Without secure aggregation the hub sees each update, so each carries all of σC.

Noise seeds come from the operating system's CSPRNG, never from the study seed (which is
public in results.json and the ledger): DP runs are therefore not bit-for-bit repeatable.
"""

from __future__ import annotations

import secrets
from functools import partial
from typing import Literal

import numpy as np
from torch import nn

from accord.core import Arrays, ConfigError, PrivacySpec
from accord.models import LocalTrainingConfig
from accord.privacy import (
    clip_update,
    dpsgd_epsilon,
    gaussian_mechanism_epsilon,
    noise_for_epsilon,
    site_noise_share,
    train_dpsgd,
)
from accord.survival.losses import cox_partial_likelihood_loss

__all__ = ["dpsgd_noise", "privatise_update", "train_private"]


def dpsgd_noise(privacy: PrivacySpec, n_train: int, batch_size: int, total_steps: int) -> float:
    """σ for DP-SGD: the study's, or the smallest reaching its ε at δ over the plan."""
    if privacy.noise_multiplier is not None:
        return privacy.noise_multiplier
    if privacy.epsilon is None:
        raise ConfigError("privacy.dp = 'dpsgd' needs privacy.epsilon or privacy.noise_multiplier")
    sample_rate = min(1.0, batch_size / n_train)
    return noise_for_epsilon(privacy.epsilon, privacy.delta, sample_rate, total_steps)


def train_private(
    model: nn.Module,
    x: np.ndarray,
    time_days: np.ndarray,
    event: np.ndarray,
    config: LocalTrainingConfig,
    privacy: PrivacySpec,
    rounds: int,
    rnd: int,
    seed: int,
) -> tuple[float, dict[str, float | None]]:
    """One round of DP-SGD; returns the mean loss and the ε spent so far (both accountants)."""
    ties: Literal["breslow", "efron"] = config.ties
    sigma = dpsgd_noise(privacy, len(x), config.batch_size, config.steps * rounds)
    result = train_dpsgd(
        model,
        x,
        time_days,
        event,
        loss_fn=partial(cox_partial_likelihood_loss, ties=ties, reduction="sum"),
        steps=config.steps,
        batch_size=config.batch_size,
        lr=config.lr,
        max_grad_norm=privacy.max_grad_norm,
        noise_multiplier=sigma,
        delta=privacy.delta,
        seed=secrets.randbits(62),  # the noise seed must stay secret: never the study seed
    )
    sample_rate = min(1.0, config.batch_size / len(x))
    spent = dpsgd_epsilon(sigma, sample_rate, config.steps * (rnd + 1), privacy.delta)
    metrics: dict[str, float | None] = {"train_loss": result.mean_loss, "noise_multiplier": sigma}
    metrics |= {f"epsilon_{name}": s.epsilon for name, s in spent.items()}
    metrics["delta"] = privacy.delta
    return result.mean_loss, metrics


def privatise_update(
    delta: Arrays, privacy: PrivacySpec, shares: int, rnd: int, rounds: int, seed: int
) -> tuple[Arrays, dict[str, float | None]]:
    """DP-FedAvg at the site: clip the update, add this site's share of the noise
    (variance σ²C²/``shares``; ``shares`` = the secure round's threshold, 1 in clear)."""
    if privacy.noise_multiplier is None:
        raise ConfigError("privacy.dp = 'dpfedavg' needs privacy.noise_multiplier")
    clipped, _ = clip_update(delta, privacy.clip_norm)
    rng = np.random.default_rng(secrets.randbits(128))  # secret, never the study seed
    noisy = {
        k: v + site_noise_share(v.shape, privacy.clip_norm, privacy.noise_multiplier, shares, rng)
        for k, v in clipped.items()
    }
    spent = gaussian_mechanism_epsilon(privacy.noise_multiplier, rnd + 1, privacy.delta)
    metrics: dict[str, float | None] = {f"epsilon_{n}": s.epsilon for n, s in spent.items()}
    metrics["delta"] = privacy.delta
    return noisy, metrics

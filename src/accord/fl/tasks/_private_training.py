"""Differential privacy at a site: patient-level DP-SGD, or site-level DP-FedAvg clipping.

``dpsgd``: the site trains with Opacus' DP-SGD (per-patient clipping to ``max_grad_norm``,
Gaussian noise) on the logistic-hazard loss, a sum of per-patient terms (the study refuses
DP-SGD with any other loss). Steps, batch size and learning rate come from the site's own
copy of the study, never from the task (the hub is untrusted): the noise multiplier is the
smallest reaching the study's target ε at δ, by both accountants, over the whole plan
(``rounds × local_steps`` steps at sampling rate batch/n). After each round the site
reports σ, δ and the ε spent so far by two accountants (Opacus RDP, dp-accounting RDP),
which the ledger records per site, dataset and round; not the training loss, which is
computed on the private batches without noise.

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
from functools import lru_cache, partial

import numpy as np
from torch import nn

from accord.core import Arrays, ConfigError, PrivacySpec, StudySpec, TrainingSpec
from accord.models import LocalTrainingConfig, batch_loss
from accord.privacy import (
    clip_update,
    dpsgd_epsilon,
    gaussian_mechanism_epsilon,
    noise_for_epsilon,
    site_noise_share,
    train_dpsgd,
)

__all__ = ["dpsgd_noise", "privatise_update", "train_private"]


def dpsgd_noise(privacy: PrivacySpec, n_train: int, training: TrainingSpec) -> float:
    """σ for DP-SGD: the study's, or the smallest reaching its ε at δ over the plan's
    ``rounds × local_steps`` steps (by the more conservative accountant)."""
    if privacy.noise_multiplier is not None:
        return privacy.noise_multiplier
    if privacy.epsilon is None:
        raise ConfigError("privacy.dp = 'dpsgd' needs privacy.epsilon or privacy.noise_multiplier")
    sample_rate = min(1.0, training.batch_size / n_train)
    total_steps = training.local_steps * training.rounds
    return _noise_for_epsilon(privacy.epsilon, privacy.delta, sample_rate, total_steps)


# the same σ every round of a plan (and for a local baseline of the same study): search once
_noise_for_epsilon = lru_cache(maxsize=64)(noise_for_epsilon)


def train_private(
    model: nn.Module,
    x: np.ndarray,
    time_days: np.ndarray,
    event: np.ndarray,
    study: StudySpec,
    privacy: PrivacySpec,
    rnd: int,
) -> dict[str, float | None]:
    """Round ``rnd`` of DP-SGD with the study's loss and training settings; returns σ, δ
    and the ε spent after this round, by both accountants (no training loss)."""
    training = study.training
    config = LocalTrainingConfig(
        steps=training.local_steps,
        batch_size=training.batch_size,
        lr=training.lr,
        ties=study.model.ties,
        loss=study.model.loss,
        time_bins_days=study.model.time_bins_days,
    )
    sigma = dpsgd_noise(privacy, len(x), training)
    train_dpsgd(
        model,
        x,
        time_days,
        event,
        loss_fn=partial(batch_loss, config=config, reduction="sum"),
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
    metrics: dict[str, float | None] = {"noise_multiplier": sigma}
    metrics |= {f"epsilon_{name}": s.epsilon for name, s in spent.items()}
    metrics["delta"] = privacy.delta
    return metrics


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

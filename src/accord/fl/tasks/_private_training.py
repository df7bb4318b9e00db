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
once), rounds it to integers at secure aggregation's 2^F and adds its share of distributed
discrete Gaussian noise, variance σ²C²4^F / t, t the secure round's threshold, so that the
sum the hub learns — masked by secure aggregation — carries at least σ²C²4^F whenever it
can be unmasked at all (t or more sites): the central DP-FedAvg guarantee without trusting
the hub with the noise, and without too little noise when sites drop out. Without secure
aggregation the hub sees each update, so each carries all of it (t = 1, local DP). See
:mod:`accord.privacy._dpfedavg`.

DP-SGD's noise seeds, and DP-FedAvg's noise itself, come from the operating system's CSPRNG,
never from the study seed (which is public in results.json and the ledger): DP runs are
therefore not bit-for-bit repeatable.
"""

from __future__ import annotations

import secrets
from functools import lru_cache, partial

import numpy as np
from torch import nn

from accord.core import Arrays, ConfigError, PrivacyError, PrivacySpec, StudySpec, TrainingSpec
from accord.models import LocalTrainingConfig, batch_loss
from accord.privacy import (
    DP_ACCOUNTING_RDP,
    MAX_DIMENSION,
    DDGSetting,
    clip_update,
    ddg_epsilon,
    dpfedavg_noise,
    dpsgd_epsilon,
    gaussian_mechanism_epsilon,
    noise_for_epsilon,
    noise_update_ddg,
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
    delta: Arrays,
    privacy: PrivacySpec,
    threshold: int | None,
    fraction_bits: int,
    rnd: int,
    rounds: int,
) -> tuple[Arrays, dict[str, float | None]]:
    """DP-FedAvg at the site: clip the update, round it at 2^``fraction_bits``, add this
    site's discrete Gaussian share (variance σ²C²4^F / t, t the secure round's
    ``threshold``; None in clear: t = 1, local DP).

    σ is the study's ``noise_multiplier``, else the smallest reaching its ε over ``rounds``
    for this threshold and update size. Metrics: the σ, ε after round ``rnd`` by the DDG
    accountant (``epsilon_ddg_zcdp``) and, for reference, the continuous Gaussian's
    (``epsilon_gaussian_rdp``, never larger), δ, ``dp_threshold`` t and ``dp_local``
    (1: no secure aggregation, each update carries all the noise; 0: distributed).
    ``dim`` above :data:`~accord.privacy.MAX_DIMENSION` is refused (the plan's bound).
    """
    shares = 1 if threshold is None else threshold
    dim = sum(int(np.size(v)) for v in delta.values())
    if dim > MAX_DIMENSION:
        raise PrivacyError(
            f"DP-FedAvg update has {dim} coordinates; plans account for at most {MAX_DIMENSION}"
        )
    setting = DDGSetting(shares, dim, fraction_bits, privacy.clip_norm)
    sigma = dpfedavg_noise(privacy, rounds, shares, dim)
    clipped, _ = clip_update(delta, privacy.clip_norm)
    noisy = noise_update_ddg(clipped, sigma, setting)
    continuous = gaussian_mechanism_epsilon(sigma, rnd + 1, privacy.delta)
    metrics: dict[str, float | None] = {
        "noise_multiplier": sigma,
        "epsilon_ddg_zcdp": ddg_epsilon(sigma, rnd + 1, privacy.delta, setting),
        "epsilon_gaussian_rdp": continuous[DP_ACCOUNTING_RDP].epsilon,  # same orders
        "delta": privacy.delta,
        "dp_threshold": float(shares),
        "dp_local": 1.0 if threshold is None else 0.0,
    }
    return noisy, metrics

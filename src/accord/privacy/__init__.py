"""Differential privacy for accord: DP-SGD (Opacus), site-level DP-FedAvg, accounting, budgets
and small-cell suppression.

Sits beside ``survival``, ``data``, ``ledger`` and ``crypto``: it imports only ``accord.core``,
torch, numpy, Opacus and dp-accounting. Losses come in as callables from the caller.
Invalid parameters raise :class:`~accord.core._errors.ConfigError`; a refused budget charge
raises :class:`~accord.core._errors.PrivacyError` (exit code 6).
"""

from accord.privacy._accounting import (
    DP_ACCOUNTING_RDP,
    OPACUS_RDP,
    PrivacySpent,
    dpsgd_epsilon,
    gaussian_mechanism_epsilon,
    most_conservative,
    noise_for_epsilon,
)
from accord.privacy._budget import PrivacyBudget
from accord.privacy._dpfedavg import clip_update, noise_aggregate, site_noise_share
from accord.privacy._dpsgd import DPTrainingResult, LossFn, train_dpsgd
from accord.privacy._suppression import SUPPRESSED, suppress_small_counts

__all__ = [
    "DP_ACCOUNTING_RDP",
    "OPACUS_RDP",
    "SUPPRESSED",
    "DPTrainingResult",
    "LossFn",
    "PrivacyBudget",
    "PrivacySpent",
    "clip_update",
    "dpsgd_epsilon",
    "gaussian_mechanism_epsilon",
    "most_conservative",
    "noise_aggregate",
    "noise_for_epsilon",
    "site_noise_share",
    "suppress_small_counts",
    "train_dpsgd",
]

"""Differential privacy for accord: DP-SGD (Opacus), site-level DP-FedAvg with
distributed discrete Gaussian noise, accounting, budgets and small-cell suppression.

Sits beside ``survival``, ``data``, ``ledger`` and ``crypto``: it imports only ``accord.core``,
torch, numpy, Opacus and dp-accounting. Losses come in as callables from the caller.
Invalid parameters raise :class:`~accord.core._errors.ConfigError`; a refused budget charge
raises :class:`~accord.core._errors.PrivacyError` (exit code 6).

DP-SGD (:func:`train_dpsgd`, which needs torch and Opacus' training code) imports on first
use (:mod:`accord._lazy_face`): the accountants and the DP-FedAvg mechanism do not pull in
torch, so the hub side (plans, the round loop) can ask what a plan's ε is.
"""

from typing import TYPE_CHECKING

from accord._lazy_face import lazy_face
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
from accord.privacy._ddg_accounting import (
    MAX_DIMENSION,
    DDGSetting,
    ddg_epsilon,
    ddg_noise_for_epsilon,
)
from accord.privacy._discrete_gaussian import (
    randomised_round,
    rounded_l2_bound,
    sample_discrete_gaussian,
)
from accord.privacy._dpfedavg import (
    clip_update,
    dpfedavg_epsilon,
    dpfedavg_noise,
    dpfedavg_setting,
    noise_update_ddg,
)
from accord.privacy._suppression import SUPPRESSED, suppress_small_counts

if TYPE_CHECKING:
    from accord.privacy._dpsgd import DPTrainingResult, LossFn, train_dpsgd

__getattr__ = lazy_face(
    "accord.privacy", {"DPTrainingResult": "_dpsgd", "LossFn": "_dpsgd", "train_dpsgd": "_dpsgd"}
)

__all__ = [
    "DP_ACCOUNTING_RDP",
    "MAX_DIMENSION",
    "OPACUS_RDP",
    "SUPPRESSED",
    "DDGSetting",
    "DPTrainingResult",
    "LossFn",
    "PrivacyBudget",
    "PrivacySpent",
    "clip_update",
    "ddg_epsilon",
    "ddg_noise_for_epsilon",
    "dpfedavg_epsilon",
    "dpfedavg_noise",
    "dpfedavg_setting",
    "dpsgd_epsilon",
    "gaussian_mechanism_epsilon",
    "most_conservative",
    "noise_for_epsilon",
    "noise_update_ddg",
    "randomised_round",
    "rounded_l2_bound",
    "sample_discrete_gaussian",
    "suppress_small_counts",
    "train_dpsgd",
]

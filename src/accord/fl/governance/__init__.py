"""Governance: the consortium's assets on the ledger, who may use them, and site policy.

Pure logic over verified ledger entries (no torch, no models), importable by the hub:

- :mod:`~accord.fl.governance.assets` replays entries into a :class:`GovernanceView`
  of datasets, functions, approval decisions, plans and models;
- :mod:`~accord.fl.governance.permissions` says who may process a dataset or download a
  model (the intersection of its datasets' permissions);
- :mod:`~accord.fl.governance.policy` is a site's local policy and :func:`check_task`.
"""

from __future__ import annotations

from accord.fl.governance.assets import (
    DATASET_DISABLED,
    DATASET_REGISTERED,
    DATASET_UPDATED,
    FUNCTION_APPROVED,
    FUNCTION_REGISTERED,
    FUNCTION_REJECTED,
    MODALITIES,
    MODEL_REGISTERED,
    PLAN_SUBMITTED,
    Dataset,
    Decision,
    Function,
    GovernanceView,
    Modality,
    Model,
    Plan,
    function_hash,
)
from accord.fl.governance.permissions import can_download, can_process, model_permissions
from accord.fl.governance.policy import SitePolicy, check_task, load_site_policy, parse_site_policy

__all__ = [
    "DATASET_DISABLED",
    "DATASET_REGISTERED",
    "DATASET_UPDATED",
    "FUNCTION_APPROVED",
    "FUNCTION_REGISTERED",
    "FUNCTION_REJECTED",
    "MODALITIES",
    "MODEL_REGISTERED",
    "PLAN_SUBMITTED",
    "Dataset",
    "Decision",
    "Function",
    "GovernanceView",
    "Modality",
    "Model",
    "Plan",
    "SitePolicy",
    "can_download",
    "can_process",
    "check_task",
    "function_hash",
    "load_site_policy",
    "model_permissions",
    "parse_site_policy",
]

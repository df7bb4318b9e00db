"""Governance: the consortium's assets on the ledger, who may use them, and site policy.

Pure logic over verified ledger entries (no torch, no models), importable by the hub:

- :class:`GovernanceView` replays entries into the datasets, functions, approval
  decisions, submitted plans and models they describe;
- :func:`can_process` / :func:`can_download` say who may process a dataset or download a
  model (the intersection of its datasets' permissions);
- :class:`SitePolicy` is a site's local policy and :func:`check_task` applies it;
- :func:`archive_hash` of :func:`function_archive` is the identity of what a site runs:
  the whole study configuration and every module on the site's execution path
  (:func:`site_code`, from the import graph of :data:`SITE_ENTRY_POINTS`);
- :func:`plan_entry_fields` are a plan's sites and secure-aggregation settings as its
  signed ``plan.submitted`` entry carries them (read back into :class:`SubmittedPlan`).

A site applies all of it from its own verified replica: :mod:`accord.fl._site_governance`.
"""

from __future__ import annotations

from accord.fl.governance._assets import (
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
    SubmittedPlan,
    function_hash,
)
from accord.fl.governance._function import (
    SiteInstall,
    archive_diff,
    archive_hash,
    archive_summary,
    function_archive,
    plan_config,
)
from accord.fl.governance._permissions import can_download, can_process, model_permissions
from accord.fl.governance._plan_entry import plan_entry_fields
from accord.fl.governance._policy import SitePolicy, check_task, load_site_policy, parse_site_policy
from accord.fl.governance._site_code import SITE_ENTRY_POINTS, site_code
from accord.fl.governance._submission import STUDY_FINISHED, STUDY_SUBMITTED, Submission

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
    "SITE_ENTRY_POINTS",
    "STUDY_FINISHED",
    "STUDY_SUBMITTED",
    "Dataset",
    "Decision",
    "Function",
    "GovernanceView",
    "Modality",
    "Model",
    "SiteInstall",
    "SitePolicy",
    "Submission",
    "SubmittedPlan",
    "archive_diff",
    "archive_hash",
    "archive_summary",
    "can_download",
    "can_process",
    "check_task",
    "function_archive",
    "function_hash",
    "load_site_policy",
    "model_permissions",
    "parse_site_policy",
    "plan_config",
    "plan_entry_fields",
    "site_code",
]

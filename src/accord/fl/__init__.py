"""Federated learning: plans, the hub's round loop, secure aggregation, the site runtime.

The hub side (:class:`Plan`, :class:`Hub`, :func:`secure_round`, strategies in
:mod:`accord.fl.strategies`, aggregation) never imports torch; what a site computes on
its rows is :mod:`accord.fl.tasks` (torch), and the consortium's governance rules are
:mod:`accord.fl.governance`.
"""

from __future__ import annotations

from accord.fl._aggregation import WeightedSum, sum_contributions
from accord.fl._dp_plan import (
    NON_DP_RELEASES,
    plan_epsilon,
    planned_epsilon,
    releases_of,
    site_epsilon,
)
from accord.fl._evaluation import (
    COUNT_KEYS,
    cindex_interval,
    difference_interval,
    suppress_small,
)
from accord.fl._hub import Hub, Recorder, RoundLog, TaskContent
from accord.fl._in_memory import InMemoryTransport
from accord.fl._plan import (
    ExpectSecure,
    Plan,
    PlanBook,
    SecurePlan,
    SecureSettings,
    expect_from_plans,
    plan_task_config,
    round_secagg,
)
from accord.fl._recording import LedgerRecorder, PolicyCheck
from accord.fl._risk_groups import (
    GROUPS,
    coarsen_counts,
    histogram_grid,
    histogram_median,
    time_grid,
)
from accord.fl._secure import Exchange, secure_round
from accord.fl._secure_site import secure_aggregation_middleware
from accord.fl._site import Handler, Middleware, Site, SiteContext
from accord.fl._site_chain import site_middleware
from accord.fl._site_governance import SiteGovernance, current_key
from accord.fl._spend import PRIVACY_JOURNAL, PlanCharge, PrivacyJournal, plan_charges
from accord.fl._task_config import DPSettings, SecAggRound, TaskConfig

__all__ = [
    "COUNT_KEYS",
    "GROUPS",
    "NON_DP_RELEASES",
    "PRIVACY_JOURNAL",
    "DPSettings",
    "Exchange",
    "ExpectSecure",
    "Handler",
    "Hub",
    "InMemoryTransport",
    "LedgerRecorder",
    "Middleware",
    "Plan",
    "PlanBook",
    "PlanCharge",
    "PolicyCheck",
    "PrivacyJournal",
    "Recorder",
    "RoundLog",
    "SecAggRound",
    "SecurePlan",
    "SecureSettings",
    "Site",
    "SiteContext",
    "SiteGovernance",
    "TaskConfig",
    "TaskContent",
    "WeightedSum",
    "cindex_interval",
    "coarsen_counts",
    "current_key",
    "difference_interval",
    "expect_from_plans",
    "histogram_grid",
    "histogram_median",
    "plan_charges",
    "plan_epsilon",
    "plan_task_config",
    "planned_epsilon",
    "releases_of",
    "round_secagg",
    "secure_aggregation_middleware",
    "secure_round",
    "site_epsilon",
    "site_middleware",
    "sum_contributions",
    "suppress_small",
    "time_grid",
]

"""Site tasks: what a site computes on its own rows for each kind of task (torch).

The handlers behind :class:`accord.fl.Site` — local training (plain, DP-SGD,
DP-FedAvg), Cox derivatives, evaluation, risk-group counts, tile features,
interpretability and local-only baselines. Only sites and simulations import this package;
the hub never does.
"""

from __future__ import annotations

from accord.fl.tasks._pathology import CACHE_KEY
from accord.fl.tasks._site_handlers import SITE_HANDLERS

__all__ = [
    "CACHE_KEY",
    "SITE_HANDLERS",
]

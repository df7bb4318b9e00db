"""``accord hub prune`` and ``accord site prune``: the retention policy applied to a folder.

:func:`hub_in_use` asks the hub's stores what is still needed (blobs of open rounds, the
plans that finished); :func:`prune_hub_state` opens the stores a ``hub.toml`` names, asks
them, and applies the policy; :func:`prune_site_state` does it for a site's spool. The
running hub calls :meth:`~accord.services._hub_service.HubService.prune` (its stores are
open already), at start and then every :data:`PRUNE_EVERY_S` seconds.
"""

from __future__ import annotations

import contextlib
import logging
from pathlib import Path

from accord.fl.governance import MODEL_REGISTERED
from accord.ledger import LedgerStore
from accord.net import QueueStore
from accord.services._retention import (
    InUse,
    PruneReport,
    RetentionPolicy,
    apply_retention,
)
from accord.services._store_config import StoreConfig

__all__ = ["PRUNE_EVERY_S", "hub_in_use", "log_report", "prune_hub_state", "prune_site_state"]

log = logging.getLogger("accord.retention")

PRUNE_EVERY_S = 3600.0  # how often a long-running hub applies its retention policy


def hub_in_use(queue: QueueStore, ledger: LedgerStore) -> InUse:
    """The blobs rounds still open need, and the plans with a registered model."""
    finished = {s.plan for s in ledger.find(kind=MODEL_REGISTERED) if s.plan}
    return InUse(blobs=frozenset(queue.blobs_in_use()), finished_plans=frozenset(finished))


def prune_hub_state(
    policy: RetentionPolicy,
    state: Path,
    store: StoreConfig,
    ledger_sqlite: Path,
    *,
    dry_run: bool = False,
) -> PruneReport:
    """Apply ``policy`` to the hub's ``state`` folder, asking the stores ``store`` names
    (the ledger at ``ledger_sqlite`` with SQLite) what is still needed. Nothing is opened
    when the policy limits neither blobs nor checkpoints."""
    if policy.blobs is None and policy.checkpoints is None:
        return apply_retention(policy, state, dry_run=dry_run, in_use=InUse())
    with contextlib.ExitStack() as stack:
        ledger = store.open_ledger(ledger_sqlite)
        stack.callback(ledger.close)
        queue = store.open_queue(state)
        stack.callback(queue.close)
        in_use = hub_in_use(queue, ledger)
    return apply_retention(policy, state, dry_run=dry_run, in_use=in_use)


def prune_site_state(
    policy: RetentionPolicy, folder: Path, *, dry_run: bool = False
) -> PruneReport:
    """Apply ``policy`` to a site's ``folder`` (its spool's payload cache; never a reply
    the hub has not acknowledged)."""
    return apply_retention(policy, folder, dry_run=dry_run)


def log_report(report: PruneReport, who: str) -> None:
    """One log line for what was pruned (a line per item only at debug level)."""
    if report.removed:
        log.info(
            "%s retention: removed %d files (%d bytes)",
            who,
            len(report.removed),
            report.removed_bytes,
        )
    for line in report.lines():
        log.debug("%s retention: %s", who, line)

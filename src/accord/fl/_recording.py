"""Recording a run in the consortium ledger: what the hub and each site sign.

Sites sign their own entries through a middleware (``task.accepted`` before touching data,
then ``task.completed`` with the output hash, sample count and — for evaluations — the
site-level metrics, or ``task.failed`` / ``task.refused``). The hub signs dispatches and
aggregations. Payloads hold ids, hashes, counts and metric values as decimal strings only.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from accord.core import AccordError, PolicyError, sha256_hex
from accord.fl._evaluation import suppress_small
from accord.fl._site import Handler, Middleware, SiteContext
from accord.fl._task_config import TaskConfig
from accord.ledger import LedgerWriter, Signer, decimal
from accord.net import Reply, Task

__all__ = ["LedgerRecorder"]


PolicyCheck = Callable[[Task, SiteContext], None]


def _task_fields(task: Task, ctx: SiteContext) -> dict[str, Any]:
    fields = _dispatch_fields(task)
    if ctx.dataset_id:
        fields["dataset"] = ctx.dataset_id
    return fields


def _dispatch_fields(task: Task) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "plan": task.plan_id,
        "task": task.task_id,
        "site": task.site,
        "round": task.round,
        "task_kind": task.kind,
        "input_hash": sha256_hex(task.payload),
    }
    function = TaskConfig.of(task).function
    if function:
        fields["function"] = function
    return fields


def _is_privacy(metric: str) -> bool:
    return metric.startswith(("epsilon", "dp_")) or metric in ("delta", "noise_multiplier")


class LedgerRecorder:
    """Records one consortium's operations; remembers each task's completion entry."""

    def __init__(self, ledger: LedgerWriter, hub: Signer, min_cell_count: int = 5) -> None:
        self.ledger = ledger
        self.hub = hub
        self.min_cell_count = min_cell_count
        self.completed: dict[str, int] = {}

    def record(self, author: Signer, kind: str, payload: dict[str, Any]) -> int:
        return self.ledger.record(author, kind, payload).seq

    def dispatched(self, tasks: Sequence[Task]) -> None:
        items = [("task.dispatched", _dispatch_fields(t)) for t in tasks]
        if items:
            self.ledger.record_batch(self.hub, items)

    def aggregated(
        self,
        plan: str,
        rnd: int,
        participants: Sequence[str],
        params_hash: str,
        excluded: Mapping[str, str] | None = None,
    ) -> int:
        payload: dict[str, Any] = {
            "plan": plan,
            "round": rnd,
            "participants": sorted(participants),
            "output_hash": params_hash,
        }
        if excluded:  # a site left out of the round is on the ledger, with why
            payload["excluded"] = dict(sorted(excluded.items()))
        return self.record(self.hub, "aggregation", payload)

    def refused(self, site: Signer, task: Task, dataset_id: str, reason: str) -> int:
        """Sign ``site``'s refusal of ``task`` decided before any of its data is opened
        (a plan not on its ledger, a function its owner has not approved)."""
        fields = _dispatch_fields(task)
        if dataset_id:
            fields["dataset"] = dataset_id
        return self.record(site, "task.refused", {**fields, "reason": reason})

    def middleware(self, site: Signer, policy: PolicyCheck | None = None) -> Middleware:
        """The site-side middleware that signs this site's entries around each task.

        ``policy`` runs before the site accepts the task: a PolicyError becomes a signed
        ``task.refused`` entry with its reason, and the data is never touched.
        """

        def record_task(task: Task, ctx: SiteContext, handler: Handler) -> Reply:
            fields = _task_fields(task, ctx)
            try:
                if policy is not None:
                    policy(task, ctx)
            except PolicyError as exc:
                self.record(site, "task.refused", {**fields, "reason": str(exc)})
                raise
            self.record(site, "task.accepted", fields)
            try:
                reply = handler(task, ctx)
            except PolicyError as exc:
                self.record(site, "task.refused", {**fields, "reason": str(exc)})
                raise
            except AccordError as exc:
                self.record(site, "task.failed", {**fields, "error": type(exc).__name__})
                raise
            except Exception as exc:
                self.record(site, "task.failed", {**fields, "error": type(exc).__name__})
                raise
            self.completed[task.task_id] = self.record(
                site, "task.completed", {**fields, **self._outcome(reply, ctx)}
            )
            return reply

        return record_task

    def _outcome(self, reply: Reply, ctx: SiteContext) -> dict[str, Any]:
        out: dict[str, Any] = {
            "output_hash": sha256_hex(reply.payload),
            "n_train": suppress_small(ctx.cohort.n_train, self.min_cell_count),
        }
        privacy = {k: decimal(v) for k, v in sorted(reply.metrics.items()) if _is_privacy(k)}
        if privacy:
            out["privacy"] = privacy
        if reply.kind in ("evaluate", "local_baseline"):  # site-level figures, signed
            out["metrics"] = {k: decimal(v) for k, v in sorted(reply.metrics.items())}
            out["counts"] = dict(sorted(reply.counts.items()))
        return out

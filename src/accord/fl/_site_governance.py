"""One site's view of the consortium's governance, from its own verified ledger replica.

Before touching its data for any task, a site pulls the hub's log into its replica
(verifying every entry), replays the governance entries (registered datasets,
permissions, approved functions, revoked keys, ...) and checks the task against its own
policy (``site.toml``). The same object serves a simulated site (the hub's log is in the
same process) and a site process talking to a hub over HTTPS (``hub`` is then a remote
stand-in with the same methods: ``accord.net._remote_ledger.RemoteHub``).

The policy check compares the task's plan with the function its owner approved, and the
site's *own* study file (its :class:`SiteContext`'s study) and installed code
(:func:`~accord.fl.governance.site_code`) with that function's archive.
:meth:`SiteGovernance.expect_secure` gives the site what every secure round of a plan
must be, from the plan's signed entry (an :data:`~accord.fl._plan.ExpectSecure`).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field

from accord.core import LedgerError, PolicyError, PrivacyError, StudySpec
from accord.crypto import Identity
from accord.fl._dp_plan import releases_of, site_epsilon
from accord.fl._plan import SecurePlan
from accord.fl._recording import PolicyCheck
from accord.fl._site import SiteContext
from accord.fl._spend import PrivacyJournal, plan_charges
from accord.fl._task_config import TaskConfig
from accord.fl.governance import (
    GovernanceView,
    SiteInstall,
    SitePolicy,
    check_task,
    plan_config,
    site_code,
)
from accord.ledger import Entry, LogSource, SiteReplica
from accord.net import Task

__all__ = ["SiteGovernance", "current_key"]


@dataclass
class SiteGovernance:
    """A site's replica, policy and dataset; its policy check and privacy accounting."""

    site: str
    identity: Identity
    replica: SiteReplica
    hub: LogSource
    dataset_id: str
    policy: SitePolicy
    journal: PrivacyJournal = field(default_factory=PrivacyJournal)
    _view: GovernanceView = field(default_factory=GovernanceView)
    _cursor: int = 0

    def view(self) -> GovernanceView:
        """The governance state as this site's verified replica knows it (pulled first)."""
        self.replica.pull(self.hub)
        for stored in self.replica.store.read(self._cursor):
            # a governance entry the rules refuse (e.g. an approval by a non-owner) has no effect
            with contextlib.suppress(LedgerError):
                self._view.apply(Entry.parse(stored.entry))
            self._cursor = stored.seq + 1
        return self._view

    def sync(self) -> None:
        """Pull, verify and co-sign the hub's latest checkpoint."""
        self.replica.sync(self.hub)

    def policy_check(self) -> PolicyCheck:
        """The check this site runs before accepting a task (its policy never leaves it)."""

        def check(task: Task, ctx: SiteContext) -> None:
            view = self.view()
            spent = max(
                self.epsilon_spent(exclude_plan=task.plan_id),
                self.journal.spent(self.dataset_id, exclude_plan=task.plan_id),
            )
            check_task(
                self.policy,
                view,
                plan_id=task.plan_id,
                function=TaskConfig.of(task).function,
                dataset_id=self.dataset_id,
                site_org=self.identity.org,
                cohort_size=ctx.cohort.n_train,
                round=task.round,
                local=SiteInstall.of(ctx.study, site_code()),
                epsilon_spent=spent,
                task_kind=task.kind,
                export_patients=int(task.config.get("patients", 0)),
            )
            self._charge(view, task, ctx.cohort.n_train)

        return check

    def _charge(self, view: GovernanceView, task: Task, n_train: int) -> None:
        """Charge the journal for a task that runs the plan's DP mechanism (it passed the
        policy check, so its plan and function are on the ledger)."""
        plan = view.plans[task.plan_id]
        study = StudySpec.model_validate(plan_config(view.functions[plan.function].archive))
        if "dp" not in releases_of(task.kind, study):
            return
        allowed = 1 if task.kind == "local_baseline" else study.training.rounds
        spend = max(
            float(plan.dp_epsilon or 0.0), site_epsilon(study, n_train, len(plan.sites)) or 0.0
        )
        self.journal.charge(self.dataset_id, plan.id, task.kind, allowed, spend)

    def expect_secure(self, task: Task, ctx: SiteContext) -> SecurePlan | None:
        """What every secure round of ``task``'s plan must be — its sites, in order, and its
        secure-aggregation settings — from the plan's signed entry in this site's verified
        replica; None when the plan's sums are plain. An :data:`~accord.fl.ExpectSecure`.

        Raises PolicyError when the plan is not on the ledger.
        """
        plan = self.view().plans.get(task.plan_id)
        if plan is None:
            raise PolicyError(f"plan {task.plan_id} is not on the ledger")
        return plan.secure

    def epsilon_spent(self, exclude_plan: str | None = None) -> float:
        """ε this site's dataset has spent: per plan the larger of the ε it declared and
        the largest ε the site recorded for it, summed over every plan whose DP training
        this site answered (:func:`~accord.fl._spend.plan_charges`). The running plan is
        excluded: the policy check adds its whole charge before it starts."""
        declared = {p.id: p.dp_epsilon for p in self.view().plans.values()}
        completions = (
            Entry.parse(stored.entry)
            for stored in self.replica.store.find(kind="task.completed", org=self.identity.org)
        )
        charges = plan_charges(completions, self.dataset_id, declared, exclude_plan=exclude_plan)
        return sum(c.charged for c in charges.values())

    def public_key(self, org: str) -> bytes:
        """An organisation's current (latest, unrevoked) key, as this replica records it."""
        return current_key(self.view(), org)


def current_key(view: GovernanceView, org: str) -> bytes:
    """``org``'s latest unrevoked signing key in ``view``'s key registry."""
    registry = view.registry
    valid = [s for (o, _), s in registry.keys.items() if o == org and s.revoked_seq is None]
    if not valid:
        raise PrivacyError(f"no valid key on the ledger for organisation {org}")
    return max(valid, key=lambda s: s.added_seq).public_key

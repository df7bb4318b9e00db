"""Plans of a study run: decided once (:class:`~accord.fl._plan.Plan`), signed on the ledger.

:class:`Planner` makes every plan of a run from the study: its task settings (rounds, DP,
the registered function's hash), its secure aggregation (decided by ``Plan.create``) and,
with a ledger, the researcher's signed ``plan.submitted`` entry: the plan's configuration
hash and site-code hash (those of its function), its sites in the order a secure round
invites them and its secure-aggregation settings (``plan_entry_fields``), so that every
site takes them from the signed plan, not from the hub. A restarted hub resumes a plan it
had begun (same id, no second submission) from its checkpoints.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from accord.core import ConfigError, StudySpec, dp_refusal
from accord.fl import Plan, PlanBook, plan_epsilon, plan_task_config, planned_epsilon
from accord.fl.governance import plan_entry_fields
from accord.fl.strategies import SiteInfo, Strategy
from accord.ledger import decimal
from accord.studies._audit import RunLedger
from accord.studies._checkpoints import PlanCheckpoints

__all__ = ["Planner", "planned_epsilon"]  # planned_epsilon: accord.fl's, kept here too


@dataclass
class Planner:
    """Makes a run's plans; with ``audit``, registers the function and signs each plan.

    ``site_study`` is the study every site holds (the run's); a plan's study may replace
    its [model] and [training] (a baseline), nothing else. ``book``: the ledger-less
    simulation's sites learn each plan from it (with a ledger they read the signed one).
    """

    seed: int
    audit: RunLedger | None = None
    checkpoints: PlanCheckpoints | None = None
    site_study: StudySpec | None = None
    book: PlanBook | None = None

    def begin(
        self,
        method: str,
        study: StudySpec,
        sites: Sequence[SiteInfo],
        trained_on: Sequence[str],
        *,
        strategy: Strategy | None = None,
        summed: bool = True,
    ) -> tuple[Plan, int | None]:
        """A new plan (or the resumed one) for ``method``; and its ledger seq, if any.

        Raises :class:`~accord.core._errors.ConfigError` before anything is signed when the
        study's privacy settings cannot run ``strategy``, or when ``study`` differs from
        the sites' study in more than [model] and [training].
        """
        refusal = dp_refusal(study)
        if refusal is not None:  # a study built in code (model_copy) is not validated
            raise ConfigError(f"study '{study.study.name}': {refusal}")
        resumed = self.checkpoints.plan(method) if self.checkpoints else None
        config = plan_task_config(study.privacy, study.training, len(sites), study.model.kind)
        plan = Plan.create(
            method,
            sites,
            study.privacy,
            config=config,
            strategy=strategy,
            summed=summed,
            plan_id=resumed[0] if resumed else None,
        )
        if self.audit is None:
            if self.book is not None:
                self.book.add(plan)
            return plan, None
        function = self.audit.register_function(study, self.site_study)
        registered = self.audit.hub_view().functions[function]
        plan = replace(plan, config=plan.config.model_copy(update={"function": function}))
        if resumed:  # the plan is already on the ledger: carry on with it
            return plan, resumed[1]
        payload = {
            "study": study.study.name,
            "method": method,
            "config_hash": study.config_hash(),
            "code_hash": registered.code_hash,
            "function": function,
            "strategy": study.training.strategy,
            "rounds": study.training.rounds,
            **plan_entry_fields(plan),
            "dp_epsilon": decimal(plan_epsilon(method, study, len(sites))),
            "trained_on": list(trained_on),
            "seed": self.seed,
        }
        seq = self.audit.submit_plan(plan.plan_id, payload)
        if self.checkpoints is not None:
            self.checkpoints.begin(method, plan.plan_id, seq)
        return plan, seq

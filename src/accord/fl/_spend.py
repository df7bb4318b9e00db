"""The ε each plan has spent on one dataset, from the ledger's entries.

Per plan the charge is the larger of the ε the plan declared and the largest ε the
dataset's site recorded for it (each ``task.completed`` of a DP training carries the ε
spent so far, by every accountant the site ran); a plan counts once its DP training has
touched the dataset. Charges add up across plans (basic composition): that is what a
site's budget is checked against (:class:`~accord.fl.SiteGovernance`) and what
``accord audit --dataset`` shows.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from accord.ledger import Entry

__all__ = ["DP_TASK_KINDS", "PlanCharge", "plan_charges"]

DP_TASK_KINDS = ("train", "local_baseline")
"""The task kinds in which a DP plan's mechanism runs on a site's rows."""


@dataclass
class PlanCharge:
    """One plan's charge to a dataset: declared ε, the largest recorded per accountant."""

    plan: str
    declared: float | None
    recorded: dict[str, float] = field(default_factory=dict)

    @property
    def charged(self) -> float:
        return max([self.declared or 0.0, *self.recorded.values()])

    @property
    def accountant(self) -> str:
        """The accountant whose ε is charged (``declared`` when the declaration is larger)."""
        if not self.recorded or (self.declared or 0.0) >= max(self.recorded.values()):
            return "declared"
        return max(self.recorded, key=lambda k: self.recorded[k]).removeprefix("epsilon_")


def plan_charges(
    completions: Iterable[Entry],
    dataset: str,
    declared: Mapping[str, str | None],
    *,
    exclude_plan: str | None = None,
) -> dict[str, PlanCharge]:
    """The charge of every plan whose DP training touched ``dataset``.

    ``completions``: the site's ``task.completed`` entries (others are skipped);
    ``declared``: each plan's declared ``dp_epsilon`` (decimal string or None).
    """
    charges: dict[str, PlanCharge] = {}
    for entry in completions:
        payload = entry.payload
        plan = str(payload.get("plan"))
        if entry.kind != "task.completed" or payload.get("dataset") != dataset:
            continue
        if plan == exclude_plan:
            continue
        privacy = payload.get("privacy") or {}
        recorded = {
            k: float(v) for k, v in privacy.items() if k.startswith("epsilon") and v is not None
        }
        said = declared.get(plan)
        if not recorded and not (payload.get("task_kind") in DP_TASK_KINDS and said is not None):
            continue
        charge = charges.setdefault(plan, PlanCharge(plan, None if said is None else float(said)))
        for name, value in recorded.items():
            charge.recorded[name] = max(charge.recorded.get(name, 0.0), value)
    return charges

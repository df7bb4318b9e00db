"""The ε each plan has spent on one dataset, from the ledger's entries.

Per plan the charge is the larger of the ε the plan declared and the largest ε the
dataset's site recorded for it (each ``task.completed`` of a DP training carries the ε
spent so far, by every accountant the site ran); a plan counts once its DP training has
touched the dataset. Charges add up across plans (basic composition): that is what a
site's budget is checked against (:class:`~accord.fl.SiteGovernance`) and what
``accord audit --dataset`` shows.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from accord.core import PolicyError, PrivacyError, load_json_file, write_bytes_atomic
from accord.ledger import Entry

__all__ = ["DP_TASK_KINDS", "PRIVACY_JOURNAL", "PlanCharge", "PrivacyJournal", "plan_charges"]

PRIVACY_JOURNAL = "privacy-journal.json"
"""A site's journal file, in its folder (beside its ledger replica)."""

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


@dataclass
class PrivacyJournal:
    """A site's own record of the DP releases it made, kept on its machine.

    The ledger replica is the consortium's record, but the hub decides what enters it (it
    could drop a site's ``task.completed``) and what it asks for (it could send the same
    DP round again, to average the noise away). So before it runs a plan's DP mechanism a
    site charges its journal: one execution per round of the plan (a local baseline runs
    all its rounds in one task), never more than the approved study's rounds, and the
    plan's charge. The budget check takes the larger of the journal's and the ledger's
    totals. With ``path`` the journal is a JSON file written with write-then-rename (the
    charge is on disk before any figure leaves); without, it lives in memory.
    """

    path: Path | None = None
    _plans: dict[str, dict[str, Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.path is not None and self.path.exists():
            data = load_json_file(self.path, PrivacyError, "a privacy journal")
            if not isinstance(data, dict) or not all(
                isinstance(v, dict) and isinstance(v.get("epsilon"), str) for v in data.values()
            ):
                raise PrivacyError(f"{self.path}: field 'plans': not a privacy journal")
            self._plans = data

    def spent(self, dataset: str, exclude_plan: str | None = None) -> float:
        """ε charged to ``dataset`` by every plan but ``exclude_plan``."""
        return sum(
            float(v["epsilon"])
            for k, v in self._plans.items()
            if v.get("dataset") == dataset and k != f"{dataset}/{exclude_plan}"
        )

    def charge(self, dataset: str, plan: str, kind: str, allowed: int, epsilon: float) -> None:
        """Record one execution of ``plan``'s DP mechanism (task ``kind``) on ``dataset``.

        Raises:
            PolicyError: the plan has had its ``allowed`` executions of ``kind`` here.
        """
        record = self._plans.setdefault(
            f"{dataset}/{plan}", {"dataset": dataset, "epsilon": "0", "executions": {}}
        )
        done = int(record["executions"].get(kind, 0))
        if done >= allowed:
            raise PolicyError(
                f"plan {plan} has had its {allowed} differentially private '{kind}' "
                f"executions on dataset {dataset}; a repeat would spend more than it declared"
            )
        record["executions"][kind] = done + 1
        record["epsilon"] = str(max(float(record["epsilon"]), epsilon))
        if self.path is not None:
            write_bytes_atomic(self.path, json.dumps(self._plans, sort_keys=True).encode())

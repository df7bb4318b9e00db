"""The hub's round loop: post tasks, collect replies, sum contributions, call the strategy.

The hub only ever sees what sites return (sums, counts, site-level metrics). A site that
fails or drops out is recorded as data and the round goes on while at least
``min_sites`` answered. Every call takes the :class:`~accord.fl._plan.Plan` it serves: the
plan says who takes part, what each task carries and whether sums are secure.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol, TypedDict, Unpack

from accord.core import AggregationError, Arrays, encode_arrays, new_id, sha256_hex
from accord.fl._aggregation import WeightedSum, sum_contributions
from accord.fl._plan import Plan
from accord.fl._secure import secure_round
from accord.fl.strategies._base import GlobalState, Instruction
from accord.net import ConfigValue, Dropout, Reply, Task, TaskKind, Transport

__all__ = ["Hub", "Recorder", "RoundLog", "TaskContent"]

Progress = Callable[[int, GlobalState], None]


class TaskContent(TypedDict, total=False):
    """What a broadcast task holds besides the plan's settings."""

    arrays: Arrays | None  # the payload (safetensors), e.g. the global model
    config: Mapping[str, ConfigValue] | None  # the handler's own settings
    document: str  # a JSON document (the preprocessor, secure-aggregation shares)
    sites: Sequence[str]  # a subset of the plan's sites


class Recorder(Protocol):
    """What the hub records in the ledger (see ``accord.fl._recording.LedgerRecorder``)."""

    def dispatched(self, tasks: Sequence[Task]) -> None: ...

    def aggregated(
        self,
        plan: str,
        rnd: int,
        participants: Sequence[str],
        params_hash: str,
        excluded: Mapping[str, str] | None = None,
    ) -> int: ...


@dataclass
class RoundLog:
    """Per exchange: its plan and round, which sites answered, which failed or dropped out
    (with the reason: an error class and accord's message, never a value)."""

    round: int
    contributed: list[str] = field(default_factory=list)
    missing: dict[str, str] = field(default_factory=dict)
    plan: str = ""


class Hub:
    """Runs plans over ``transport``; keeps a :class:`RoundLog` of every exchange."""

    def __init__(
        self,
        transport: Transport,
        timeout_s: float = 600.0,
        min_sites: int = 1,
        recorder: Recorder | None = None,
    ) -> None:
        self.transport = transport
        self.timeout_s = timeout_s
        self.min_sites = min_sites
        self.log: list[RoundLog] = []
        self.recorder = recorder

    def tasks(
        self, plan: Plan, kind: TaskKind, rnd: int, **content: Unpack[TaskContent]
    ) -> list[Task]:
        """The same task for every site of ``plan`` (or ``content["sites"]``), sharing one
        payload; every task carries the plan's settings and ``content["config"]``."""
        sites = content.get("sites")
        targets = list(sites) if sites is not None else plan.site_ids
        payload = encode_arrays(content.get("arrays") or {})  # once: every task shares it
        common = {**plan.config.to_wire(), **(content.get("config") or {})}
        return [
            Task(
                task_id=new_id("task"),
                plan_id=plan.plan_id,
                round=rnd,
                site=site,
                kind=kind,
                config=common,
                document=content.get("document", ""),
                payload=payload,
            )
            for site in targets
        ]

    def broadcast(
        self, plan: Plan, kind: TaskKind, rnd: int, **content: Unpack[TaskContent]
    ) -> dict[str, Reply]:
        """Send the same task to every site (or ``sites``); return the successful replies."""
        return self.exchange(rnd, self.tasks(plan, kind, rnd, **content), plan.min_sites)

    def summed(
        self, plan: Plan, kind: TaskKind, rnd: int, **content: Unpack[TaskContent]
    ) -> tuple[dict[str, Reply], WeightedSum]:
        """Every site of ``plan`` runs a ``kind`` task; returns the replies (site-level
        metrics) and the sum of their contributions — securely aggregated when the plan
        says so and at least two sites take part."""
        tasks = self.tasks(plan, kind, rnd, **content)
        if plan.secure is not None and len(tasks) >= 2:
            total, replies = secure_round(self._exchange_for(plan), plan, rnd, tasks)
            return replies, total
        replies = self.exchange(rnd, tasks, plan.min_sites)
        return replies, _plain_sum(replies)

    def run_instructions(
        self, plan: Plan, rnd: int, instructions: Sequence[Instruction]
    ) -> WeightedSum:
        """Execute one round's instructions and sum the contributions (masked if the plan
        runs secure aggregation)."""
        encoded = _PayloadCache()
        common = plan.config.to_wire()
        tasks = [
            Task(
                task_id=new_id("task"),
                plan_id=plan.plan_id,
                round=rnd,
                site=ins.site,
                kind=ins.kind,
                config={**common, **ins.config},
                payload=encoded(ins.arrays),
            )
            for ins in instructions
        ]
        if plan.secure is not None:
            return secure_round(self._exchange_for(plan), plan, rnd, tasks)[0]
        return _plain_sum(self.exchange(rnd, tasks, plan.min_sites))

    def fit(
        self,
        plan: Plan,
        initial: Arrays,
        rounds: int,
        progress: Progress | None = None,
        resume: tuple[int, GlobalState] | None = None,
    ) -> GlobalState:
        """Run ``rounds`` rounds of the plan's strategy (fewer if it reports convergence).

        ``resume`` = (rounds already completed, the state after them): a restarted hub
        carries on from its last checkpoint instead of starting over.
        """
        strategy = plan.strategy
        if strategy is None:
            raise AggregationError(f"plan {plan.method} has no strategy to train with")
        start, state = resume if resume is not None else (0, strategy.initialize(initial))
        if state.converged:
            return state
        for rnd in range(start, rounds):
            instructions = strategy.configure_round(rnd, state, plan.sites)
            summed = self.run_instructions(plan, rnd, instructions)
            state = strategy.aggregate(rnd, summed, state)
            if progress is not None:  # first: a checkpoint written here is what a restart sees
                progress(rnd, state)
            if self.recorder is not None:
                excluded = self.excluded(plan.plan_id).get(rnd, {})
                self.record_aggregation(plan, rnd, self.log[-1].contributed, state, excluded)
            if state.converged:
                break
        return state

    def record_aggregation(
        self,
        plan: Plan,
        rnd: int,
        participants: Sequence[str],
        state: GlobalState,
        excluded: Mapping[str, str] | None = None,
    ) -> int | None:
        """Sign the round's aggregation: its participants, the sites left out and why, and
        the new model's hash."""
        if self.recorder is None:
            return None
        digest = sha256_hex(encode_arrays(state.params))
        return self.recorder.aggregated(plan.plan_id, rnd, participants, digest, excluded)

    def _exchange_for(self, plan: Plan) -> Callable[[int, Sequence[Task]], dict[str, Reply]]:
        """:meth:`exchange` held to ``plan``'s minimum (what a secure round calls)."""

        def exchange(rnd: int, tasks: Sequence[Task]) -> dict[str, Reply]:
            return self.exchange(rnd, tasks, plan.min_sites)

        return exchange

    def excluded(self, plan_id: str) -> dict[int, dict[str, str]]:
        """Per round of ``plan_id``, the sites that took no part in, or dropped out of, one
        of its exchanges, with the first reason logged."""
        out: dict[int, dict[str, str]] = {}
        for entry in self.log:
            if entry.plan == plan_id:
                for site, reason in entry.missing.items():
                    out.setdefault(entry.round, {}).setdefault(site, reason)
        return out

    def exchange(
        self, rnd: int, tasks: Sequence[Task], min_sites: int | None = None
    ) -> dict[str, Reply]:
        """Post ``tasks``, wait for them, log who answered; the successful replies by site.

        Raises :class:`AggregationError`, with every missing site's reason, when fewer than
        ``min_sites`` (the plan's minimum; at least the hub's) of the tasks were answered.
        """
        if self.recorder is not None:
            self.recorder.dispatched(tasks)
        self.transport.post_tasks(tasks)
        answers = self.transport.collect([t.task_id for t in tasks], self.timeout_s)
        entry = RoundLog(round=rnd, plan=tasks[0].plan_id if tasks else "")
        ok: dict[str, Reply] = {}
        for task in tasks:
            answer = answers.get(task.task_id)
            if isinstance(answer, Reply) and answer.status == "ok":
                ok[task.site] = answer
                entry.contributed.append(task.site)
            else:
                entry.missing[task.site] = _reason(answer)
        self.log.append(entry)
        need = min(max(self.min_sites, min_sites or 0), len(tasks))
        if len(ok) < need:
            detail = "; ".join(f"{s}: {r}" for s, r in entry.missing.items())
            raise AggregationError(
                f"round {rnd}: {len(ok)} of {len(tasks)} sites answered, need {need} ({detail})"
            )
        return ok


def _plain_sum(replies: Mapping[str, Reply]) -> WeightedSum:
    return sum_contributions((r.arrays, r.weight, r.counts) for r in replies.values())


class _PayloadCache:
    """Encodes each distinct arrays object once: instructions that share one (the global
    model sent to every site) share one payload bytes object, whatever the site count."""

    def __init__(self) -> None:
        self._seen: dict[int, tuple[Arrays, bytes]] = {}  # id -> (the arrays, kept alive)

    def __call__(self, arrays: Arrays) -> bytes:
        found = self._seen.get(id(arrays))
        if found is None or found[0] is not arrays:
            found = (arrays, encode_arrays(arrays))
            self._seen[id(arrays)] = found
        return found[1]


def _reason(answer: Reply | Dropout | None) -> str:
    if answer is None:
        return "no answer"
    if isinstance(answer, Dropout):
        return answer.reason
    return f"{answer.status}: {answer.error}" if answer.error else answer.status

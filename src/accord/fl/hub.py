"""The hub's round loop: post tasks, collect replies, sum contributions, call the strategy.

The hub only ever sees what sites return (sums, counts, site-level metrics). A site that
fails or drops out is recorded as data and the round goes on while at least
``min_sites`` answered.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from accord.core.codec import Arrays, encode_arrays
from accord.core.errors import AggregationError
from accord.core.hashing import sha256_hex
from accord.core.ids import new_id
from accord.fl.aggregation import WeightedSum, sum_contributions
from accord.fl.secure import SecureSettings, secure_round
from accord.fl.strategies.base import GlobalState, Instruction, SiteInfo, Strategy
from accord.net.messages import ConfigValue, Dropout, Reply, Task, TaskKind
from accord.net.transport import Transport

__all__ = ["Hub", "Recorder", "RoundLog"]

Progress = Callable[[int, GlobalState], None]


class Recorder(Protocol):
    """What the hub records in the ledger (see ``accord.fl.recording.LedgerRecorder``)."""

    def dispatched(self, tasks: Sequence[Task]) -> None: ...

    def aggregated(
        self, plan: str, rnd: int, participants: Sequence[str], params_hash: str
    ) -> int: ...


@dataclass
class RoundLog:
    """Per round: which sites contributed, and which failed or dropped out (with reason)."""

    round: int
    contributed: list[str] = field(default_factory=list)
    missing: dict[str, str] = field(default_factory=dict)


class Hub:
    def __init__(
        self,
        transport: Transport,
        sites: Sequence[SiteInfo],
        plan_id: str | None = None,
        timeout_s: float = 600.0,
        min_sites: int = 1,
        recorder: Recorder | None = None,
    ) -> None:
        self.transport = transport
        self.sites = list(sites)
        self.plan_id = plan_id or new_id("plan")
        self.timeout_s = timeout_s
        self.min_sites = min_sites
        self.log: list[RoundLog] = []
        self.recorder = recorder
        self.task_config: dict[str, ConfigValue] = {}  # added to every task (e.g. function)
        self.secure: SecureSettings | None = None  # secure aggregation of summed rounds

    def broadcast(
        self,
        kind: TaskKind,
        rnd: int,
        *,
        arrays: Arrays | None = None,
        config: Mapping[str, ConfigValue] | None = None,
        document: str = "",
        sites: Sequence[str] | None = None,
    ) -> dict[str, Reply]:
        """Send the same task to every site (or ``sites``); return the successful replies."""
        targets = list(sites) if sites is not None else [s.site for s in self.sites]
        payload = encode_arrays(arrays or {})  # once: every task shares these bytes
        tasks = [
            Task(
                task_id=new_id("task"),
                plan_id=self.plan_id,
                round=rnd,
                site=site,
                kind=kind,
                config={**self.task_config, **(config or {})},
                document=document,
                payload=payload,
            )
            for site in targets
        ]
        return self.exchange(rnd, tasks)

    def run_instructions(
        self, rnd: int, instructions: Sequence[Instruction], secure: bool = False
    ) -> WeightedSum:
        """Execute one round's instructions and sum the contributions (masked if ``secure``)."""
        encoded = _PayloadCache()
        tasks = [
            Task(
                task_id=new_id("task"),
                plan_id=self.plan_id,
                round=rnd,
                site=ins.site,
                kind=ins.kind,
                config={**self.task_config, **ins.config},
                payload=encoded(ins.arrays),
            )
            for ins in instructions
        ]
        if secure and self.secure is not None:
            return secure_round(self, rnd, tasks, self.secure)[0]
        replies = self.exchange(rnd, tasks)
        return sum_contributions((r.arrays, r.weight, r.counts) for r in replies.values())

    def fit(
        self,
        strategy: Strategy,
        initial: Arrays,
        rounds: int,
        progress: Progress | None = None,
        resume: tuple[int, GlobalState] | None = None,
    ) -> GlobalState:
        """Run ``rounds`` rounds of ``strategy`` (fewer if it reports convergence).

        ``resume`` = (rounds already completed, the state after them): a restarted hub
        carries on from its last checkpoint instead of starting over.
        """
        start, state = resume if resume is not None else (0, strategy.initialize(initial))
        if self.secure is not None and strategy.needs_individual_updates:
            raise AggregationError(
                f"strategy '{strategy.name}' needs each site's individual update; "
                "secure aggregation refuses to run with it"
            )
        if state.converged:
            return state
        for rnd in range(start, rounds):
            instructions = strategy.configure_round(rnd, state, self.sites)
            summed = self.run_instructions(rnd, instructions, secure=self.secure is not None)
            state = strategy.aggregate(rnd, summed, state)
            if progress is not None:  # first: a checkpoint written here is what a restart sees
                progress(rnd, state)
            if self.recorder is not None:
                self.record_aggregation(rnd, self.log[-1].contributed, state)
            if state.converged:
                break
        return state

    def record_aggregation(self, rnd: int, participants: Sequence[str], state: GlobalState) -> int:
        """Sign the round's aggregation (its participants and the new model's hash)."""
        assert self.recorder is not None
        digest = sha256_hex(encode_arrays(state.params))
        return self.recorder.aggregated(self.plan_id, rnd, participants, digest)

    def exchange(self, rnd: int, tasks: Sequence[Task]) -> dict[str, Reply]:
        if self.recorder is not None:
            self.recorder.dispatched(tasks)
        for task in tasks:
            self.transport.post_task(task)
        answers = self.transport.collect([t.task_id for t in tasks], self.timeout_s)
        entry = RoundLog(round=rnd)
        ok: dict[str, Reply] = {}
        for task in tasks:
            answer = answers.get(task.task_id)
            if isinstance(answer, Reply) and answer.status == "ok":
                ok[task.site] = answer
                entry.contributed.append(task.site)
            else:
                entry.missing[task.site] = _reason(answer)
        self.log.append(entry)
        if len(ok) < min(self.min_sites, len(tasks)):
            detail = "; ".join(f"{s}: {r}" for s, r in entry.missing.items())
            raise AggregationError(
                f"round {rnd}: {len(ok)} of {len(tasks)} sites answered, "
                f"need {self.min_sites} ({detail})"
            )
        return ok


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

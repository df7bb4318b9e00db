"""The in-memory Transport (:mod:`accord.net._transport`): the simulation and test path.

Every task and reply is serialised to its wire bytes and parsed back, exactly as an HTTPS
transport would do, so a simulation exercises the same validation as a deployment. An
observer may capture every reply's bytes (tests use this to audit what leaves a site).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from accord.net import Dropout, Reply, SiteEndpoint, Task

__all__ = ["InMemoryTransport"]


class InMemoryTransport:
    """Queues tasks per site and runs them when the hub collects.

    ``offline`` names sites that never answer (to simulate dropouts).
    """

    def __init__(
        self,
        sites: Mapping[str, SiteEndpoint],
        observer: Callable[[str, bytes], None] | None = None,
        offline: frozenset[str] = frozenset(),
    ) -> None:
        self._sites = dict(sites)
        self._queue: dict[str, bytes] = {}
        self._done: dict[str, Reply] = {}
        self._observer = observer
        self.offline = offline

    def post_task(self, task: Task) -> None:
        if task.task_id in self._queue or task.task_id in self._done:
            return  # idempotent: a retried post is a no-op
        self._queue[task.task_id] = task.to_wire()

    def post_tasks(self, tasks: Sequence[Task]) -> None:
        for task in tasks:
            self.post_task(task)

    def collect(self, task_ids: Sequence[str], timeout_s: float) -> dict[str, Reply | Dropout]:
        out: dict[str, Reply | Dropout] = {}
        for task_id in task_ids:
            if task_id in self._done:
                out[task_id] = self._done[task_id]
                continue
            wire = self._queue.pop(task_id)
            task = Task.from_wire(wire)
            if task.site in self.offline or task.site not in self._sites:
                out[task_id] = Dropout(task_id=task_id, site=task.site, reason="no answer")
                continue
            reply_wire = self._sites[task.site].handle(task).to_wire()
            if self._observer is not None:
                self._observer(task.site, reply_wire)
            reply = Reply.from_wire(reply_wire)
            self._done[task_id] = reply
            out[task_id] = reply
        return out

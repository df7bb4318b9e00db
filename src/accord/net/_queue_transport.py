"""The hub's :class:`~accord.fl._in_memory.Transport` over the durable task queue.

The Hub's round loop runs unchanged: ``post_tasks`` queues a round's tasks for their sites
(one transaction), and ``collect`` waits for the sites' replies (uploaded through
:mod:`accord.net._app`).
Every task still unanswered at the deadline becomes a :class:`Dropout` and is expired,
so the site is not offered it later and a late reply to it is refused.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from accord.net._messages import Dropout, Reply, Task
from accord.net._task_queue import TaskQueue

__all__ = ["QueueTransport"]

log = logging.getLogger(__name__)


class QueueTransport:
    """Tasks and replies through a :class:`TaskQueue` that sites reach over HTTPS."""

    def __init__(self, queue: TaskQueue) -> None:
        self.queue = queue

    def post_task(self, task: Task) -> None:
        self.post_tasks([task])

    def post_tasks(self, tasks: Sequence[Task]) -> None:
        """Queue ``tasks`` in one transaction; each site is woken for its own only."""
        for task, added in zip(tasks, self.queue.post_many(tasks), strict=True):
            if added:
                log.info("task %s (%s) queued for %s", task.task_id, task.kind, task.site)

    def collect(self, task_ids: Sequence[str], timeout_s: float) -> dict[str, Reply | Dropout]:
        replies: dict[str, Reply] = self.queue.wait_replies(task_ids, timeout_s)
        missing = [t for t in task_ids if t not in replies]
        if missing:
            self.queue.expire(missing)
            replies.update(self.queue.replies(missing))  # one may have landed just before
        reason = f"no answer within {timeout_s:g} s"
        out: dict[str, Reply | Dropout] = {}
        for task_id in task_ids:
            reply = replies.get(task_id)
            if reply is None:
                site = self.queue.task_site(task_id) or ""
                log.warning("task %s: %s dropped out (%s)", task_id, site, reason)
                out[task_id] = Dropout(task_id=task_id, site=site, reason=reason)
            else:
                out[task_id] = reply
        return out

"""The Transport seam between the hub's round loop and the sites.

The hub posts tasks and collects replies (or dropouts) through a :class:`Transport`; a
site answers tasks as a :class:`SiteEndpoint`. Two implementations: the in-process
:class:`accord.fl._in_memory.InMemoryTransport` (simulation and tests) and the HTTPS task
queue :class:`accord.net._queue_transport.QueueTransport` (deployments).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from accord.net._messages import Dropout, Reply, Task

__all__ = ["SiteEndpoint", "Transport"]


class SiteEndpoint(Protocol):
    """What answers a site's tasks: ``accord.fl._site.Site`` or a test double."""

    def handle(self, task: Task) -> Reply: ...


class Transport(Protocol):
    """Posts tasks to sites and collects their replies; a silent site is a Dropout."""

    def post_task(self, task: Task) -> None: ...

    def post_tasks(self, tasks: Sequence[Task]) -> None:
        """Post a round's tasks at once (one transaction where the transport has them)."""
        ...

    def collect(self, task_ids: Sequence[str], timeout_s: float) -> dict[str, Reply | Dropout]: ...

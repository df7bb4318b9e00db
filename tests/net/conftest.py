"""Network fixtures: a queue on disk, a hub served on loopback, site clients in threads."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from accord.core import load_study
from accord.fl import Site, SiteContext
from accord.net import (
    SiteClient,
    SiteEndpoint,
    TaskQueue,
    authenticate_site_header,
    create_app,
    start_in_thread,
)
from accord.net._messages import Reply, Task, wire_prefix
from accord.studies import Simulation
from tests.conftest import write_study


def frame(header: bytes, payload: bytes = b"") -> bytes:
    """A wire frame around a hand-written JSON ``header`` (to send malformed envelopes)."""
    return wire_prefix(len(header), len(payload)) + header + payload


@pytest.fixture
def queue(tmp_path: Path) -> Iterator[TaskQueue]:
    q = TaskQueue(tmp_path / "hub" / "queue.sqlite", poll_interval_s=0.05)
    yield q
    q.close()


class Serve:
    """Starts the hub app on loopback (plain HTTP unless given an SSL context)."""

    def __init__(self, queue: TaskQueue) -> None:
        self.queue = queue
        self._stops: list[Callable[[], None]] = []

    def __call__(self, **kwargs: Any) -> str:
        """Serve and return the base URL; ``queue``, ``authenticate``, ``routers``,
        ``limits``, ``limiter`` and ``max_request_bytes`` go to ``create_app``, the rest to
        ``start_in_thread``."""
        app_keys = ("routers", "max_request_bytes", "limits", "limiter")
        app_kwargs = {k: kwargs.pop(k) for k in app_keys if k in kwargs}
        authenticate = kwargs.pop("authenticate", authenticate_site_header)
        app = create_app(kwargs.pop("queue", self.queue), authenticate, **app_kwargs)
        kwargs.setdefault("insecure", kwargs.get("ssl_context") is None)
        url, stop = start_in_thread(app, **kwargs)
        self._stops.append(stop)
        return url

    def stop(self) -> None:
        """Stop every server started so far (a hub going away)."""
        while self._stops:
            self._stops.pop()()


@pytest.fixture
def serve(queue: TaskQueue) -> Iterator[Serve]:
    servers = Serve(queue)
    yield servers
    servers.stop()


@contextmanager
def running_sites(
    url: str, sites: Mapping[str, SiteEndpoint], spool: Path, **kwargs: Any
) -> Iterator[dict[str, SiteClient]]:
    """A SiteClient (or ``client=`` subclass) per site, each polling in its own thread until
    the block ends."""
    stop = threading.Event()
    kwargs.setdefault("poll_wait_s", 0.5)
    kwargs.setdefault("ssl_context", None)
    make: type[SiteClient] = kwargs.pop("client", SiteClient)
    clients = {
        name: make(url, endpoint, site=name, spool_dir=spool / name, **kwargs)
        for name, endpoint in sites.items()
    }
    threads = [
        threading.Thread(target=c.run, args=(stop,), name=f"site-{n}", daemon=True)
        for n, c in clients.items()
    ]
    for thread in threads:
        thread.start()
    try:
        yield clients
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=10)
        for client in clients.values():
            client.close()


def scale(task: Task, ctx: SiteContext) -> Reply:
    """A deterministic site answer: the task's array times the site's training rows."""
    x = task.arrays.get("x", np.zeros(3))
    return Reply.build(
        task_id=task.task_id,
        site=task.site,
        kind=task.kind,
        weight=float(ctx.cohort.n_train),
        counts={"n_train": ctx.cohort.n_train},
        metrics={"round": float(task.round)},
        arrays={"y": x * ctx.cohort.n_train},
    )


def make_sites(
    cohort_dir: Path, handler: Callable[[Task, SiteContext], Reply] = scale
) -> dict[str, Site]:
    """The synthetic consortium's three sites, answering ``stats`` tasks with ``handler``."""
    study = load_study(write_study(cohort_dir, "fedavg", rounds=2))
    sim = Simulation.prepare(study, cohort_dir, seed=0)
    return {
        name: Site(SiteContext(name, s.context.cohort, s.context.study, 0), {"stats": handler})
        for name, s in sim.sites.items()
    }

"""Hub and sites as network services: a durable task queue behind an HTTPS API.

A site only opens outbound connections to the hub and long-polls for tasks
(:class:`SiteClient`); the hub keeps tasks and replies in a :class:`TaskQueue` (SQLite)
served by :func:`create_app` under uvicorn with mutual TLS (:func:`serve`), and its round
loop reaches the sites through :class:`QueueTransport`. Large messages move as chunked,
digest-checked blobs (:mod:`accord.net._chunks`). The ledger travels the same way
(:mod:`accord.net._ledger_api` at the hub, :mod:`accord.net._remote_ledger` at a site):
each site signs its own entries, the hub sequences them, and each site's replica verifies
and co-signs the hub's checkpoints. What one caller may ask of the hub (request size and
rate, staged upload bytes) is bounded by :class:`Limits`.
"""

from __future__ import annotations

from accord.net._app import Caller, create_app
from accord.net._http_server import (
    SITE_HEADER,
    authenticate_certificate,
    authenticate_site_header,
    peer_certificate,
    serve,
    start_in_thread,
)
from accord.net._ledger_api import LockedHubLedger, ledger_router
from accord.net._limits import DEFAULT_LIMITS, Limits
from accord.net._messages import LEDGER_SYNC, ConfigValue, Dropout, Reply, Task, TaskKind
from accord.net._pg_queue import open_queue_store
from accord.net._queue_store import QueueStore, SQLiteQueueStore
from accord.net._queue_transport import QueueTransport
from accord.net._remote_ledger import RemoteHub, RemoteLedger
from accord.net._site_client import SiteClient
from accord.net._task_queue import TaskQueue
from accord.net._transport import SiteEndpoint, Transport

__all__ = [
    "DEFAULT_LIMITS",
    "LEDGER_SYNC",
    "SITE_HEADER",
    "Caller",
    "ConfigValue",
    "Dropout",
    "Limits",
    "LockedHubLedger",
    "QueueStore",
    "QueueTransport",
    "RemoteHub",
    "RemoteLedger",
    "Reply",
    "SQLiteQueueStore",
    "SiteClient",
    "SiteEndpoint",
    "Task",
    "TaskKind",
    "TaskQueue",
    "Transport",
    "authenticate_certificate",
    "authenticate_site_header",
    "create_app",
    "ledger_router",
    "open_queue_store",
    "peer_certificate",
    "serve",
    "start_in_thread",
]

"""Hub and sites as network services: a durable task queue behind an HTTPS API.

A site only opens outbound connections to the hub and long-polls for tasks
(:class:`SiteClient`); the hub keeps tasks and replies in a :class:`TaskQueue` (SQLite)
served by :func:`create_app` under uvicorn with mutual TLS (:func:`serve`), and its round
loop reaches the sites through :class:`QueueTransport`. Large messages move as chunked,
digest-checked blobs (:mod:`accord.net.chunks`). The ledger travels the same way
(:mod:`accord.net.ledger_api` at the hub, :mod:`accord.net.remote_ledger` at a site):
each site signs its own entries, the hub sequences them, and each site's replica verifies
and co-signs the hub's checkpoints.
"""

from __future__ import annotations

from accord.net.app import create_app
from accord.net.http_server import (
    authenticate_certificate,
    authenticate_site_header,
    peer_certificate,
    serve,
    start_in_thread,
)
from accord.net.ledger_api import LockedHubLedger, ledger_router
from accord.net.queue_store import QueueStore, SQLiteQueueStore
from accord.net.queue_transport import QueueTransport
from accord.net.remote_ledger import RemoteHub, RemoteLedger
from accord.net.site_client import SiteClient
from accord.net.task_queue import TaskQueue

__all__ = [
    "LockedHubLedger",
    "QueueStore",
    "QueueTransport",
    "RemoteHub",
    "RemoteLedger",
    "SQLiteQueueStore",
    "SiteClient",
    "TaskQueue",
    "authenticate_certificate",
    "authenticate_site_header",
    "create_app",
    "ledger_router",
    "peer_certificate",
    "serve",
    "start_in_thread",
]

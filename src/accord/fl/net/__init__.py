"""Hub and sites as network services: a durable task queue behind an HTTPS API.

A site only opens outbound connections to the hub and long-polls for tasks
(:class:`SiteClient`); the hub keeps tasks and replies in a :class:`TaskQueue` (SQLite)
served by :func:`create_app` under uvicorn with mutual TLS (:func:`serve`), and its round
loop reaches the sites through :class:`QueueTransport`. Large messages move as chunked,
digest-checked blobs (:mod:`accord.fl.net.chunks`).
"""

from __future__ import annotations

from accord.fl.net.app import create_app
from accord.fl.net.client import SiteClient
from accord.fl.net.queue import QueueStore, SQLiteQueueStore, TaskQueue
from accord.fl.net.server import (
    authenticate_certificate,
    authenticate_site_header,
    peer_certificate,
    serve,
    start_in_thread,
)
from accord.fl.net.transport import QueueTransport

__all__ = [
    "QueueStore",
    "QueueTransport",
    "SQLiteQueueStore",
    "SiteClient",
    "TaskQueue",
    "authenticate_certificate",
    "authenticate_site_header",
    "create_app",
    "peer_certificate",
    "serve",
    "start_in_thread",
]

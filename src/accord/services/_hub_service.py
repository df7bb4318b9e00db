"""The hub as a network service: task queue, ledger and round loop behind mutual TLS.

:class:`HubService` takes a run's ledger (:class:`~accord.studies._audit.RunLedger`) and
serves it with the task queue over HTTPS (:mod:`accord.net`): sites long-poll for
tasks, upload replies and ledger entries, pull the log and co-sign checkpoints. Each
request is authenticated by its client certificate: issued by the consortium's CA, not
revoked on the ledger (``certificate.revoke``), and for a member organisation; a refusal
is itself a signed ``connection.refused`` entry, once per certificate and reason per
``limits.refusal_window_s`` with a count of the ones between (:mod:`._refusals`). The
hub's :class:`~accord.net._limits.Limits` (request size and rate, staging quotas) go to the
app and the task queue. :meth:`HubService.consortium` gives the
:class:`~accord.studies._federated_run.StudyRun` a Hub whose transport is the queue, so a study
runs over the network exactly as in simulation.
"""

from __future__ import annotations

import contextlib
import hashlib
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from accord.core import AuthError, TransportError, new_id
from accord.crypto import (
    CERT_REVOKE,
    check_peer,
    load_ca_certificate,
    revoked_serials,
    server_context,
)
from accord.fl import Hub, LedgerRecorder
from accord.ledger import Entry, HubLedger, SQLiteLedgerStore
from accord.net import (
    DEFAULT_LIMITS,
    LEDGER_SYNC,
    Limits,
    LockedHubLedger,
    QueueTransport,
    Task,
    TaskQueue,
    authenticate_certificate,
    authenticate_site_header,
    create_app,
    ledger_router,
    start_in_thread,
)
from accord.services._refusals import RefusalLog
from accord.services._service_config import TLSPaths
from accord.studies import HUB_ORG, RESEARCHER_ORG, Consortium, RunLedger

__all__ = ["HubService"]


class HubService:
    """Serves ``audit``'s ledger and a task queue at ``host:port`` (0: any free port)."""

    def __init__(
        self,
        audit: RunLedger,
        state: Path,
        *,
        tls: TLSPaths | None,
        host: str = "127.0.0.1",
        port: int = 0,
        timeout_s: float = 600.0,
        limits: Limits = DEFAULT_LIMITS,
    ) -> None:
        self.audit = audit
        self.state = state
        self.tls = tls
        self.host = host
        self.port = port
        self.timeout_s = timeout_s
        self.limits = limits
        self.sites = sorted(audit.datasets)  # every member site (keys or not)
        self.url = ""
        self.refused: list[str] = []  # refusals recorded on the ledger (not those counted)
        self.refusals = RefusalLog(self._record_refusal, limits.refusal_window_s)
        self.hubs: list[Hub] = []  # the round loops handed out (their timeout follows ours)
        self._stop: Callable[[], None] | None = None
        self._app: Any = None
        self._context: Any = None
        self._closed = False
        self.ledger: LockedHubLedger
        self.audit = audit.handed_to(self._open_ledger, self.cosign)
        self.queue = TaskQueue(state / "queue.sqlite", limits=limits)
        self.transport = QueueTransport(self.queue)

    def _open_ledger(self) -> LockedHubLedger:
        """The run's ledger on one thread shared by the round loop and the HTTPS API (the
        run's in-process site replicas are closed by then: site processes own theirs)."""
        path, hub = self.audit.path, self.audit.hub
        self.ledger = LockedHubLedger(lambda: HubLedger(SQLiteLedgerStore(path, create=False), hub))
        return self.ledger

    def start(self) -> str:
        """Listen (mutual TLS, or plain HTTP on loopback without ``tls``); returns the URL."""
        auth = authenticate_site_header
        if self.tls is not None:
            self._context = server_context(*self.tls)
            auth = self._authenticate(self.tls[2])
        self._app = create_app(
            self.queue, auth, routers=[ledger_router(self.ledger)], limits=self.limits
        )
        self.url, self._stop = start_in_thread(
            self._app,
            self.host,
            self.port,
            ssl_context=self._context,
            insecure=self.tls is None,
        )
        self.port = int(self.url.rsplit(":", 1)[1])
        return self.url

    def _authenticate(self, ca_path: Path) -> Callable[..., str]:
        ca = load_ca_certificate(ca_path)
        members = {*self.sites, RESEARCHER_ORG}

        def org_of(der: bytes) -> str:
            try:
                peer = check_peer(der, ca, self._revoked())
                if peer.org not in members:
                    raise AuthError(f"organisation {peer.org} is not a member of this consortium")
            except AuthError as exc:
                self.refusals.refuse(hashlib.sha256(der).hexdigest(), str(exc))
                raise
            return peer.org

        return authenticate_certificate(org_of)

    def _revoked(self) -> frozenset[int]:
        """Serials revoked on the ledger by the hub or the consortium operator (not by any
        member: a site must not be able to lock another one out)."""
        entries = self.ledger.store.find(kind=CERT_REVOKE)
        operators = (HUB_ORG, RESEARCHER_ORG)
        return revoked_serials(
            (s.kind, Entry.parse(s.entry).payload) for s in entries if s.org in operators
        )

    def _record_refusal(self, payload: dict[str, object]) -> None:
        """A refused connection is a signed ledger entry (organisation names, serials only);
        :attr:`refusals` decides which ones are recorded."""
        self.refused.append(str(payload["reason"]))
        with contextlib.suppress(Exception):  # never let recording hide the refusal itself
            self.ledger.record(self.audit.hub, "connection.refused", payload)

    def partition(self, seconds: float) -> None:
        """Make the hub unreachable for ``seconds`` (its server goes away, then comes back on
        the same address); tasks and replies already queued are kept."""
        assert self._stop is not None
        self._stop()
        time.sleep(seconds)
        _, self._stop = start_in_thread(
            self._app, self.host, self.port, ssl_context=self._context, insecure=self.tls is None
        )

    def set_timeout(self, seconds: float) -> None:
        """How long a round waits for sites before counting the silent ones as dropouts."""
        self.timeout_s = seconds
        for hub in self.hubs:
            hub.timeout_s = seconds

    # --- what StudyRun drives ----------------------------------------------------------------

    def consortium(self, recorder: LedgerRecorder | None = None) -> Consortium:
        """The member sites behind a Hub whose transport is the HTTPS task queue
        (``Simulation.prepare(network=...)``); it knows only what the sites reply."""
        hub = Hub(self.transport, timeout_s=self.timeout_s, recorder=recorder)
        self.hubs.append(hub)
        return Consortium(hub=hub, members=tuple(self.sites))

    def cosign(self) -> None:
        """Every site pulls, verifies and co-signs the hub's latest checkpoint."""
        tasks = [
            Task.build(
                task_id=new_id("task"), plan_id="ledger", round=0, site=site, kind=LEDGER_SYNC
            )
            for site in self.sites
        ]
        self.transport.post_tasks(tasks)
        self.transport.collect([t.task_id for t in tasks], self.timeout_s)

    def wait_ready(
        self, timeout_s: float = 120.0, alive: Callable[[], Iterable[str]] = tuple
    ) -> None:
        """Wait until every site co-signed the current checkpoint (so each one is up).

        ``alive`` names sites known to have died (their processes exited): fail early.
        """
        deadline = time.monotonic() + timeout_s
        self.cosign()
        latest = self.ledger.latest_checkpoint()
        size = latest.size if latest else 0
        while time.monotonic() < deadline:
            signers = {c.org for c in self.ledger.store.cosignatures(size)}
            if set(self.sites) <= signers:
                return
            dead = list(alive())
            if dead:
                raise TransportError(f"site processes exited early: {', '.join(dead)} (see logs)")
            time.sleep(0.2)
        raise TransportError("sites did not come up in time (see OUT/sites/*/site.log)")

    def close(self) -> None:
        """Stop the server, then close the queue and the ledger (idempotent)."""
        if self._stop is not None:
            self._stop()
            self._stop = None
        if not self._closed:
            self._closed = True
            if hasattr(self, "ledger"):  # the counts of refusals not yet recorded
                self.refusals.flush()
            self.queue.close()
            self.ledger.close()

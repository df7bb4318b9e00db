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
import logging
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from fastapi import APIRouter

from accord.core import AuthError, LedgerError, TransportError, new_id
from accord.crypto import (
    CERT_REVOKE,
    Identity,
    check_peer,
    load_ca_certificate,
    revoked_serials,
    server_context,
)
from accord.fl import Hub, LedgerRecorder
from accord.fl.governance import GovernanceView
from accord.ledger import Entry, HubLedger, LedgerStore
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
from accord.services._prune import PRUNE_EVERY_S, hub_in_use, log_report
from accord.services._refusals import RefusalLog
from accord.services._retention import PruneReport, RetentionPolicy, apply_retention
from accord.services._service_config import TLSPaths
from accord.services._store_config import SQLITE_STORE, StoreConfig
from accord.studies import HUB_ORG, RESEARCHER_ORG, Consortium, RunLedger

__all__ = ["Deployment", "HubService", "HubView"]


class HubView:
    """The governance state of the hub's own log, replayed incrementally (thread-safe)."""

    def __init__(self) -> None:
        self._view = GovernanceView()
        self._cursor = 0
        self._lock = threading.Lock()

    def update(self, store: LedgerStore) -> GovernanceView:
        with self._lock:
            for stored in store.read(self._cursor):
                with contextlib.suppress(LedgerError):  # refused entries have no effect
                    self._view.apply(Entry.parse(stored.entry))
                self._cursor = stored.seq + 1
            return self._view

    def members(self) -> set[str]:
        """Current members (a valid key: admitted, not removed), the hub excluded."""
        with self._lock:
            registry = self._view.registry
            return set(registry.members()) - {registry.hub or HUB_ORG}


@dataclass(frozen=True)
class Deployment:
    """A long-running hub's own ledger (``ledger.sqlite`` in ``folder``) and signing key;
    its members are whoever the ledger admits, its sites whoever registered a dataset."""

    folder: Path
    hub: Identity


log = logging.getLogger("accord.hub")


class HubService:
    """Serves a ledger and a task queue at ``host:port`` (0: any free port): ``audit``'s
    (one run, its sites fixed) or a ``deployment``'s (many runs, members from the ledger).

    ``store`` says where the ledger and the queue live: by default the SQLite files
    (``ledger.sqlite`` and ``state/queue.sqlite``), else a PostgreSQL database (see
    :mod:`accord.services._store_config`); the queue's blob files are under ``state``.

    ``stop`` (set by the CLI on SIGTERM or Ctrl-C) closes the service once it is set: the
    server stops and the stores close, whichever thread is waiting on them; a round loop
    still waiting then fails, and the caller, seeing :attr:`stop` set, exits cleanly.
    """

    def __init__(
        self,
        audit: RunLedger | None,
        state: Path,
        *,
        tls: TLSPaths | None,
        host: str = "127.0.0.1",
        port: int = 0,
        timeout_s: float = 600.0,
        limits: Limits = DEFAULT_LIMITS,
        deployment: Deployment | None = None,
        routers: Sequence[APIRouter] = (),
        store: StoreConfig = SQLITE_STORE,
        stop: threading.Event | None = None,
    ) -> None:
        if (audit is None) == (deployment is None):
            raise ValueError("HubService serves either one run's ledger or a deployment's")
        self.deployment = deployment
        self.store = store
        self.stop = stop if stop is not None else threading.Event()
        self._close_lock = threading.Lock()
        self.state = state
        self.tls = tls
        self.host = host
        self.port = port
        self.timeout_s = timeout_s
        self.limits = limits
        self.routers = tuple(routers)
        self._fixed_sites = sorted(audit.datasets) if audit is not None else []
        self.view = HubView()
        self.last_seen: dict[str, float] = {}  # organisation -> time of its last request
        self.url = ""
        self.refused: list[str] = []  # refusals recorded on the ledger (not those counted)
        self.refusals = RefusalLog(self._record_refusal, limits.refusal_window_s)
        self.hubs: list[Hub] = []  # the round loops handed out (their timeout follows ours)
        self._stop: Callable[[], None] | None = None
        self._app: Any = None
        self._context: Any = None
        self._closed = False
        self.ledger: LockedHubLedger
        if audit is not None:
            # the run's ledger on one thread shared by the round loop and the HTTPS API (its
            # in-process site replicas are closed by then: site processes own theirs)
            opened = partial(self._open, audit.path, audit.hub)
            self.audit: RunLedger = audit.handed_to(opened, self.cosign)
            self.hub_identity = self.audit.hub
        else:
            assert deployment is not None
            self.hub_identity = deployment.hub
            self._open(deployment.folder / "ledger.sqlite", deployment.hub)
        self.queue = TaskQueue(
            store.queue_path(state), store=store.open_queue(state), limits=limits
        )
        self.transport = QueueTransport(self.queue)

    def _open(self, path: Path, hub: Identity) -> LockedHubLedger:
        self.ledger = LockedHubLedger(lambda: HubLedger(self.store.open_ledger(path), hub))
        return self.ledger

    @property
    def sites(self) -> list[str]:
        """The member sites: a run's, or every organisation with a dataset registered (and
        enabled) on a deployment's ledger."""
        if self.deployment is None:
            return self._fixed_sites
        view = self.view.update(self.ledger.store)
        members = self.view.members()
        return sorted({d.site for d in view.datasets.values() if d.enabled} & members)

    def members(self) -> set[str]:
        """Organisations the hub serves: a run's sites and researcher, or every member
        with a valid key on the deployment's ledger (the hub itself excluded)."""
        if self.deployment is None:
            return {*self._fixed_sites, RESEARCHER_ORG}
        self.view.update(self.ledger.store)
        return self.view.members()

    def start(self) -> str:
        """Listen (mutual TLS, or plain HTTP on loopback without ``tls``); returns the URL."""
        auth = authenticate_site_header
        if self.tls is not None:
            self._context = server_context(*self.tls)
            auth = self._authenticate(self.tls[2])
        self._app = create_app(
            self.queue,
            self._seen(auth),
            routers=[ledger_router(self.ledger), *self.routers],
            limits=self.limits,
        )
        self.url, self._stop = start_in_thread(
            self._app,
            self.host,
            self.port,
            ssl_context=self._context,
            insecure=self.tls is None,
        )
        self.port = int(self.url.rsplit(":", 1)[1])
        watcher = threading.Thread(target=self._close_when_stopped, name="hub-stop", daemon=True)
        watcher.start()
        return self.url

    def _seen(self, auth: Callable[..., str]) -> Callable[..., str]:
        """``auth``, remembering when each organisation was last authenticated."""

        def authenticate(request: Any) -> str:
            org = auth(request)
            self.last_seen[org] = time.time()
            return org

        return authenticate

    def _close_when_stopped(self) -> None:
        self.stop.wait()
        self.close()

    def prune(self, policy: RetentionPolicy, *, dry_run: bool = False) -> PruneReport:
        """Apply the retention ``policy`` to this hub's state folder (see
        :mod:`accord.services._retention`); what is still needed is asked of the open stores."""
        in_use = hub_in_use(self.queue.store, self.ledger.store)
        return apply_retention(policy, self.state, dry_run=dry_run, in_use=in_use)

    def start_pruning(self, policy: RetentionPolicy, every_s: float = PRUNE_EVERY_S) -> None:
        """Apply ``policy`` every ``every_s`` seconds in a thread, until :attr:`stop` is set
        (a failed pass is logged and tried again next time)."""
        if not any(True for _ in policy.areas()):
            return

        def loop() -> None:
            while not self.stop.wait(every_s):
                try:
                    log_report(self.prune(policy), "hub")
                except Exception as exc:  # the stores closed under it, a file vanished
                    if not self.stop.is_set():
                        log.warning("hub retention: pass failed (%s)", type(exc).__name__)

        threading.Thread(target=loop, name="hub-retention", daemon=True).start()

    def _authenticate(self, ca_path: Path) -> Callable[..., str]:
        ca = load_ca_certificate(ca_path)

        def org_of(der: bytes) -> str:
            try:
                peer = check_peer(der, ca, self._revoked())
                if peer.org not in self.members():
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
        registry = self.view.update(self.ledger.store).registry
        operators = {registry.hub or HUB_ORG, *registry.operators}
        if self.deployment is None:
            operators |= {HUB_ORG, RESEARCHER_ORG}
        return revoked_serials(
            (s.kind, Entry.parse(s.entry).payload) for s in entries if s.org in operators
        )

    def _record_refusal(self, payload: dict[str, object]) -> None:
        """A refused connection is a signed ledger entry (organisation names, serials only);
        :attr:`refusals` decides which ones are recorded."""
        self.refused.append(str(payload["reason"]))
        with contextlib.suppress(Exception):  # never let recording hide the refusal itself
            self.ledger.record(self.hub_identity, "connection.refused", payload)

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

    def consortium(
        self, recorder: LedgerRecorder | None = None, members: Sequence[str] | None = None
    ) -> Consortium:
        """The member sites (``members``, default all) behind a Hub whose transport is the
        HTTPS task queue (``Simulation.prepare(network=...)``); it knows only what the sites
        reply."""
        hub = Hub(self.transport, timeout_s=self.timeout_s, recorder=recorder)
        self.hubs.append(hub)
        return Consortium(hub=hub, members=tuple(members if members is not None else self.sites))

    def cosign(self, sites: Sequence[str] | None = None) -> None:
        """Every site (of ``sites``, default all) pulls, verifies and co-signs the hub's
        latest checkpoint."""
        tasks = [
            Task.build(
                task_id=new_id("task"), plan_id="ledger", round=0, site=site, kind=LEDGER_SYNC
            )
            for site in (sites if sites is not None else self.sites)
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
        """Stop the server, then close the queue and the ledger; sets :attr:`stop`.

        Idempotent and safe from any thread (the ``stop`` watcher calls it): a second
        caller waits until the first one has closed everything, then returns.
        """
        self.stop.set()
        with self._close_lock:
            if self._closed:
                return
            self._closed = True
            if self._stop is not None:
                self._stop()
                self._stop = None
            with contextlib.suppress(Exception):  # the counts of refusals not yet recorded
                self.refusals.flush()
            self.queue.close()
            self.ledger.close()
            log.info("hub service closed")

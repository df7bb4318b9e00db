"""``accord run STUDY --processes``: the hub in this process, one OS process per site.

Everything a deployment does, on one machine over loopback: a fresh consortium CA issues
the hub's and every site's TLS certificate; the hub serves its task queue and the ledger
over HTTPS with mutual TLS (:mod:`accord.fl.net`); each site runs ``accord site serve``
in its own process with its own key, policy, verified ledger replica and data, and only
ever opens connections to the hub. The study then runs exactly as in simulation — the
same :class:`~accord.studies.runner.StudyRun`, the same Hub round loop — so the two give
the same numbers for the same seed (tested). Reference baselines that need all rows in
one place (pooled, local-only, the oracle) are computed by this harness as in simulation.

Layout under OUT::

    pki/ca/ca.crt, ca.key               the consortium CA (key 0600)
    hub/hub.crt, hub.tls.key, queue.sqlite, queue.blobs/
    sites/NAME/site.toml, NAME.key, tls/, ledger.sqlite, spool/, features/, logs
    study.json                          the study every site runs
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, cast

from accord.core.config import StudySpec
from accord.core.errors import AuthError, TransportError
from accord.core.ids import new_id
from accord.crypto import save_identity
from accord.crypto.pki import (
    CERT_REVOKE,
    check_peer,
    enroll,
    init_ca,
    load_ca_certificate,
    revoked_serials,
    sign_request,
)
from accord.crypto.tls import server_context
from accord.data import SiteCohort, load_cohort
from accord.fl.hub import Hub
from accord.fl.messages import Task
from accord.fl.net import (
    LockedHubLedger,
    QueueTransport,
    TaskQueue,
    authenticate_certificate,
    authenticate_site_header,
    create_app,
    ledger_router,
    start_in_thread,
)
from accord.fl.recording import LedgerRecorder
from accord.fl.strategies import SiteInfo
from accord.ledger.entry import Entry
from accord.ledger.log import HubLedger
from accord.ledger.store import SQLiteLedgerStore
from accord.studies.audit import RESEARCHER_ORG, RunLedger
from accord.studies.consortium import Consortium
from accord.studies.site_service import LEDGER_SYNC

__all__ = ["LoopbackConsortium", "start_loopback"]

log = logging.getLogger("accord.hub")
HOST = "127.0.0.1"


class LoopbackConsortium:
    """A hub served from this process and ``accord site serve`` processes for ``sites``."""

    def __init__(
        self,
        out: Path,
        study: StudySpec,
        data: Path | None,
        seed: int,
        audit: RunLedger,
        *,
        insecure: bool = False,
        timeout_s: float = 600.0,
        poll_wait_s: float = 5.0,
    ) -> None:
        self.out = out
        self.study = study
        self.data = data
        self.seed = seed
        self.audit = audit
        self.insecure = insecure
        self.timeout_s = timeout_s
        self.poll_wait_s = poll_wait_s
        self.sites = sorted(audit.sites)
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self.url = ""
        self._stop: Callable[[], None] | None = None
        self._app: Any = None
        self._context: Any = None
        self.queue: TaskQueue | None = None
        self.transport: QueueTransport | None = None
        self.ledger: LockedHubLedger | None = None
        self.refused: list[str] = []  # why connections were refused (also on the ledger)

    # --- start -------------------------------------------------------------------------------

    def start(self) -> None:
        """Issue certificates, serve the hub, start every site process."""
        self._hand_ledger_to_the_server()
        ca_dir = self.out / "pki" / "ca"
        hub_dir = self.out / "hub"
        if not (ca_dir / "ca.crt").exists():
            init_ca(ca_dir, f"{self.study.study.name} (loopback)")
        context = None
        if not self.insecure:
            enroll(hub_dir, "hub", hosts=[HOST, "localhost"], overwrite=True)
            sign_request(ca_dir, hub_dir / "hub.csr", hub_dir, days=2)
            context = server_context(
                hub_dir / "hub.crt", hub_dir / "hub.tls.key", ca_dir / "ca.crt"
            )
        self.queue = TaskQueue(hub_dir / "queue.sqlite")
        self.transport = QueueTransport(self.queue)
        auth = authenticate_site_header if self.insecure else self._authenticate(ca_dir)
        assert self.ledger is not None
        app = create_app(self.queue, auth, routers=[ledger_router(self.ledger)])
        self._app, self._context = app, context
        self.url, self._stop = start_in_thread(
            app, HOST, 0, ssl_context=context, insecure=self.insecure
        )
        study_file = self.out / "study.json"
        study_file.write_text(self.study.model_dump_json(indent=2), encoding="utf-8")
        for site in self.sites:
            self.start_site(site)

    def _hand_ledger_to_the_server(self) -> None:
        """The run's ledger moves to one thread shared by the round loop and the HTTPS API;
        the simulated sites' in-process replicas are closed: site processes own them now."""
        audit = self.audit
        path, hub = audit.path, audit.hub
        audit.ledger.store.close()
        for replica in audit.replicas.values():
            replica.store.close()
        self.ledger = LockedHubLedger(lambda: HubLedger(SQLiteLedgerStore(path, create=False), hub))
        audit.ledger = cast(HubLedger, self.ledger)
        audit.recorder.ledger = cast(HubLedger, self.ledger)
        audit.replicas = {}
        audit.governance = {}
        audit.remote_cosign = self.cosign

    def _authenticate(self, ca_dir: Path) -> Callable[..., str]:
        ca = load_ca_certificate(ca_dir / "ca.crt")
        members = {*self.sites, RESEARCHER_ORG}

        def org_of(der: bytes) -> str:
            try:
                peer = check_peer(der, ca, self._revoked())
                if peer.org not in members:
                    raise AuthError(f"organisation {peer.org} is not a member of this consortium")
            except AuthError as exc:
                self._record_refusal(str(exc))
                raise
            return peer.org

        return authenticate_certificate(org_of)

    def _revoked(self) -> frozenset[int]:
        assert self.ledger is not None
        entries = self.ledger.store.find(kind=CERT_REVOKE)
        return revoked_serials((s.kind, Entry.parse(s.entry).payload) for s in entries)

    def _record_refusal(self, reason: str) -> None:
        """A refused connection is a signed ledger entry (organisation names, serials only)."""
        self.refused.append(reason)
        assert self.ledger is not None
        with contextlib.suppress(Exception):  # never let recording hide the refusal itself
            self.ledger.record(self.audit.hub, "connection.refused", {"reason": reason})

    def site_config(self, site: str) -> Path:
        """Write ``sites/NAME/site.toml`` (with its key and TLS files) and return its path."""
        folder = self.out / "sites" / site
        folder.mkdir(parents=True, exist_ok=True)
        key = folder / f"{site}.key"
        if not key.exists():
            save_identity(self.audit.sites[site], folder)
        tls = "insecure = true\n"
        if not self.insecure:
            tls_dir = folder / "tls"
            enroll(tls_dir, site, overwrite=True)
            sign_request(self.out / "pki" / "ca", tls_dir / f"{site}.csr", tls_dir, days=2)
            (tls_dir / "ca.crt").write_bytes((self.out / "pki" / "ca" / "ca.crt").read_bytes())
            tls = f'cert = "tls/{site}.crt"\nkey = "tls/{site}.tls.key"\nca = "tls/ca.crt"\n'
        policy = self.audit.policies[site]
        text = (
            f"# {site}: written by accord run --processes\n[site]\n"
            f'org = "{site}"\ndataset = "{self.audit.datasets[site]}"\n'
            f'data = "{self.data.resolve() if self.data else ""}"\n'
            f'hub = "{self.url}"\nstudy = "{(self.out / "study.json").resolve()}"\n'
            f"seed = {self.seed}\n\n[tls]\n{tls}\n[policy]\n{_policy_toml(policy)}"
        )
        path = folder / "site.toml"
        path.write_text(text, encoding="utf-8")
        return path

    def start_site(self, site: str) -> subprocess.Popen[bytes]:
        """Start (or restart) ``accord site serve`` for ``site``; its output goes to a log."""
        config = self.site_config(site)
        logfile = (config.parent / "site.log").open("ab")
        command = [
            sys.executable,
            "-m",
            "accord",
            "site",
            "serve",
            "--config",
            str(config),
            "--poll-wait",
            str(self.poll_wait_s),
        ]
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        process = subprocess.Popen(command, stdout=logfile, stderr=subprocess.STDOUT, env=env)
        logfile.close()
        self.processes[site] = process
        return process

    def partition(self, seconds: float) -> None:
        """Make the hub unreachable for ``seconds`` (its server goes away, then comes back on
        the same address); tasks and replies already queued are kept."""
        assert self._stop is not None and self._app is not None
        port = int(self.url.rsplit(":", 1)[1])
        self._stop()
        time.sleep(seconds)
        _, self._stop = start_in_thread(
            self._app, HOST, port, ssl_context=self._context, insecure=self.insecure
        )

    def kill_site(self, site: str) -> None:
        """SIGKILL a site process (a crash, for fault tests)."""
        process = self.processes[site]
        process.send_signal(signal.SIGKILL)
        process.wait()

    # --- the hub's view ------------------------------------------------------------------------

    def consortium(
        self, cohorts: Mapping[str, SiteCohort], study: StudySpec, seed: int, *_: Any, **kw: Any
    ) -> Consortium:
        """What StudyRun drives: a Hub whose transport is the HTTPS task queue."""
        recorder = cast(LedgerRecorder | None, kw.get("recorder"))
        assert self.transport is not None
        infos = [SiteInfo(site=name, n_train=c.n_train) for name, c in cohorts.items()]
        hub = Hub(self.transport, infos, timeout_s=self.timeout_s, recorder=recorder)
        return Consortium(hub=hub, sites={})

    def cosign(self) -> None:
        """Every site pulls, verifies and co-signs the hub's latest checkpoint."""
        assert self.transport is not None
        tasks = [
            Task.build(
                task_id=new_id("task"), plan_id="ledger", round=0, site=site, kind=LEDGER_SYNC
            )
            for site in self.sites
        ]
        for task in tasks:
            self.transport.post_task(task)
        self.transport.collect([t.task_id for t in tasks], self.timeout_s)

    def wait_ready(self, timeout_s: float = 120.0) -> None:
        """Wait until every site has co-signed the current checkpoint (so each is up)."""
        deadline = time.monotonic() + timeout_s
        self.cosign()
        assert self.ledger is not None
        latest = self.ledger.latest_checkpoint()
        size = latest.size if latest else 0
        while time.monotonic() < deadline:
            signers = {c.org for c in self.ledger.store.cosignatures(size)}
            if set(self.sites) <= signers:
                return
            dead = [s for s, p in self.processes.items() if p.poll() is not None]
            if dead:
                raise TransportError(f"site processes exited early: {', '.join(dead)} (see logs)")
            time.sleep(0.2)
        raise TransportError("sites did not come up in time (see OUT/sites/*/site.log)")

    # --- stop ----------------------------------------------------------------------------------

    def close(self) -> None:
        """Stop the site processes, then the server, then the queue and the ledger (idempotent)."""
        for process in self.processes.values():
            if process.poll() is None:
                process.terminate()
        for process in self.processes.values():
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
        if self._stop is not None:
            self._stop()
            self._stop = None
        if self.queue is not None:
            self.queue.close()
            self.queue = None
        if self.ledger is not None:
            self.ledger.close()


def _policy_toml(policy: Any) -> str:
    lines = []
    for key, value in policy.model_dump(mode="json").items():
        name = key.replace("_", "-")
        if value is None:
            continue
        if isinstance(value, bool):
            lines.append(f"{name} = {'true' if value else 'false'}")
        elif isinstance(value, int | float):
            lines.append(f"{name} = {value}")
        elif isinstance(value, list):
            lines.append(
                f"{name} = [{', '.join(repr(str(v)).replace(chr(39), chr(34)) for v in value)}]"
            )
        elif isinstance(value, dict):
            items = ", ".join(f'"{k}" = "{v}"' for k, v in value.items())
            lines.append(f"{name} = {{ {items} }}")
    return "\n".join(lines) + "\n"


def start_loopback(
    study: StudySpec, data: Path | None, out: Path, seed: int, **kw: Any
) -> LoopbackConsortium:
    """Create the run's ledger, serve the hub and start every site; wait until all are up."""
    cohort = load_cohort(study.cohort, data, seed, preprocessing=study.preprocessing)
    audit = RunLedger.create(out, study, cohort)
    harness = LoopbackConsortium(out, study, data, seed, audit, **kw)
    try:
        harness.start()
        harness.wait_ready()
    except BaseException:
        harness.close()
        raise
    return harness

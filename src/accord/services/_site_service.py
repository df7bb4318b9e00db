"""``accord site serve``: a hospital's endpoint as a process that polls the hub over HTTPS.

The site reads its own ``site.toml``::

    [site]
    org = "site01"
    dataset = "site01.hcc-resection-survival"
    data = "/data/hcc"                  # the folder its cohort loads from
    hub = "https://hub.example.org:8443"
    study = "study.json"                # the study (TOML, built-in name, or JSON dump)
    seed = 0

    [tls]                               # mutual TLS with the consortium's CA
    cert = "tls/site01.crt"
    key = "tls/site01.tls.key"
    ca = "tls/ca.crt"
    # insecure = true                   # plain HTTP, loopback tests only

    [policy]                            # see accord.fl.governance._policy
    require-approval = true

    [ledger]
    anchor = "anchor.json"              # the consortium's anchor, agreed out of band

Relative paths are relative to the config's folder, which also holds the site's signing
key (``ORG.key``), its verified ledger replica (``ledger.sqlite``), its spool of computed
replies, its tile-feature cache, its ``interpretability`` images and, should the hub ever
be caught equivocating, the evidence (``evidence/``, see ``docs/ledger.md``). The site only
opens outbound connections: it long-polls the hub for tasks, checks each against its policy
and its replica of the ledger, signs its own ledger entries, masks its updates for
secure aggregation and uploads the reply. Its data never leaves the process.

With ``[ledger] anchor`` the replica refuses a hub log of another genesis or hub key. A
site whose replica holds equivocation evidence answers no task and stops polling; it
does not start again until a person has looked at the evidence and removed it.
"""

from __future__ import annotations

import contextlib
import logging
import tempfile
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from accord.core import ConfigError, EquivocationError, StudySpec, check_keys
from accord.crypto import Identity, client_context, load_identity
from accord.data import load_site_cohort
from accord.fl import (
    PRIVACY_JOURNAL,
    Handler,
    LedgerRecorder,
    Middleware,
    PrivacyJournal,
    Site,
    SiteContext,
    SiteGovernance,
    site_middleware,
)
from accord.fl.governance import SitePolicy, load_site_policy
from accord.fl.tasks import CACHE_KEY, SITE_HANDLERS
from accord.ledger import EVIDENCE_DIR, SiteReplica, SQLiteLedgerStore, load_anchor
from accord.net import LEDGER_SYNC, SITE_HEADER, RemoteHub, RemoteLedger, Reply, SiteClient, Task
from accord.services._prune import log_report, prune_site_state
from accord.services._retention import NO_RETENTION, SITE_AREAS, RetentionPolicy, read_retention
from accord.services._service_config import (
    TLSPaths,
    hub_url,
    read_toml,
    relative,
    seed_of,
    study_ref,
    table,
    tls_paths,
)
from accord.services._site_datasets import local_datasets
from accord.services._site_router import Route, StudyRouter
from accord.studies import resolve_study, write_bytes_atomic

__all__ = [
    "SiteService",
    "SiteServiceConfig",
    "decide_remote",
    "equivocation_guard",
    "load_study_ref",
    "read_service_config",
    "remote_governance",
    "serve_site",
]

log = logging.getLogger("accord.site")
STATE_TASKS = ("setup", "tile_norm")  # replayed, in this order, when a site restarts


@dataclass(frozen=True)
class SiteServiceConfig:
    """A site's ``site.toml``. ``study`` None: a deployed site of a long-running hub (the
    study, dataset and seed of each task come from its signed plan, see
    :mod:`._site_router`); else the one study, ``dataset`` and ``data`` it serves."""

    org: str
    dataset: str | None
    data: Path | None
    hub: str
    study: str | None
    seed: int
    folder: Path
    policy: SitePolicy
    tls: TLSPaths | None  # None: plain HTTP on loopback
    anchor: Path | None = None  # [ledger] anchor: pinned genesis and hub key
    retention: RetentionPolicy = NO_RETENTION  # [retention.spool]: the payload cache

    def open_replica(self, path: Path, identity: Identity) -> SiteReplica:
        """A replica in ``path`` that pins this site's anchor and keeps its evidence."""
        anchor = load_anchor(self.anchor) if self.anchor is not None else None
        store = SQLiteLedgerStore(path)
        try:
            return SiteReplica(
                store, identity, anchor=anchor, evidence_dir=self.folder / EVIDENCE_DIR
            )
        except BaseException:
            store.close()
            raise


def _optional_str(site: dict[str, Any], key: str, path: Path) -> str | None:
    value = site.get(key)
    if value is not None and (not isinstance(value, str) or not value):
        raise ConfigError(f"{path}: field 'site.{key}': expected a non-empty string")
    return value


def read_service_config(path: Path) -> SiteServiceConfig:
    """Validate a site's ``site.toml``; errors name the file and the field."""
    data = read_toml(path, "site config")
    folder = path.parent.resolve()
    check_keys(data, ("site", "tls", "ledger", "policy", "retention"), path, "")
    site = table(data, "site", path)
    check_keys(site, ("org", "dataset", "data", "hub", "study", "seed"), path, "site")
    for key in ("org", "hub"):
        if not isinstance(site.get(key), str) or not site[key]:
            raise ConfigError(f"{path}: field 'site.{key}': expected a non-empty string")
    study, dataset = _optional_str(site, "study", path), _optional_str(site, "dataset", path)
    if (study is None) != (dataset is None):
        raise ConfigError(
            f"{path}: field 'site.{'dataset' if study else 'study'}': a site that serves one "
            "study names both 'study' and 'dataset' (leave both out on a deployed site: "
            "its datasets come from `accord site dataset add`)"
        )
    tls = tls_paths(data, folder, path)
    ledger = table(data, "ledger", path, {})
    check_keys(ledger, ("anchor",), path, "ledger")
    anchor = ledger.get("anchor")
    if anchor is not None and (not isinstance(anchor, str) or not anchor):
        raise ConfigError(f"{path}: field 'ledger.anchor': expected a file path")
    return SiteServiceConfig(
        org=site["org"],
        dataset=dataset,
        data=relative(folder, site["data"]) if site.get("data") else None,
        hub=hub_url(site["hub"], tls, path, "site.hub"),
        study=study_ref(study, folder) if study is not None else None,
        seed=seed_of(site, "site", path),
        folder=folder,
        policy=load_site_policy(path),
        tls=tls,
        anchor=relative(folder, anchor) if anchor else None,
        retention=read_retention(data, path, SITE_AREAS),
    )


def load_study_ref(ref: str) -> StudySpec:
    """A study TOML file or built-in name, or the JSON dump a hub handed out."""
    if ref.endswith(".json"):
        try:
            return StudySpec.model_validate_json(Path(ref).read_bytes())
        except (OSError, ValueError) as exc:
            raise ConfigError(f"{ref}: not a study (JSON): {type(exc).__name__}") from None
    return resolve_study(ref)


class SiteService:
    """Everything one site process runs: its Site(s), its governance and its hub client."""

    def __init__(self, config: SiteServiceConfig, poll_wait_s: float = 25.0) -> None:
        self.config = config
        self.identity = load_identity(config.folder / f"{config.org}.key")
        context = client_context(*config.tls) if config.tls else None
        self.http = httpx.Client(
            base_url=config.hub,
            verify=context if context is not None else True,
            headers={SITE_HEADER: config.org},
            timeout=httpx.Timeout(60.0),
        )
        self.replica = config.open_replica(config.folder / "ledger.sqlite", self.identity)
        self.hub = RemoteHub(self.http)
        self._stop: threading.Event | None = None  # run()'s
        self.journal = PrivacyJournal(config.folder / PRIVACY_JOURNAL)
        self.governance = SiteGovernance(
            config.org,
            self.identity,
            self.replica,
            self.hub,
            config.dataset or "",
            config.policy,
            self.journal,
        )
        self.remote = RemoteLedger(self.http, keys=lambda: self.replica.verifier.registry)
        self.site: Site | StudyRouter
        if config.study is not None and config.dataset is not None:
            # one study, one dataset: built now, so that a bad data folder fails at start
            study = load_study_ref(config.study)
            data = config.data if config.data is not None else Path(".")
            self.site = self._build(Route(study, config.dataset, data, config.seed), "state")
        else:
            self.site = StudyRouter(
                config.org,
                self.governance,
                lambda: {d.id: Path(d.path) for d in local_datasets(config.folder).values()},
                lambda route: self._build(route, f"state/{route.key}"),
                self._refuse,
                require_approval=config.policy.require_approval,
                special={LEDGER_SYNC: self._sync_task},
            )
        self.client = SiteClient(
            config.hub,
            self.site,
            ssl_context=context,
            site=config.org,
            spool_dir=config.folder / "spool",
            poll_wait_s=poll_wait_s,
        )

    def _build(self, route: Route, state: str) -> Site:
        """The Site of one study on one dataset: its governance, recorder and middleware,
        the dataset's rows, and the state it had set up before a restart."""
        config, study = self.config, route.study
        cohort = load_site_cohort(
            study.cohort, route.data, config.org, route.seed, study.preprocessing
        )
        governance = SiteGovernance(
            config.org,
            self.identity,
            self.replica,
            self.hub,
            route.dataset,
            config.policy,
            self.journal,  # one journal per site: every study's charges on its datasets
        )
        recorder = LedgerRecorder(self.remote, self.identity, study.preprocessing.min_cell_count)
        state_dir = config.folder / state
        chain = site_middleware(
            self.identity,
            governance.public_key,
            recorder=recorder,
            policy=governance.policy_check(),
            expect=governance.expect_secure,
            first=(
                equivocation_guard(self.replica, self._halt),
                self._ledger_sync,
                remember_state(state_dir),
            ),
        )
        ctx = SiteContext(config.org, cohort.sites[config.org], study, route.seed)
        ctx.dataset_id = route.dataset
        ctx.state["site_dir"] = str(config.folder)
        ctx.state[CACHE_KEY] = str(config.folder / "features")
        site = Site(ctx, SITE_HANDLERS, chain)
        restore_state(state_dir, ctx, config.org)
        return site

    def _refuse(self, task: Task, dataset: str, reason: str) -> None:
        with contextlib.suppress(Exception):  # the reply says it too, signed or not
            LedgerRecorder(self.remote, self.identity).refused(self.identity, task, dataset, reason)

    def _sync_task(self, task: Task) -> Reply:
        """A ledger sync for a site that serves many studies (no Site is involved)."""
        try:
            self.replica.refuse_if_halted()
            self.governance.sync()
        except EquivocationError as exc:
            self._halt()
            return Reply.build(
                task_id=task.task_id,
                site=task.site,
                kind=task.kind,
                status="failed",
                error=f"EquivocationError: {exc}",
            )
        finally:
            if self.replica.evidence():
                self._halt()
        return Reply.build(
            task_id=task.task_id,
            site=task.site,
            kind=task.kind,
            counts={"size": self.replica.size},
        )

    def _ledger_sync(self, task: Task, ctx: SiteContext, handler: Handler) -> Reply:
        """The hub asks every site to pull, verify and co-sign its latest checkpoint.

        Not itself recorded: co-signing adds no entry, it signs the log as it stands.
        """
        if task.kind != LEDGER_SYNC:
            return handler(task, ctx)
        self.governance.sync()
        size = self.governance.replica.size
        return Reply.build(
            task_id=task.task_id, site=task.site, kind=task.kind, counts={"size": size}
        )

    def run(self, stop: threading.Event) -> None:
        """Poll until ``stop`` is set, or until the replica holds equivocation evidence."""
        self._stop = stop
        try:
            self.governance.replica.refuse_if_halted()
            log.info("site %s polling %s", self.config.org, self.config.hub)
            self.client.run(stop)
        finally:
            self.close()

    def _halt(self) -> None:
        if self._stop is not None:
            self._stop.set()

    def close(self) -> None:
        self.client.close()
        self.http.close()
        self.governance.replica.store.close()


def remember_state(folder: Path) -> Middleware:
    """Keep the tasks that set up a site's state (the consortium's preprocessing, its tile
    standardisation) in ``folder``, so that a restarted site process can take part again."""

    def remember(task: Task, ctx: SiteContext, handler: Handler) -> Reply:
        reply = handler(task, ctx)
        if task.kind in STATE_TASKS and reply.status == "ok":
            write_bytes_atomic(folder / f"{task.kind}.task", task.to_wire())
        return reply

    return remember


def restore_state(folder: Path, ctx: SiteContext, org: str) -> None:
    for kind in STATE_TASKS:
        path = folder / f"{kind}.task"
        if path.is_file():
            task = Task.from_wire(path.read_bytes())
            SITE_HANDLERS[kind](task, ctx)
            log.info("site %s restored its %s state", org, kind)


def equivocation_guard(replica: SiteReplica, halt: Callable[[], None]) -> Middleware:
    """The outermost middleware: no task runs once ``replica`` holds equivocation evidence;
    then ``halt()`` is called (the site stops polling a hub proven dishonest)."""

    def guard(task: Task, ctx: SiteContext, handler: Handler) -> Reply:
        try:
            replica.refuse_if_halted()
            return handler(task, ctx)
        except EquivocationError:
            halt()
            raise
        finally:
            if replica.evidence():  # found during this task, whoever caught the error
                halt()

    return guard


def serve_site(config_path: Path, stop: threading.Event | None = None, **kw: Any) -> None:
    """Run the site described by ``config_path`` until ``stop`` is set (or SIGTERM); its
    retention policy is applied to its spool first."""
    config = read_service_config(config_path)
    log_report(prune_site_state(config.retention, config.folder), f"site {config.org}")
    service = SiteService(config, **kw)
    service.run(stop or threading.Event())


@contextlib.contextmanager
def remote_governance(
    config_path: Path, site: str
) -> Iterator[tuple[SiteGovernance, httpx.Client]]:
    """This site's governance view of a running hub, from a scratch replica that pulls and
    verifies the hub's whole log (the site process keeps its own replica untouched)."""
    config = read_service_config(config_path)
    if config.org != site:
        raise ConfigError(f"--site {site}: {config_path} is the config of '{config.org}'")
    identity = load_identity(config.folder / f"{config.org}.key")
    context = client_context(*config.tls) if config.tls else None
    with (
        tempfile.TemporaryDirectory(prefix="accord-review-") as scratch,
        httpx.Client(
            base_url=config.hub,
            verify=context if context is not None else True,
            headers={SITE_HEADER: config.org},
            timeout=httpx.Timeout(60.0),
        ) as http,
    ):
        replica = config.open_replica(Path(scratch) / "ledger.sqlite", identity)
        try:
            yield (
                SiteGovernance(
                    config.org,
                    identity,
                    replica,
                    RemoteHub(http),
                    config.dataset or _only_dataset(config.folder),
                    config.policy,
                ),
                http,
            )
        finally:
            replica.store.close()


def _only_dataset(folder: Path) -> str:
    """A deployed site's dataset when it has exactly one ("" otherwise: name --dataset)."""
    own = sorted(local_datasets(folder))
    return own[0] if len(own) == 1 else ""


def decide_remote(
    config_path: Path, site: str, prefix: str, dataset: str | None, reason: str | None
) -> tuple[int, str, str, str]:
    """A data owner approves (``reason`` None) or rejects a registered function over HTTPS.

    The site pulls and verifies the hub's log into a scratch replica, finds the function by
    hash prefix, and signs its decision with its own key through the hub. Returns (ledger
    seq, entry kind, function hash, dataset id).
    """
    with remote_governance(config_path, site) as (governance, http):
        view = governance.view()
        matches = [h for h in view.functions if h.startswith(prefix)] if len(prefix) >= 8 else []
        if len(matches) != 1:
            raise ConfigError(f"HASH {prefix}: matches {len(matches)} registered functions")
        chosen = dataset or governance.dataset_id
        if not chosen:
            raise ConfigError("--dataset: this site has several datasets (or none); name one")
        payload: dict[str, Any] = {"function": matches[0], "dataset": chosen}
        kind = "function.approved" if reason is None else "function.rejected"
        if reason is not None:
            payload["reason"] = reason
        registry = governance.replica.verifier
        remote = RemoteLedger(http, keys=lambda: registry.registry)
        receipt = remote.record(governance.identity, kind, payload)
    return int(receipt.seq), kind, matches[0], str(payload["dataset"])

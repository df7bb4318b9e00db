"""``accord hub serve --config hub.toml``: the hub as its own process.

A deployed consortium's hub (``hub.toml`` without ``study``) is long-running: it serves
the ledger in its folder and runs every study researchers submit, one after another or
side by side (:mod:`._hub_runner`)::

    [hub]
    listen = "0.0.0.0:8443"
    key = "hub.key"         # the hub's own ledger signing key (default hub.key here)
    timeout = 600           # seconds a round waits before silent sites count as dropouts
    parallel = 1            # runs carried out at once

    [tls]
    cert = "hub.crt"
    key = "hub.tls.key"
    ca = "ca.crt"

    [limits]                # optional; each key optional (see accord.net._limits)
    requests_per_minute = 1200

The hub's state lives in the config's folder: ``ledger.sqlite`` (written by ``accord
consortium init``), the task queue (``queue.sqlite``), blobs, ``checkpoints/RUN/`` and
``runs/RUN/`` (results.json, report.html). There is no data setting: the hub holds no row.

A simulated consortium's hub (``accord run --processes``, and its ``hub.toml`` with
``run``, ``study`` and ``seed``) runs that one study on the sites of its ledger, resumes
it after a crash from the last completed round, and exits; its keys sit in ``RUN/keys``
and — a simulation only — its data owners' keys under ``RUN/sites/NAME/NAME.key``.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from accord.core import ConfigError, LedgerError, check_keys
from accord.crypto import load_identity
from accord.fl.governance import GovernanceView, SitePolicy
from accord.ledger import Entry, HubLedger
from accord.net import DEFAULT_LIMITS, Limits
from accord.services._hub_runner import ConsortiumHub
from accord.services._hub_service import Deployment, HubService
from accord.services._prune import log_report
from accord.services._retention import HUB_AREAS, NO_RETENTION, RetentionPolicy, read_retention
from accord.services._service_config import (
    TLSPaths,
    listen_address,
    read_toml,
    relative,
    seed_of,
    study_ref,
    table,
    tls_paths,
)
from accord.services._site_service import load_study_ref
from accord.services._status_api import status_router
from accord.services._store_config import SQLITE_STORE, StoreConfig, read_store
from accord.studies import (
    HUB_ORG,
    RESEARCHER_ORG,
    PlanCheckpoints,
    RunLedger,
    results_document,
    run_federated,
    write_json_atomic,
    write_model_files,
    write_report,
)

__all__ = ["HubConfig", "read_hub_config", "read_limits", "serve_consortium", "serve_hub"]

log = logging.getLogger("accord.hub")

_MIN_REQUEST_BYTES = 16 * 1024 * 1024  # a site uploads pieces of this size (its chunk_bytes)


@dataclass(frozen=True)
class HubConfig:
    """``study`` None: a deployed, long-running hub; else a simulation's one-study hub."""

    host: str
    port: int
    folder: Path
    run: Path
    study: str | None
    seed: int
    timeout_s: float
    tls: TLSPaths | None
    limits: Limits = DEFAULT_LIMITS
    key: Path | None = None
    parallel: int = 1
    store: StoreConfig = SQLITE_STORE  # [store]: where the ledger and queue live
    retention: RetentionPolicy = NO_RETENTION  # [retention]: blobs and checkpoints


_HUB_KEYS = ("listen", "run", "study", "seed", "timeout", "key", "parallel")


def read_hub_config(path: Path) -> HubConfig:
    """Validate ``hub.toml``; errors name the file and the field."""
    data = read_toml(path, "hub config")
    folder = path.parent.resolve()
    check_keys(data, ("hub", "tls", "limits", "store", "retention"), path, "")
    hub = table(data, "hub", path)
    if "data" in hub:
        raise ConfigError(
            f"{path}: field 'hub.data': a hub holds no patient data; sites register their "
            "datasets themselves (accord site dataset add)"
        )
    check_keys(hub, _HUB_KEYS, path, "hub")
    tls = tls_paths(data, folder, path)
    host, port = listen_address(hub.get("listen", ""), tls, path, "hub.listen")
    for key in ("run", "study", "key"):
        if key in hub and (not isinstance(hub[key], str) or not hub[key]):
            raise ConfigError(f"{path}: field 'hub.{key}': expected a string")
    if ("study" in hub) != ("run" in hub):
        raise ConfigError(
            f"{path}: field 'hub.{'run' if 'study' in hub else 'study'}': a one-study "
            "(simulated) hub names both 'run' and 'study'; a deployed hub neither"
        )
    timeout = hub.get("timeout", 600)
    if not isinstance(timeout, int | float) or isinstance(timeout, bool) or timeout <= 0:
        raise ConfigError(f"{path}: field 'hub.timeout': expected seconds > 0")
    parallel = hub.get("parallel", 1)
    if not isinstance(parallel, int) or isinstance(parallel, bool) or not 1 <= parallel <= 64:
        raise ConfigError(f"{path}: field 'hub.parallel': expected a whole number in 1..64")
    return HubConfig(
        host=host,
        port=port,
        folder=folder,
        run=relative(folder, hub["run"]) if "run" in hub else folder,
        study=study_ref(hub["study"], folder) if "study" in hub else None,
        seed=seed_of(hub, "hub", path),
        timeout_s=float(timeout),
        tls=tls,
        limits=read_limits(data, path),
        key=relative(folder, hub.get("key", "hub.key")),
        parallel=parallel,
        store=read_store(data, path),
        retention=read_retention(data, path, HUB_AREAS),
    )


def read_limits(data: dict[str, Any], path: Path) -> Limits:
    """The ``[limits]`` table (absent: the defaults); unknown keys and values that are not
    positive whole numbers (``staging_expiry_s``: seconds > 0) are errors naming the field."""
    given = table(data, "limits", path, {})
    check_keys(given, (f.name for f in fields(Limits)), path, "limits")
    values: dict[str, Any] = {}
    for key, value in given.items():
        number = isinstance(value, int | float) and not isinstance(value, bool)
        whole = isinstance(value, int) or key == "staging_expiry_s"
        if not number or not whole or value <= 0:
            what = "seconds > 0" if key == "staging_expiry_s" else "a whole number > 0"
            raise ConfigError(f"{path}: field 'limits.{key}': expected {what}")
        values[key] = float(value) if key == "staging_expiry_s" else value
    limits = Limits(**values)
    if limits.max_request_bytes < _MIN_REQUEST_BYTES:
        raise ConfigError(
            f"{path}: field 'limits.max_request_bytes': expected at least {_MIN_REQUEST_BYTES}"
            " (a site uploads pieces of that size)"
        )
    if limits.staging_site_bytes > limits.staging_total_bytes:
        raise ConfigError(
            f"{path}: field 'limits.staging_site_bytes': expected at most "
            "limits.staging_total_bytes"
        )
    return limits


def reopen_run_ledger(config: HubConfig, study_name: str) -> RunLedger:
    """A simulated run's ledger and keys, as its hub holds them (site replicas stay with the
    sites); its sites are those whose datasets are registered on it."""
    keys = config.run / "keys"
    hub = load_identity(keys / f"{HUB_ORG}.key")
    researcher = load_identity(keys / f"{RESEARCHER_ORG}.key")
    ledger = HubLedger(config.store.open_ledger(config.run / "ledger.sqlite"), hub)
    view = GovernanceView()
    for stored in ledger.store.read():
        with contextlib.suppress(LedgerError):
            view.apply(Entry.parse(stored.entry))
    datasets = {d.site: d.id for d in view.datasets.values() if d.enabled}
    sites = sorted(datasets)
    # A simulated consortium's data owners approve through the hub; real ones approve from
    # their site (accord site approve --hub URL --config site.toml): no key here.
    keys_here = {s: config.run / "sites" / s / f"{s}.key" for s in sites}
    owners = {s: load_identity(path) for s, path in keys_here.items() if path.is_file()}
    return RunLedger.assemble(
        config.run,
        hub,
        researcher,
        owners,
        ledger,
        datasets,
        {s: SitePolicy() for s in sites},
        auto_approve=True,
        study=None,
        local_replicas=False,
    )


def _service(
    config: HubConfig, audit: RunLedger | None, stop: threading.Event, **kw: Any
) -> HubService:
    return HubService(
        audit,
        config.folder,
        tls=config.tls,
        host=config.host,
        port=config.port,
        timeout_s=config.timeout_s,
        limits=config.limits,
        store=config.store,
        stop=stop,
        **kw,
    )


def serve_hub(config: HubConfig, stop: threading.Event | None = None) -> dict[str, Any] | None:
    """A deployed hub: serve until ``stop`` (None returned). A simulated one-study hub: run
    the study (resuming it if interrupted), write ``results.json`` and ``report.html`` into
    the run folder and return the document."""
    stop = stop or threading.Event()
    if config.study is None:
        serve_consortium(config, stop)
        return None
    study = load_study_ref(config.study)
    audit = reopen_run_ledger(config, study.study.name)
    service = _service(config, audit, stop)
    try:
        log_report(service.prune(config.retention), "hub")
        url = service.start()
        service.start_pruning(config.retention)
        log.info("hub serving %s", url)
        service.wait_ready(timeout_s=config.timeout_s)
        run, results = run_federated(
            study,
            config.seed,
            service.consortium(service.audit.recorder),
            audit=service.audit,
            checkpoints=PlanCheckpoints(config.folder / "checkpoints"),
        )
        service.audit.seal()
        models = write_model_files(run, results, config.run)
        document = results_document(run, results, models=models)
        write_json_atomic(config.run / "results.json", document)
        write_report(run, results, document, config.run)
        return document
    finally:
        service.close()


def serve_consortium(
    config: HubConfig, stop: threading.Event, started: Callable[[str], None] | None = None
) -> None:
    """The deployed hub (:class:`~accord.services._hub_runner.ConsortiumHub`) until ``stop``."""
    if config.key is None or not config.key.is_file():
        raise ConfigError(f"{config.key}: the hub's signing key is missing (accord hub enroll)")
    if not (config.run / "ledger.sqlite").is_file():
        raise ConfigError(
            f"{config.run}: no ledger.sqlite here; the hub operator writes it with "
            "`accord consortium init` from the members' cards"
        )
    hub = load_identity(config.key)
    holder: list[ConsortiumHub] = []

    def make(deployment: Deployment) -> HubService:
        status = status_router(lambda: holder[0].status())
        service = _service(config, None, stop, deployment=deployment, routers=[status])
        log_report(service.prune(config.retention), "hub")
        service.start_pruning(config.retention)
        return service

    consortium = ConsortiumHub(config.run, hub, stop, make_service=make, parallel=config.parallel)
    holder.append(consortium)
    consortium.serve(started)

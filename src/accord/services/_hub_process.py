"""``accord hub serve --config hub.toml``: the hub as its own process, resumable.

    [hub]
    listen = "127.0.0.1:8443"
    run = ".."              # the run folder: ledger.sqlite, keys/, sites/, results
    study = "../study.json" # the study this hub runs (TOML, built-in name or JSON)
    data = "/data/ref"      # cohort metadata and the reference baselines (see below)
    seed = 0
    timeout = 600           # seconds a round waits before silent sites count as dropouts

    [tls]
    cert = "hub.crt"
    key = "hub.tls.key"
    ca = "../pki/ca/ca.crt"

    [limits]                # optional; each key optional (see accord.net._limits)
    requests_per_minute = 1200
    staging_site_bytes = 2147483648

The hub's state lives in the config's folder: the task queue (``queue.sqlite``), blobs,
and ``checkpoints/`` — after every round the global state of the running plan. Killed
mid-plan and started again, the hub reopens its ledger and queue and carries on from the
last completed round of the same plan: no entry is lost (the ledger is durable) and none
is written twice (the interrupted round is sent again under new task ids).

The signing keys sit in ``RUN/keys``: ``hub.key`` and ``researcher.key``, and — in a
simulated consortium only — the data owners' keys under ``RUN/sites/NAME/NAME.key``
(used to approve the study's function as each simulated owner would). Like ``accord run``,
this hub loads the cohort folder ``data`` to know the sites' sizes and to compute the
reference baselines that need rows in one place; the federated methods themselves only
ever see what the site processes reply.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from accord.core import ConfigError, check_keys
from accord.crypto import load_identity
from accord.data import load_cohort
from accord.fl.governance import SitePolicy
from accord.ledger import HubLedger
from accord.net import DEFAULT_LIMITS, Limits
from accord.services._hub_service import HubService
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
from accord.services._store_config import SQLITE_STORE, StoreConfig, read_store
from accord.studies import (
    HUB_ORG,
    RESEARCHER_ORG,
    PlanCheckpoints,
    RunLedger,
    results_document,
    run_study,
    write_json_atomic,
    write_report,
)

__all__ = ["HubConfig", "read_hub_config", "read_limits", "serve_hub"]

log = logging.getLogger("accord.hub")

_MIN_REQUEST_BYTES = 16 * 1024 * 1024  # a site uploads pieces of this size (its chunk_bytes)


@dataclass(frozen=True)
class HubConfig:
    host: str
    port: int
    folder: Path
    run: Path
    study: str
    data: Path | None
    seed: int
    timeout_s: float
    tls: TLSPaths | None
    limits: Limits = DEFAULT_LIMITS
    store: StoreConfig = SQLITE_STORE  # [store]: where the ledger and queue live
    retention: RetentionPolicy = NO_RETENTION  # [retention]: blobs and checkpoints


def read_hub_config(path: Path) -> HubConfig:
    """Validate ``hub.toml``; errors name the file and the field."""
    data = read_toml(path, "hub config")
    folder = path.parent.resolve()
    check_keys(data, ("hub", "tls", "limits", "store", "retention"), path, "")
    hub = table(data, "hub", path)
    check_keys(hub, ("listen", "run", "study", "data", "seed", "timeout"), path, "hub")
    tls = tls_paths(data, folder, path)
    host, port = listen_address(hub.get("listen", ""), tls, path, "hub.listen")
    for key in ("run", "study"):
        if not isinstance(hub.get(key), str):
            raise ConfigError(f"{path}: field 'hub.{key}': expected a string")
    timeout = hub.get("timeout", 600)
    if not isinstance(timeout, int | float) or timeout <= 0:
        raise ConfigError(f"{path}: field 'hub.timeout': expected seconds > 0")
    return HubConfig(
        host=host,
        port=port,
        folder=folder,
        run=relative(folder, hub["run"]),
        study=study_ref(hub["study"], folder),
        data=relative(folder, hub["data"]) if hub.get("data") else None,
        seed=seed_of(hub, "hub", path),
        timeout_s=float(timeout),
        tls=tls,
        limits=read_limits(data, path),
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


def reopen_run_ledger(config: HubConfig, sites: list[str], study_name: str) -> RunLedger:
    """The run's ledger and keys, as a hub holds them (site replicas stay with the sites)."""
    keys = config.run / "keys"
    hub = load_identity(keys / f"{HUB_ORG}.key")
    researcher = load_identity(keys / f"{RESEARCHER_ORG}.key")
    # A simulated consortium's data owners approve through the hub; real ones approve from
    # their site (accord site approve --hub URL --config site.toml): no key here.
    keys_here = {s: config.run / "sites" / s / f"{s}.key" for s in sites}
    owners = {s: load_identity(path) for s, path in keys_here.items() if path.is_file()}
    ledger = HubLedger(config.store.open_ledger(config.run / "ledger.sqlite"), hub)
    return RunLedger.assemble(
        config.run,
        hub,
        researcher,
        owners,
        ledger,
        {s: f"{s}.{study_name}" for s in sites},
        {s: SitePolicy() for s in sites},
        auto_approve=True,
        study=None,
        local_replicas=False,
    )


def serve_hub(config: HubConfig, stop: threading.Event | None = None) -> dict[str, Any]:
    """Serve the consortium and run the study (resuming it if this hub was interrupted);
    write ``results.json`` and ``report.html`` into the run folder; return the document.

    ``stop`` set (SIGTERM, Ctrl-C) closes the service; the study then stops with an error
    that the caller, seeing ``stop`` set, takes for the requested stop."""
    study = load_study_ref(config.study)
    cohort = load_cohort(study.cohort, config.data, config.seed, study.preprocessing)
    audit = reopen_run_ledger(config, sorted(cohort.sites), study.study.name)
    service = HubService(
        audit,
        config.folder,
        tls=config.tls,
        host=config.host,
        port=config.port,
        timeout_s=config.timeout_s,
        limits=config.limits,
        store=config.store,
        stop=stop,
    )
    try:
        log_report(service.prune(config.retention), "hub")
        url = service.start()
        service.start_pruning(config.retention)
        log.info("hub serving %s", url)
        service.wait_ready(timeout_s=config.timeout_s)
        sim, results = run_study(
            study,
            config.data,
            config.seed,
            ledger_dir=config.run,
            audit=service.audit,
            network=service.consortium,
            checkpoints=PlanCheckpoints(config.folder / "checkpoints"),
        )
        run = sim.run
        document = results_document(run, results, oracle=sim.oracle, notes=sim.cohort.notes)
        write_json_atomic(config.run / "results.json", document)
        write_report(run, results, document, config.run, oracle=sim.oracle)
        return document
    finally:
        service.close()

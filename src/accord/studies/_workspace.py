"""A simulated consortium workspace (``accord consortium simulate``): the in-process hub's
folder, with each site's own config and **every organisation's private key on this one
machine**. A real consortium is founded from public member cards instead
(:mod:`accord.studies._membership`, ``accord consortium init``).

    DIR/consortium.json            name, log id, sites and their dataset ids
    DIR/ledger.sqlite              the hub's log
    DIR/keys/hub.key, researcher.key (+ .pub.json)
    DIR/sites/NAME/site.toml       the site's own config: its dataset, data folder, [policy]
    DIR/sites/NAME/NAME.key        the site's signing key (mode 0600)
    DIR/sites/NAME/ledger.sqlite   the site's verified replica
    DIR/sites/NAME/anchor.json     the anchor the site's replica pins
    DIR/sites/NAME/evidence/       equivocation evidence, if the hub ever showed two histories

On one machine this plays every organisation of a consortium, each with its own key and
policy; the network deployment gives each site its own machine and config with the same
files. Site configs never leave the site: the hub reads only the ledger.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from accord.core import ConfigError, StudySpec, load_json_file, load_toml, new_id
from accord.crypto import Identity, load_identity, new_identity, save_identity
from accord.data import load_cohort
from accord.fl.governance import SitePolicy, load_site_policy
from accord.ledger import (
    HubLedger,
    SQLiteLedgerStore,
    anchor_of,
    genesis_payload,
    write_anchor,
)
from accord.studies._audit import HUB_ORG, RESEARCHER_ORG, RunLedger, dataset_payload
from accord.studies._jsonio import write_json_atomic

__all__ = ["SiteConfig", "init_workspace", "open_workspace", "resolve_hub"]

SITE_TOML = """# {org}: this site's own configuration. It never leaves the site.
[site]
org = "{org}"
dataset = "{dataset}"
data = "{data}"

[policy]
require-approval = true           # the data owner approves each function hash
force-secure-aggregation = false
min-cohort-size = 20              # refuse tasks on fewer training patients
allowed-organisations = []        # empty: whoever the dataset's permissions allow
# max-rounds = 100
require-dp = false
# allow-non-dp = ["preprocessing", "metrics"]  # guarded datasets: allowed non-DP releases
"""


@dataclass(frozen=True)
class SiteConfig:
    org: str
    dataset: str
    data: Path | None
    policy: SitePolicy


def resolve_hub(value: str) -> Path:
    """``--hub`` accepts a workspace folder or a ``file://`` URL (the network hub comes later)."""
    if value.startswith(("http://", "https://")):
        raise ConfigError(
            f"--hub {value}: this command needs the consortium workspace folder "
            "(only site approve/reject take a hub URL, with --config)"
        )
    path = Path(value.removeprefix("file://"))
    if not (path / "consortium.json").exists():
        raise ConfigError(
            f"--hub {path.absolute()}: not a consortium workspace (no consortium.json)"
        )
    return path


def read_site_config(path: Path) -> SiteConfig:
    try:
        data = load_toml(path.read_text(encoding="utf-8"))
        site = data["site"]
        org, dataset, folder = str(site["org"]), str(site["dataset"]), str(site.get("data", ""))
    except (OSError, tomllib.TOMLDecodeError, KeyError, TypeError) as exc:
        raise ConfigError(f"{path}: field 'site': missing or malformed ({exc})") from None
    return SiteConfig(org, dataset, Path(folder) if folder else None, load_site_policy(path))


def init_workspace(folder: Path, study: StudySpec, data: Path | None, seed: int = 0) -> Path:
    """Simulate a consortium: every organisation's key (here), the genesis entry and every
    site's dataset registration."""
    if (folder / "consortium.json").exists():
        raise ConfigError(f"{folder}: a consortium workspace already exists here")
    cohort = load_cohort(study.cohort, data, seed, preprocessing=study.preprocessing)
    hub, researcher = new_identity(HUB_ORG), new_identity(RESEARCHER_ORG)
    sites = {name: new_identity(name) for name in cohort.sites}
    for identity in (hub, researcher):
        save_identity(identity, folder / "keys")
    datasets = {name: f"{name}.{study.study.name}" for name in sites}
    for name, identity in sites.items():
        save_identity(identity, folder / "sites" / name)
        text = SITE_TOML.format(
            org=name, dataset=datasets[name], data=str(data.resolve()) if data else ""
        )
        (folder / "sites" / name / "site.toml").write_text(text, encoding="utf-8")
    orgs = [i.public.to_dict() for i in (hub, researcher, *sites.values())]
    log_id = new_id("log")
    store = SQLiteLedgerStore(folder / "ledger.sqlite")
    ledger = HubLedger.create(store, hub, log_id, genesis_payload(study.study.name, HUB_ORG, orgs))
    for name, identity in sites.items():
        payload = dataset_payload(study, cohort, name, datasets[name], [RESEARCHER_ORG])
        ledger.record(identity, "dataset.registered", payload)
    ledger.checkpoint()
    anchor = anchor_of(next(iter(store.read(0, 1))))
    store.close()
    # Each member keeps its own copy; an auditor compares them out of band.
    write_anchor(folder / "anchor.json", anchor)
    for name in sites:
        write_anchor(folder / "sites" / name / "anchor.json", anchor)
    manifest = {"name": study.study.name, "log_id": log_id, "sites": datasets}
    write_json_atomic(folder / "consortium.json", manifest)
    return folder


def site_identity(folder: Path, site: str) -> Identity:
    return load_identity(folder / "sites" / site / f"{site}.key")


def _read_manifest(path: Path) -> dict[str, Any]:
    """consortium.json, checked for the one field :func:`open_workspace` needs."""
    manifest = load_json_file(path, ConfigError, "a workspace manifest")
    sites = manifest.get("sites") if isinstance(manifest, dict) else None
    if not isinstance(sites, dict) or not all(isinstance(s, str) for s in sites):
        raise ConfigError(f"{path}: field 'sites' is missing or not an object of site names")
    return dict(manifest)


def open_workspace(folder: Path) -> tuple[RunLedger, dict[str, SiteConfig]]:
    """Load every organisation's key, each site's config, the hub's log and the replicas."""
    manifest = _read_manifest(folder / "consortium.json")
    hub = load_identity(folder / "keys" / f"{HUB_ORG}.key")
    researcher = load_identity(folder / "keys" / f"{RESEARCHER_ORG}.key")
    configs = {s: read_site_config(folder / "sites" / s / "site.toml") for s in manifest["sites"]}
    sites = {s: site_identity(folder, s) for s in configs}
    ledger = HubLedger(SQLiteLedgerStore(folder / "ledger.sqlite", create=False), hub)
    run = RunLedger.assemble(
        folder,
        hub,
        researcher,
        sites,
        ledger,
        {s: c.dataset for s, c in configs.items()},
        {s: c.policy for s, c in configs.items()},
        auto_approve=False,
        study=None,
    )
    return run, configs

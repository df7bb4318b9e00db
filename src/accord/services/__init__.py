"""Services: the deployed actors — hub service and process, site service, loopback.

``accord hub serve`` (:func:`serve_hub`), ``accord site serve`` (:func:`serve_site`),
``accord run --processes`` (:func:`start_loopback`). Names import on first use
(:mod:`accord._lazy_face`): importing the hub service never imports a site's torch code.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from accord._lazy_face import lazy_face

if TYPE_CHECKING:
    from accord.services._hub_process import (
        HubConfig,
        read_hub_config,
        serve_consortium,
        serve_hub,
    )
    from accord.services._hub_runner import ConsortiumHub, RunStatus
    from accord.services._hub_service import HubService
    from accord.services._loopback import (
        LoopbackConsortium,
        issue_certificates,
        policy_toml,
        prepare_hub_process,
        spawn,
        start_loopback,
        stop_processes,
        write_site_config,
    )
    from accord.services._member import MemberConfig, member_session, read_member_config
    from accord.services._prune import prune_hub_state, prune_site_state
    from accord.services._researcher import Submitted, fetch_results, hub_status, submit_study
    from accord.services._retention import (
        PruneReport,
        RetentionPolicy,
        apply_retention,
        read_retention,
    )
    from accord.services._service_config import TLSPaths
    from accord.services._site_datasets import LocalDataset, add_dataset, local_datasets
    from accord.services._site_service import (
        SiteService,
        SiteServiceConfig,
        decide_remote,
        load_study_ref,
        read_service_config,
        remote_governance,
        serve_site,
    )
    from accord.services._store_config import StoreConfig, copy_ledger, read_store

_HOMES = {
    "ConsortiumHub": "_hub_runner",
    "HubConfig": "_hub_process",
    "HubService": "_hub_service",
    "LocalDataset": "_site_datasets",
    "LoopbackConsortium": "_loopback",
    "MemberConfig": "_member",
    "PruneReport": "_retention",
    "RetentionPolicy": "_retention",
    "RunStatus": "_hub_runner",
    "SiteService": "_site_service",
    "SiteServiceConfig": "_site_service",
    "StoreConfig": "_store_config",
    "Submitted": "_researcher",
    "TLSPaths": "_service_config",
    "add_dataset": "_site_datasets",
    "apply_retention": "_retention",
    "copy_ledger": "_store_config",
    "decide_remote": "_site_service",
    "fetch_results": "_researcher",
    "hub_status": "_researcher",
    "issue_certificates": "_loopback",
    "load_study_ref": "_site_service",
    "local_datasets": "_site_datasets",
    "member_session": "_member",
    "policy_toml": "_loopback",
    "prepare_hub_process": "_loopback",
    "prune_hub_state": "_prune",
    "prune_site_state": "_prune",
    "read_hub_config": "_hub_process",
    "read_member_config": "_member",
    "read_retention": "_retention",
    "read_service_config": "_site_service",
    "read_store": "_store_config",
    "remote_governance": "_site_service",
    "serve_consortium": "_hub_process",
    "serve_hub": "_hub_process",
    "serve_site": "_site_service",
    "spawn": "_loopback",
    "start_loopback": "_loopback",
    "stop_processes": "_loopback",
    "submit_study": "_researcher",
    "write_site_config": "_loopback",
}

__all__ = [
    "ConsortiumHub",
    "HubConfig",
    "HubService",
    "LocalDataset",
    "LoopbackConsortium",
    "MemberConfig",
    "PruneReport",
    "RetentionPolicy",
    "RunStatus",
    "SiteService",
    "SiteServiceConfig",
    "StoreConfig",
    "Submitted",
    "TLSPaths",
    "add_dataset",
    "apply_retention",
    "copy_ledger",
    "decide_remote",
    "fetch_results",
    "hub_status",
    "issue_certificates",
    "load_study_ref",
    "local_datasets",
    "member_session",
    "policy_toml",
    "prepare_hub_process",
    "prune_hub_state",
    "prune_site_state",
    "read_hub_config",
    "read_member_config",
    "read_retention",
    "read_service_config",
    "read_store",
    "remote_governance",
    "serve_consortium",
    "serve_hub",
    "serve_site",
    "spawn",
    "start_loopback",
    "stop_processes",
    "submit_study",
    "write_site_config",
]

__getattr__ = lazy_face(__name__, _HOMES)

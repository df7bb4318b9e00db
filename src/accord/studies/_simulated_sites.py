"""Simulated sites: one :class:`~accord.fl._site.Site` per cohort folder, in this process.

Each site holds its own rows and answers tasks through the same handlers and the same
middleware chain (:func:`~accord.fl._site_chain.site_middleware`) as a site process; the hub
reaches them over the in-memory transport, which serialises every message to its wire
bytes. Only simulation builds these: the hub side (:class:`Consortium`) never sees them.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from pathlib import Path

from accord.core import Signer, StudySpec
from accord.crypto import new_identity
from accord.data import SiteCohort
from accord.fl import (
    ExpectSecure,
    Hub,
    InMemoryTransport,
    LedgerRecorder,
    PolicyCheck,
    Site,
    SiteContext,
    site_middleware,
)
from accord.fl.tasks import CACHE_KEY, SITE_HANDLERS
from accord.studies._consortium import Consortium

__all__ = ["Observer", "share_cache", "simulate_sites"]

Observer = Callable[[str, bytes], None]
"""Sees every reply's wire bytes as it leaves a site (tests audit what leaves)."""


def _ephemeral_keys(
    sites: list[str],
) -> tuple[dict[str, Signer], Callable[[str], bytes]]:
    """Fresh signing keys for simulated sites that have no ledger identity."""
    keys: dict[str, Signer] = {}
    public: dict[str, bytes] = {}
    for site in sites:
        org = re.sub(r"[^a-z0-9_.-]", "-", site.lower())[:63] or "site"
        identity = new_identity(org if org[0].isalnum() else f"s{org}"[:63])
        keys[site], public[site] = identity, identity.public.public_key
    return keys, public.__getitem__


def simulate_sites(
    cohorts: Mapping[str, SiteCohort],
    study: StudySpec,
    seed: int,
    observer: Observer | None = None,
    recorder: LedgerRecorder | None = None,
    signers: Mapping[str, Signer] | None = None,
    policies: Mapping[str, PolicyCheck] | None = None,
    datasets: Mapping[str, str] | None = None,
    public_key_of: Callable[[str], bytes] | None = None,
    folders: Mapping[str, Path] | None = None,
    expect: Mapping[str, ExpectSecure] | None = None,
) -> tuple[Consortium, dict[str, Site]]:
    """Sites over an in-memory transport, and the hub's side of that consortium.

    With a recorder, every task is signed into the ledger by the hub (dispatch,
    aggregation) and by each site (``signers``), and each site checks its policy
    (``policies``) before touching its data; ``folders`` are the sites' own folders
    (interpretability images). Every site can take part in secure aggregation: with no
    ``signers`` each gets a fresh key to sign its advertisements; ``expect`` gives each
    site what a task's plan expects of its secure rounds (its governance's signed plans,
    or a :class:`~accord.fl.PlanBook`); without it a site follows the task.
    """
    if signers is None or public_key_of is None:
        signers, public_key_of = _ephemeral_keys(list(cohorts))
    sites = {}
    for name, c in cohorts.items():
        policy = policies.get(name) if policies else None
        chain = site_middleware(
            signers[name],
            public_key_of,
            recorder=recorder,
            policy=policy,
            expect=expect.get(name) if expect else None,
        )
        ctx = SiteContext(site=name, cohort=c, study=study, seed=seed)
        ctx.dataset_id = datasets.get(name, "") if datasets else ""
        if folders and name in folders:
            ctx.state["site_dir"] = str(folders[name])
        sites[name] = Site(ctx, SITE_HANDLERS, chain)
    hub = Hub(InMemoryTransport(sites, observer=observer), recorder=recorder)
    return Consortium(hub=hub, members=tuple(cohorts)), sites


def share_cache(sites: Mapping[str, Site], folder: Path) -> None:
    """Simulation: all sites keep their tile features in one folder (keys are slide hashes)."""
    for site in sites.values():
        site.context.state[CACHE_KEY] = str(folder)

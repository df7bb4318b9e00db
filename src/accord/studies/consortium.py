"""A simulated consortium: Site objects over an in-memory transport, driven by one Hub."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from accord.core.codec import Arrays
from accord.core.config import StudySpec
from accord.core.ids import new_id
from accord.crypto import new_identity
from accord.data import Preprocessor, SiteCohort, SiteFeatureStats, fit_preprocessor
from accord.fl.aggregation import WeightedSum, sum_contributions
from accord.fl.handlers import SITE_HANDLERS
from accord.fl.hub import Hub
from accord.fl.in_memory import InMemoryTransport
from accord.fl.recording import LedgerRecorder, PolicyCheck
from accord.fl.secure import secure_round
from accord.fl.secure_site import secure_aggregation_middleware
from accord.fl.site import Middleware, Site, SiteContext, refuse_row_level_arrays
from accord.fl.strategies import SiteInfo
from accord.ledger.entry import Signer
from accord.net.messages import ConfigValue, Reply, Task, TaskKind

__all__ = ["Consortium", "Observer"]

Observer = Callable[[str, bytes], None]


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


@dataclass
class Consortium:
    """Sites holding their own rows, and a hub that only sees what they reply."""

    hub: Hub
    sites: dict[str, Site]
    feature_dim: int | None = None
    tile_stats: tuple[np.ndarray, np.ndarray] | None = None

    @classmethod
    def simulate(
        cls,
        cohorts: Mapping[str, SiteCohort],
        study: StudySpec,
        seed: int,
        observer: Observer | None = None,
        recorder: LedgerRecorder | None = None,
        signers: Mapping[str, Signer] | None = None,
        policies: Mapping[str, PolicyCheck] | None = None,
        datasets: Mapping[str, str] | None = None,
        public_key_of: Callable[[str], bytes] | None = None,
    ) -> Consortium:
        """Sites over an in-memory transport; with a recorder, every task is signed into
        the ledger by the hub (dispatch, aggregation) and by each site (``signers``), and
        each site checks its policy (``policies``) before touching its data.

        Every site can take part in secure aggregation: with no ``signers`` the simulation
        gives each site a fresh key to sign its secure-aggregation advertisements.
        """
        if signers is None or public_key_of is None:
            signers, public_key_of = _ephemeral_keys(list(cohorts))
        sites = {}
        for name, c in cohorts.items():
            chain: list[Middleware] = [
                secure_aggregation_middleware(signers[name], public_key_of),
                refuse_row_level_arrays,
            ]
            if recorder is not None:
                check = policies.get(name) if policies else None
                chain.insert(0, recorder.middleware(signers[name], check))
            ctx = SiteContext(site=name, cohort=c, study=study, seed=seed)
            ctx.dataset_id = datasets.get(name, "") if datasets else ""
            sites[name] = Site(ctx, SITE_HANDLERS, chain)
        transport = InMemoryTransport(sites, observer=observer)
        infos = [SiteInfo(site=name, n_train=c.n_train) for name, c in cohorts.items()]
        return cls(hub=Hub(transport, infos, recorder=recorder), sites=sites)

    def fit_preprocessing(self, study: StudySpec) -> Preprocessor:
        """Consortium preprocessing from per-site sufficient statistics, then broadcast it."""
        replies = self.hub.broadcast("stats", rnd=0)
        stats = [
            SiteFeatureStats.from_payload(r.arrays, {"levels": r.labels}) for r in replies.values()
        ]
        prep = fit_preprocessor(stats, study.cohort, study.preprocessing)
        self.install(prep)
        return prep

    def install(self, prep: Preprocessor) -> None:
        """Send an already-fitted preprocessor to every site (baselines reuse the consortium's).

        Sites holding slides extract their tile features here; the hub learns only the
        feature dimension.
        """
        replies = self.hub.broadcast("setup", rnd=0, document=json.dumps(prep.to_dict()))
        dims = {r.counts["feature_dim"] for r in replies.values() if "feature_dim" in r.counts}
        self.feature_dim = dims.pop() if len(dims) == 1 else None
        if self.feature_dim is not None:
            self.standardise_tiles()

    def standardise_tiles(self, stats: tuple[np.ndarray, np.ndarray] | None = None) -> None:
        """Consortium mean and sd of tile features from the sites' sums; sent back to them.

        ``stats`` (mean, sd) reuses the consortium's for a baseline sub-consortium.
        """
        if stats is None:
            replies = self.hub.broadcast("tile_stats", rnd=0)
            summed = sum_contributions((r.arrays, r.weight, r.counts) for r in replies.values())
            n = float(summed.arrays["n"][0])
            mean = summed.arrays["sum"] / n
            var = np.maximum(summed.arrays["sumsq"] / n - mean**2, 0.0) * n / max(n - 1.0, 1.0)
            stats = (mean, np.sqrt(var))
        self.tile_stats = stats
        self.hub.broadcast("tile_norm", rnd=0, arrays={"mean": stats[0], "std": stats[1]})

    def share_cache(self, folder: Path) -> None:
        """Simulation: all sites keep their tile features in one folder (keys are slide hashes)."""
        for site in self.sites.values():
            site.context.state["feature_cache"] = str(folder)

    def summed(
        self, kind: TaskKind, params: Arrays, config: Mapping[str, ConfigValue] | None = None
    ) -> tuple[dict[str, Reply], WeightedSum]:
        """Every site runs a ``kind`` task on ``params``; the hub gets the replies and the sum
        of their arrays — securely aggregated when the hub runs secure aggregation."""
        hub = self.hub
        tasks = [
            Task.build(
                task_id=new_id("task"),
                plan_id=hub.plan_id,
                round=0,
                site=s.site,
                kind=kind,
                config={**hub.task_config, **(config or {})},
                arrays=params,
            )
            for s in hub.sites
        ]
        if hub.secure is not None and len(tasks) >= 2:
            summed, replies = secure_round(hub, 0, tasks, hub.secure)
            return replies, summed
        replies = hub.exchange(0, tasks)
        return replies, sum_contributions((r.arrays, r.weight, r.counts) for r in replies.values())

    def evaluate(self, params: Arrays) -> tuple[dict[str, Reply], WeightedSum]:
        """Every site scores ``params`` on its test rows.

        Returns the replies (site-level metrics) and the sum of the sites' pair counts —
        securely aggregated when the hub runs secure aggregation, so that only the
        consortium totals are learnt.
        """
        return self.summed("evaluate", params)

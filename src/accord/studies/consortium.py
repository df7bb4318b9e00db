"""A simulated consortium: Site objects over an in-memory transport, driven by one Hub."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from accord.core.codec import Arrays
from accord.core.config import StudySpec
from accord.data import Cohort, Preprocessor, SiteCohort, SiteFeatureStats, fit_preprocessor
from accord.fl.handlers import SITE_HANDLERS
from accord.fl.hub import Hub
from accord.fl.messages import Reply
from accord.fl.recording import LedgerRecorder, PolicyCheck
from accord.fl.site import Middleware, Site, SiteContext, refuse_row_level_arrays
from accord.fl.strategies import SiteInfo
from accord.fl.transport import InMemoryTransport
from accord.ledger.entry import Signer

__all__ = ["Consortium", "Observer"]

Observer = Callable[[str, bytes], None]


@dataclass
class Consortium:
    """Sites holding their own rows, and a hub that only sees what they reply."""

    hub: Hub
    sites: dict[str, Site]

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
    ) -> Consortium:
        """Sites over an in-memory transport; with a recorder, every task is signed into
        the ledger by the hub (dispatch, aggregation) and by each site (``signers``), and
        each site checks its policy (``policies``) before touching its data."""
        sites = {}
        for name, c in cohorts.items():
            chain: list[Middleware] = [refuse_row_level_arrays]
            if recorder is not None and signers is not None:
                check = policies.get(name) if policies else None
                chain.insert(0, recorder.middleware(signers[name], check))
            ctx = SiteContext(site=name, cohort=c, study=study, seed=seed)
            ctx.dataset_id = datasets.get(name, "") if datasets else ""
            sites[name] = Site(ctx, SITE_HANDLERS, chain)
        transport = InMemoryTransport(sites, observer=observer)
        infos = [SiteInfo(site=name, n_train=c.n_train) for name, c in cohorts.items()]
        return cls(hub=Hub(transport, infos, recorder=recorder), sites=sites)

    @classmethod
    def from_cohort(
        cls,
        cohort: Cohort,
        study: StudySpec,
        seed: int,
        observer: Observer | None = None,
        recorder: LedgerRecorder | None = None,
        signers: Mapping[str, Signer] | None = None,
        policies: Mapping[str, PolicyCheck] | None = None,
        datasets: Mapping[str, str] | None = None,
    ) -> Consortium:
        return cls.simulate(
            cohort.sites, study, seed, observer, recorder, signers, policies, datasets
        )

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
        """Send an already-fitted preprocessor to every site (baselines reuse the consortium's)."""
        self.hub.broadcast("setup", rnd=0, document=json.dumps(prep.to_dict()))

    def evaluate(self, params: Arrays, sites: Sequence[str] | None = None) -> dict[str, Reply]:
        return self.hub.broadcast("evaluate", rnd=0, arrays=params, sites=sites)

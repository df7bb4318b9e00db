"""The hub's side of a consortium: a Hub over some transport, and the member sites' ids.

Everything here runs on what sites reply: preprocessing from their summed statistics,
tile standardisation from their sums, evaluation from their site-level metrics and summed
pair counts. It holds no row and no Site object; :mod:`accord.studies._simulation` builds
the in-process sites, :class:`accord.services.HubService` the sites behind HTTPS.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np

from accord.core import Arrays, StudySpec
from accord.data import Preprocessor, SiteFeatureStats, fit_preprocessor
from accord.fl import Hub, Plan, WeightedSum, sum_contributions
from accord.net import Reply
from accord.studies._view import ConsortiumView

__all__ = ["Consortium"]


@dataclass
class Consortium:
    """Member sites reached through ``hub``; ``tile_stats``: the consortium's tile mean/sd."""

    hub: Hub
    members: tuple[str, ...]
    tile_stats: tuple[np.ndarray, np.ndarray] | None = None

    def fit_preprocessing(
        self, plan: Plan, study: StudySpec
    ) -> tuple[Preprocessor, ConsortiumView]:
        """Consortium preprocessing from per-site sufficient statistics, then broadcast it.

        Returns the preprocessor and the view of what the sites reported (their sizes
        with their statistics, the tile-feature dimension after setting up).
        """
        replies = self.hub.broadcast(plan, "stats", 0)
        stats = [
            SiteFeatureStats.from_payload(r.arrays, {"levels": r.labels}) for r in replies.values()
        ]
        prep = fit_preprocessor(stats, study.cohort, study.preprocessing)
        view = ConsortiumView.of_members(self.members).with_reports(replies)
        return prep, view.with_feature_dim(self.install(plan, prep))

    def install(self, plan: Plan, prep: Preprocessor) -> int | None:
        """Send an already-fitted preprocessor to every site (baselines reuse the consortium's).

        Sites holding slides extract their tile features here; the hub learns only the
        feature dimension, which it returns (None without slides or if sites disagree).
        """
        replies = self.hub.broadcast(plan, "setup", 0, document=json.dumps(prep.to_dict()))
        dims = {r.counts["feature_dim"] for r in replies.values() if "feature_dim" in r.counts}
        feature_dim = dims.pop() if len(dims) == 1 else None
        if feature_dim is not None:
            self.standardise_tiles(plan)
        return feature_dim

    def standardise_tiles(
        self, plan: Plan, stats: tuple[np.ndarray, np.ndarray] | None = None
    ) -> None:
        """Consortium mean and sd of tile features from the sites' sums; sent back to them.

        ``stats`` (mean, sd) reuses the consortium's for a baseline sub-consortium.
        """
        if stats is None:
            replies = self.hub.broadcast(plan, "tile_stats", 0)
            summed = sum_contributions((r.arrays, r.weight, r.counts) for r in replies.values())
            n = float(summed.arrays["n"][0])
            mean = summed.arrays["sum"] / n
            var = np.maximum(summed.arrays["sumsq"] / n - mean**2, 0.0) * n / max(n - 1.0, 1.0)
            stats = (mean, np.sqrt(var))
        self.tile_stats = stats
        self.hub.broadcast(plan, "tile_norm", 0, arrays={"mean": stats[0], "std": stats[1]})

    def evaluate(self, plan: Plan, params: Arrays) -> tuple[dict[str, Reply], WeightedSum]:
        """Every site scores ``params`` on its test rows.

        Returns the replies (site-level metrics) and the sum of the sites' pair counts —
        securely aggregated when the plan runs secure aggregation, so that only the
        consortium totals are learnt.
        """
        return self.hub.summed(plan, "evaluate", 0, arrays=params)

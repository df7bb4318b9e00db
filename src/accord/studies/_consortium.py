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
from accord.data import Preprocessor, consortium_vocabulary, fit_preprocessor, pooled_means
from accord.fl import Hub, Plan, WeightedSum
from accord.net import Reply
from accord.studies._view import ConsortiumView

__all__ = ["PREPROCESSING_ROUNDS", "Consortium"]

# Each exchange of the preprocessing plan has its own round number, so no two secure
# sums of one plan share (plan, round).
PREPROCESSING_ROUNDS = {
    "schema": 0,
    "sums": 1,
    "spread": 2,
    "setup": 3,
    "tile_sums": 4,
    "tile_spread": 5,
    "tile_norm": 6,
}


@dataclass
class Consortium:
    """Member sites reached through ``hub``; ``tile_stats``: the consortium's tile mean/sd."""

    hub: Hub
    members: tuple[str, ...]
    tile_stats: tuple[np.ndarray, np.ndarray] | None = None

    def fit_preprocessing(
        self, plan: Plan, study: StudySpec
    ) -> tuple[Preprocessor, ConsortiumView]:
        """Consortium preprocessing from the sites' summed statistics, then broadcast it.

        Three exchanges (see :mod:`accord.data`): the sites' categorical levels in clear
        (a vocabulary, not a count of patients), their counts and sums over the consortium
        vocabulary with their sizes, their squared deviations about the consortium means —
        the last two summed securely when the plan says so, so that under secure
        aggregation the hub learns the consortium's total sizes and no site's.
        Returns the preprocessor and the view of what the sites reported (their sizes in
        clear or the summed totals, the tile-feature dimension after setting up).
        """
        spec = study.cohort
        schema = self.hub.broadcast(plan, "schema", PREPROCESSING_ROUNDS["schema"])
        vocabulary = consortium_vocabulary((r.labels for r in schema.values()), spec)
        answered, sums = self.hub.summed(
            plan,
            "stats",
            PREPROCESSING_ROUNDS["sums"],
            config={"stage": "sums"},
            document=json.dumps({k: list(v) for k, v in vocabulary.items()}),
        )
        means = pooled_means(sums.arrays, spec)
        _, spread = self.hub.summed(
            plan,
            "stats",
            PREPROCESSING_ROUNDS["spread"],
            config={"stage": "spread"},
            document=json.dumps(means),
        )
        prep = fit_preprocessor(sums.arrays, spread.arrays, vocabulary, spec, study.preprocessing)
        view = ConsortiumView.of_members(self.members).with_reports(answered, sums.counts)
        return prep, view.with_feature_dim(self.install(plan, prep))

    def install(self, plan: Plan, prep: Preprocessor) -> int | None:
        """Send an already-fitted preprocessor to every site (baselines reuse the consortium's).

        Sites holding slides extract their tile features here; the hub learns only the
        feature dimension, which it returns (None without slides or if sites disagree).
        """
        replies = self.hub.broadcast(
            plan, "setup", PREPROCESSING_ROUNDS["setup"], document=json.dumps(prep.to_dict())
        )
        dims = {r.counts["feature_dim"] for r in replies.values() if "feature_dim" in r.counts}
        feature_dim = dims.pop() if len(dims) == 1 else None
        if feature_dim is not None:
            self.standardise_tiles(plan)
        return feature_dim

    def standardise_tiles(
        self, plan: Plan, stats: tuple[np.ndarray, np.ndarray] | None = None
    ) -> None:
        """Consortium mean and sd of tile features from the sites' sums (count and sum, then
        squared deviations about the mean: two summed exchanges); sent back to them.

        ``stats`` (mean, sd) reuses the consortium's for a baseline sub-consortium.
        """
        if stats is None:
            _, first = self.hub.summed(plan, "tile_stats", PREPROCESSING_ROUNDS["tile_sums"])
            n = float(first.arrays["n"][0])
            mean = first.arrays["sum"] / n
            _, second = self.hub.summed(
                plan,
                "tile_stats",
                PREPROCESSING_ROUNDS["tile_spread"],
                arrays={"mean": mean},
                config={"stage": "spread"},
            )
            var = np.maximum(second.arrays["m2"], 0.0) / max(n - 1.0, 1.0)
            stats = (mean, np.sqrt(var))
        self.tile_stats = stats
        self.hub.broadcast(
            plan,
            "tile_norm",
            PREPROCESSING_ROUNDS["tile_norm"],
            arrays={"mean": stats[0], "std": stats[1]},
        )

    def evaluate(self, plan: Plan, params: Arrays) -> tuple[dict[str, Reply], WeightedSum]:
        """Every site scores ``params`` on its test rows.

        Returns the replies (site-level metrics) and the sum of the sites' pair counts —
        securely aggregated when the plan runs secure aggregation, so that only the
        consortium totals are learnt.
        """
        return self.hub.summed(plan, "evaluate", 0, arrays=params)

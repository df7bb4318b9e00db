"""Cyclic weight transfer (Chang et al., 2018): sites train one after another in a fixed order."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from accord.core import AggregationError, Arrays
from accord.fl._aggregation import WeightedSum, add_arrays
from accord.fl.strategies._base import GlobalState, Instruction, SiteInfo
from accord.fl.strategies._fedavg import FedAvg

__all__ = ["Cyclic"]


@dataclass
class Cyclic(FedAvg):
    """Round ``r`` sends the model to site ``r mod n`` (sites in id order); its update is kept."""

    name: str = "cyclic"
    needs_individual_updates: bool = True

    def configure_round(
        self, rnd: int, state: GlobalState, sites: Sequence[SiteInfo]
    ) -> list[Instruction]:
        ordered = sorted(sites, key=lambda s: s.site)
        site = ordered[rnd % len(ordered)]
        config = {**self.hyper.as_config(), "weighting": "uniform"}
        return [Instruction(site.site, "train", dict(state.params), config)]

    def aggregate(self, rnd: int, summed: WeightedSum, state: GlobalState) -> GlobalState:
        if summed.count != 1:
            raise AggregationError(f"cyclic round expects 1 contribution, got {summed.count}")
        update: Arrays = {k[len("delta.") :]: v for k, v in summed.arrays.items()}
        return replace(state, params=add_arrays(state.params, update))

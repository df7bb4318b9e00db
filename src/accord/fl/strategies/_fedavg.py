"""FedAvg (McMahan et al., 2017): the sample-weighted mean of local updates."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from accord.core import Arrays
from accord.fl._aggregation import WeightedSum, add_arrays, scale_arrays, weighted_mean
from accord.fl.strategies._base import (
    ConfigValue,
    GlobalState,
    Instruction,
    SiteInfo,
    TrainingHyperparameters,
)

__all__ = ["FedAvg", "average_update"]


def average_update(summed: WeightedSum) -> Arrays:
    """The weighted mean of the sites' ``delta.*`` arrays (local params minus global params)."""
    return weighted_mean(summed, "delta.")


@dataclass
class FedAvg:
    """Every site trains from the global model; the hub adds the weighted mean update.

    ``server_lr`` scales the mean update (1.0 is plain FedAvg).
    """

    hyper: TrainingHyperparameters = field(default_factory=TrainingHyperparameters)
    server_lr: float = 1.0
    name: str = "fedavg"
    needs_individual_updates: bool = False

    def initialize(self, params: Arrays) -> GlobalState:
        return GlobalState(params=dict(params))

    def site_config(self) -> dict[str, ConfigValue]:
        return {**self.hyper.as_config(), "weighting": "samples"}

    def configure_round(
        self, rnd: int, state: GlobalState, sites: Sequence[SiteInfo]
    ) -> list[Instruction]:
        config = self.site_config()
        return [Instruction(s.site, "train", dict(state.params), config) for s in sites]

    def aggregate(self, rnd: int, summed: WeightedSum, state: GlobalState) -> GlobalState:
        update = scale_arrays(average_update(summed), self.server_lr)
        return replace(state, params=add_arrays(state.params, update))

"""SCAFFOLD (Karimireddy et al., 2020), option II control variates.

The hub keeps the server control variate ``c``; each site keeps its own ``c_i`` between
rounds and corrects every local gradient step by ``c - c_i``. Sites return the sample-weighted
model update (``delta.*``) and their unweighted control-variate change (``control.*``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from accord.core import AggregationError, Arrays
from accord.fl._aggregation import WeightedSum, add_arrays, scale_arrays
from accord.fl.strategies._base import GlobalState, Instruction, SiteInfo
from accord.fl.strategies._fedavg import FedAvg, average_update

__all__ = ["Scaffold"]


@dataclass
class Scaffold(FedAvg):
    name: str = "scaffold"

    def initialize(self, params: Arrays) -> GlobalState:
        control = {f"control.{k}": np.zeros_like(v) for k, v in params.items()}
        return GlobalState(params=dict(params), extra=control)

    def configure_round(
        self, rnd: int, state: GlobalState, sites: Sequence[SiteInfo]
    ) -> list[Instruction]:
        arrays = {**state.params, **state.extra}
        config = {**self.site_config(), "scaffold": True}
        return [Instruction(s.site, "train", dict(arrays), config) for s in sites]

    def aggregate(self, rnd: int, summed: WeightedSum, state: GlobalState) -> GlobalState:
        if summed.count == 0:
            raise AggregationError("SCAFFOLD round with no contributing site")
        update = scale_arrays(average_update(summed), self.server_lr)
        control_delta = {
            k: v / summed.count for k, v in summed.arrays.items() if k.startswith("control.")
        }
        return replace(
            state,
            params=add_arrays(state.params, update),
            extra=add_arrays(state.extra, control_delta),
        )

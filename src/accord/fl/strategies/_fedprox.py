"""FedProx (Li et al., 2020): FedAvg whose sites add (mu/2)·||w - w_global||² to their loss."""

from __future__ import annotations

from dataclasses import dataclass

from accord.fl.strategies._base import ConfigValue
from accord.fl.strategies._fedavg import FedAvg

__all__ = ["FedProx"]


@dataclass
class FedProx(FedAvg):
    """FedAvg aggregation; the proximal term is applied by each site during local training."""

    mu: float = 0.01
    name: str = "fedprox"

    def site_config(self) -> dict[str, ConfigValue]:
        return {**super().site_config(), "prox_mu": self.mu}

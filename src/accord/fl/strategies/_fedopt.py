"""Adaptive federated optimisation (Reddi et al., 2021): FedAdam, FedYogi, FedAdagrad.

The mean site update is treated as a pseudo-gradient for a server-side optimiser whose
moments live in ``GlobalState.extra`` (``m.*``, ``v.*``).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, replace

import numpy as np

from accord.core import Arrays
from accord.fl._aggregation import WeightedSum
from accord.fl.strategies._base import GlobalState
from accord.fl.strategies._fedavg import FedAvg, average_update

__all__ = ["FedAdagrad", "FedAdam", "FedYogi"]


@dataclass
class _FedOpt(FedAvg, ABC):
    beta1: float = 0.9
    beta2: float = 0.99
    tau: float = 1e-3

    def initialize(self, params: Arrays) -> GlobalState:
        extra = {f"m.{k}": np.zeros_like(v, dtype=np.float64) for k, v in params.items()}
        extra |= {
            f"v.{k}": np.full_like(v, self.tau**2, dtype=np.float64) for k, v in params.items()
        }
        return GlobalState(params=dict(params), extra=extra)

    @abstractmethod
    def _second_moment(self, v: np.ndarray, delta: np.ndarray) -> np.ndarray:
        """The server optimiser's second-moment update (Adam, Yogi or Adagrad)."""

    def aggregate(self, rnd: int, summed: WeightedSum, state: GlobalState) -> GlobalState:
        delta = average_update(summed)
        params: Arrays = {}
        extra: Arrays = {}
        for name, x in state.params.items():
            m = self.beta1 * state.extra[f"m.{name}"] + (1 - self.beta1) * delta[name]
            v = self._second_moment(state.extra[f"v.{name}"], delta[name])
            params[name] = x + self.server_lr * m / (np.sqrt(v) + self.tau)
            extra[f"m.{name}"], extra[f"v.{name}"] = m, v
        return replace(state, params=params, extra=extra)


@dataclass
class FedAdam(_FedOpt):
    name: str = "fedadam"

    def _second_moment(self, v: np.ndarray, delta: np.ndarray) -> np.ndarray:
        out: np.ndarray = self.beta2 * v + (1 - self.beta2) * delta**2
        return out


@dataclass
class FedYogi(_FedOpt):
    name: str = "fedyogi"

    def _second_moment(self, v: np.ndarray, delta: np.ndarray) -> np.ndarray:
        d2 = delta**2
        out: np.ndarray = v - (1 - self.beta2) * d2 * np.sign(v - d2)
        return out


@dataclass
class FedAdagrad(_FedOpt):
    name: str = "fedadagrad"

    def _second_moment(self, v: np.ndarray, delta: np.ndarray) -> np.ndarray:
        out: np.ndarray = v + delta**2
        return out

"""The Strategy seam: pure logic over named arrays and counts (no torch, no data)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol

from accord.core import Arrays
from accord.fl._aggregation import WeightedSum

__all__ = [
    "ConfigValue",
    "GlobalState",
    "Instruction",
    "SiteInfo",
    "Strategy",
    "TrainingHyperparameters",
]

ConfigValue = int | float | str | bool


@dataclass(frozen=True)
class SiteInfo:
    """What the hub knows of a site: its id and its number of training rows."""

    site: str
    n_train: int


@dataclass(frozen=True)
class GlobalState:
    """The global model (``params``) and the strategy's server-side state (``extra``)."""

    params: Arrays
    extra: Arrays = field(default_factory=dict)
    converged: bool = False
    history: tuple[dict[str, float], ...] = ()


@dataclass(frozen=True)
class Instruction:
    """One task for one site: the arrays to send and the settings of the local job.

    ``weighting`` tells the site how to scale the update it returns: ``"samples"`` (multiply
    by its number of training rows, FedAvg), ``"uniform"`` (weight 1).
    """

    site: str
    kind: Literal["train", "newton"]
    arrays: Arrays
    config: dict[str, ConfigValue]


@dataclass(frozen=True)
class TrainingHyperparameters:
    """Local-training settings a strategy forwards to sites."""

    local_steps: int = 100
    batch_size: int = 8
    lr: float = 0.1
    optimizer: str = "sgd"
    l2: float = 0.0

    def as_config(self) -> dict[str, ConfigValue]:
        return {
            "local_steps": self.local_steps,
            "batch_size": self.batch_size,
            "lr": self.lr,
            "optimizer": self.optimizer,
            "l2": self.l2,
        }


class Strategy(Protocol):
    """A federated strategy: which sites do what each round, and how sums become a model.

    Strategies that need individual updates (median, Krum) are not supported: every
    strategy here consumes a :class:`WeightedSum`, so secure aggregation always applies.
    """

    name: str
    # True for strategies that must see each site's own update (Cyclic keeps one site's
    # model; median or Krum would compare updates): secure aggregation refuses them.
    needs_individual_updates: bool

    def initialize(self, params: Arrays) -> GlobalState: ...

    def configure_round(
        self, rnd: int, state: GlobalState, sites: Sequence[SiteInfo]
    ) -> list[Instruction]: ...

    def aggregate(self, rnd: int, summed: WeightedSum, state: GlobalState) -> GlobalState: ...

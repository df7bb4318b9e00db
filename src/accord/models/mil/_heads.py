"""Survival heads on a slide's log-risk: Cox (the risk itself) and discrete time.

The discrete-time head is a proportional-odds model on K intervals: the hazard logit of
interval k is ``α_k + risk``, with learned baselines ``α``. It sits on top of the scalar
risk of any aggregator here, so the aggregators stay unchanged and the risk keeps ranking
patients (a higher risk raises every interval's hazard), which is what the C-index needs.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn import functional

from accord.core import ConfigError, DataError
from accord.models.mil._base import TileScorer

__all__ = ["DiscreteTimeHead", "DiscreteTimeMIL", "risk_from_output"]


class DiscreteTimeHead(nn.Module):
    """(B,) log-risk -> (B, K) hazard logits ``α_k + risk``; ``α`` starts at 0 (hazard 1/2)."""

    def __init__(self, n_intervals: int) -> None:
        super().__init__()
        if n_intervals < 1:
            raise ConfigError(f"n_intervals is {n_intervals}; expected >= 1")
        self.baseline = nn.Parameter(torch.zeros(n_intervals))

    def forward(self, risk: Tensor) -> Tensor:
        return risk.unsqueeze(-1) + self.baseline


class DiscreteTimeMIL(nn.Module):
    """A MIL model with a discrete-time head: padded bags -> (B, K) hazard logits."""

    def __init__(self, mil: nn.Module, n_intervals: int) -> None:
        super().__init__()
        self.mil = mil
        self.head = DiscreteTimeHead(n_intervals)

    def forward(self, features: Tensor, mask: Tensor, clinical: Tensor | None = None) -> Tensor:
        logits: Tensor = self.head(self.mil(features, mask, clinical))
        return logits

    def tile_scores(self, features: Tensor, mask: Tensor) -> Tensor:
        """The MIL part's tile scores."""
        if not isinstance(self.mil, TileScorer):
            raise ConfigError(f"{type(self.mil).__name__} has no tile scores")
        return self.mil.tile_scores(features, mask)


def risk_from_output(output: Tensor) -> Tensor:
    """One risk per slide: a (B,) log-risk as is; (B, K) hazard logits -> cumulative hazard.

    The cumulative hazard ``Σ_k -log(1 - h_k) = Σ_k softplus(logit_k)`` over all intervals
    is higher for patients expected to fail sooner.
    """
    if output.ndim == 1:
        return output
    if output.ndim == 2:
        return functional.softplus(output).sum(dim=1)
    raise DataError(f"model output has {output.ndim} dimensions; expected 1 (risk) or 2 (logits)")

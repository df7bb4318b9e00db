"""The small protocol every MIL survival model here satisfies.

A model is an ``nn.Module`` called as ``model(features, mask, clinical)`` with padded bags
``features: (B, N, D)`` float32, ``mask: (B, N)`` bool (True = real tile) and optional
``clinical: (B, C)`` float32. It returns ``(B,)`` log-risks (higher = shorter survival),
or ``(B, K)`` discrete hazard logits behind a :class:`~accord.models.mil._heads.DiscreteTimeMIL`.
Models that can explain themselves tile by tile also satisfy :class:`TileScorer`.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from torch import Tensor

__all__ = ["MILModel", "TileScorer"]


class MILModel(Protocol):
    """Padded bags (and clinical covariates, where the model takes them) -> slide outputs."""

    def __call__(
        self, features: Tensor, mask: Tensor, clinical: Tensor | None = None
    ) -> Tensor: ...


@runtime_checkable
class TileScorer(Protocol):
    """Per-tile scores ``(B, N)`` for interpretation, 0 at padded positions."""

    def tile_scores(self, features: Tensor, mask: Tensor) -> Tensor: ...

"""Clinical covariates next to the slides: late fusion, a clinical-only baseline, ensembles.

:class:`LateFusion` adds a linear clinical term to a MIL model's log-risk,
``risk = mil(features, mask) + β · clinical``: the Cox model with the slide risk as one
more covariate, so β keeps its usual log hazard ratio reading (given the slide). β starts
at zero, so a fresh fusion model ranks patients as its MIL part does.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from accord.core import ConfigError, DataError
from accord.models.mil._base import TileScorer

__all__ = ["ClinicalOnly", "Ensemble", "LateFusion"]


def _linear_clinical(n_clinical: int) -> nn.Linear:
    if n_clinical < 1:
        raise ConfigError(f"n_clinical is {n_clinical}; expected >= 1")
    linear = nn.Linear(n_clinical, 1, bias=False)  # the Cox baseline absorbs an intercept
    nn.init.zeros_(linear.weight)
    return linear


def _check_clinical(clinical: Tensor | None, batch: int, n_clinical: int) -> Tensor:
    if clinical is None:
        raise DataError("clinical covariates are missing; this model needs (B, C) clinical")
    if tuple(clinical.shape) != (batch, n_clinical):
        raise DataError(
            f"clinical has shape {tuple(clinical.shape)}; expected ({batch}, {n_clinical})"
        )
    return clinical


class LateFusion(nn.Module):
    """risk = mil(features, mask) + β · clinical, for any MIL aggregator here."""

    def __init__(self, mil: nn.Module, n_clinical: int) -> None:
        super().__init__()
        self.mil = mil
        self.n_clinical = n_clinical
        self.clinical = _linear_clinical(n_clinical)

    def forward(self, features: Tensor, mask: Tensor, clinical: Tensor | None = None) -> Tensor:
        covariates = _check_clinical(clinical, features.shape[0], self.n_clinical)
        slide: Tensor = self.mil(features, mask)
        linear: Tensor = self.clinical(covariates).squeeze(-1)
        return slide + linear

    def tile_scores(self, features: Tensor, mask: Tensor) -> Tensor:
        """The MIL part's tile scores (the clinical term does not vary across tiles)."""
        if not isinstance(self.mil, TileScorer):
            raise ConfigError(f"{type(self.mil).__name__} has no tile scores")
        return self.mil.tile_scores(features, mask)


class ClinicalOnly(nn.Module):
    """Linear Cox on clinical covariates, risk = β · clinical; the slides are ignored.

    The clinical-only baseline, called like the MIL models so one loop trains and scores both.
    """

    def __init__(self, n_clinical: int) -> None:
        super().__init__()
        self.n_clinical = n_clinical
        self.clinical = _linear_clinical(n_clinical)

    def forward(self, features: Tensor, mask: Tensor, clinical: Tensor | None = None) -> Tensor:
        covariates = _check_clinical(clinical, features.shape[0], self.n_clinical)
        risk: Tensor = self.clinical(covariates).squeeze(-1)
        return risk


class Ensemble(nn.Module):
    """The mean of its members' outputs; for evaluation of separately trained models.

    Training an ensemble would fit the members jointly to the averaged risk, which is not
    what an ensemble of independently trained models means: train the members, then wrap.
    """

    def __init__(self, models: Sequence[nn.Module]) -> None:
        super().__init__()
        if not models:
            raise ConfigError("an ensemble needs at least one model")
        self.members = nn.ModuleList(models)

    def forward(self, features: Tensor, mask: Tensor, clinical: Tensor | None = None) -> Tensor:
        outputs = [member(features, mask, clinical) for member in self.members]
        return torch.stack(outputs).mean(dim=0)

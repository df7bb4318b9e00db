"""Config text -> MIL model: the explicit table of aggregators."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from accord.core import ConfigError
from accord.models.mil._attention import GatedAttentionMIL
from accord.models.mil._chowder import Chowder
from accord.models.mil._fusion import LateFusion
from accord.models.mil._pooling import MeanPoolMIL

__all__ = ["MIL_MODELS", "build_mil"]

MIL_MODELS: dict[str, type[nn.Module]] = {
    "chowder": Chowder,
    "abmil": GatedAttentionMIL,
    "meanpool": MeanPoolMIL,
}


def build_mil(kind: str, dim: int, n_clinical: int = 0, seed: int = 0, **kw: Any) -> nn.Module:
    """The aggregator ``kind`` on D=``dim`` tile features, parameters initialised from ``seed``.

    ``kw`` goes to the aggregator's constructor; with ``n_clinical > 0`` the aggregator is
    wrapped in :class:`LateFusion`. The caller's torch random state is left as it was.
    """
    if kind not in MIL_MODELS:
        raise ConfigError(f"MIL model kind is {kind!r}; expected one of {sorted(MIL_MODELS)}")
    try:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            model = MIL_MODELS[kind](dim, **kw)
    except TypeError as err:
        raise ConfigError(f"MIL model {kind!r} rejects its options: {err}") from None
    return LateFusion(model, n_clinical) if n_clinical > 0 else model

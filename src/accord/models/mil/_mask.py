"""Masked operations over padded bags of tiles, shared by the MIL aggregators.

A padded bag batch is ``features: (B, N, D)`` with ``mask: (B, N)`` bool, True for a real
tile. Padding must never change an output, so every aggregator first zeroes the padded
features (they may hold garbage, even NaN) and then only ever reduces over real tiles.
"""

from __future__ import annotations

import torch
from torch import Tensor

from accord.core import ConfigError, DataError


def clean_bags(features: Tensor, mask: Tensor) -> Tensor:
    """Check shapes and that every bag has a real tile; return features with padding zeroed."""
    if features.ndim != 3:
        raise DataError(f"features have {features.ndim} dimensions; expected 3 (B, N, D)")
    if mask.shape != features.shape[:2] or mask.dtype != torch.bool:
        raise DataError(
            f"mask has shape {tuple(mask.shape)} and dtype {mask.dtype}; "
            f"expected {tuple(features.shape[:2])} bool"
        )
    if not bool(mask.any(dim=1).all()):
        raise DataError("a bag has no real tile (its mask row is all False); expected >= 1")
    return features.masked_fill(~mask.unsqueeze(-1), 0.0)


def reject_clinical(clinical: Tensor | None, name: str) -> None:
    """Plain aggregators take no clinical covariates: wrapping in LateFusion adds them."""
    if clinical is not None:
        raise ConfigError(f"{name} takes no clinical covariates; wrap it in LateFusion")


def masked_mean(values: Tensor, mask: Tensor) -> Tensor:
    """Mean over real tiles: values (B, N, D) already zero under the mask -> (B, D)."""
    count = mask.sum(dim=1, keepdim=True).to(values.dtype)
    return values.sum(dim=1) / count


def masked_softmax(logits: Tensor, mask: Tensor) -> Tensor:
    """Softmax over real tiles of each row: (B, N) -> (B, N), exactly 0 under the mask."""
    filled = logits.masked_fill(~mask, float("-inf"))
    return torch.softmax(filled, dim=1).masked_fill(~mask, 0.0)


def zero_padding(scores: Tensor, mask: Tensor) -> Tensor:
    """Per-tile scores (B, N) with padded positions set to 0."""
    return scores.masked_fill(~mask, 0.0)

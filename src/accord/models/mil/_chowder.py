"""CHOWDER (Courtiol et al. 2018): extreme tile scores of a slide fed to an MLP.

Each tile gets a score from one linear map (the paper's 1×1 convolution); the slide keeps
its ``n_extreme`` highest and ``n_extreme`` lowest scores among real tiles, and a small
MLP turns those 2R sorted values into the slide's log-risk.

Small bags: with ``n`` real tiles and ``n < R`` the sorted lists are too short. The top
list (descending) is then padded by repeating its last value, the bag's minimum score,
and the bottom list (ascending) by repeating the bag's maximum: each list stays sorted and
holds only scores the bag really has, and a one-tile bag gives 2R copies of its score.
When ``R <= n < 2R`` the two lists overlap, as in the paper.

The sign of a tile score is not identifiable: the MLP can invert it. High scores mark the
tiles that drive the prediction, in whichever direction the MLP learned.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from accord.core import ConfigError
from accord.models.mil._mask import clean_bags, reject_clinical, zero_padding

__all__ = ["Chowder", "extreme_scores"]


def extreme_scores(scores: Tensor, mask: Tensor, n_extreme: int) -> Tensor:
    """(B, N) tile scores -> (B, 2R): top R descending, then bottom R ascending.

    Only real tiles are ranked; short bags repeat their last sorted value (see module doc).
    """
    width = min(n_extreme, scores.shape[1])
    count = mask.sum(dim=1, keepdim=True)
    slot = torch.arange(n_extreme, device=scores.device).unsqueeze(0)
    index = torch.minimum(slot, count - 1)  # repeats the last real value past the bag's end
    top = torch.topk(scores.masked_fill(~mask, float("-inf")), width, dim=1).values
    bottom = -torch.topk((-scores).masked_fill(~mask, float("-inf")), width, dim=1).values
    return torch.cat([top.gather(1, index), bottom.gather(1, index)], dim=1)


def _mlp(n_inputs: int, hidden: tuple[int, ...], dropout: float) -> nn.Sequential:
    layers: list[nn.Module] = []
    width = n_inputs
    for size in hidden:
        layers += [nn.Linear(width, size), nn.Sigmoid(), nn.Dropout(dropout)]
        width = size
    layers.append(nn.Linear(width, 1, bias=False))  # the Cox baseline absorbs an intercept
    return nn.Sequential(*layers)


class Chowder(nn.Module):
    """CHOWDER aggregator: (B, N, D) tiles + (B, N) mask -> (B,) log-risk.

    Args:
        dim: tile feature size D.
        n_extreme: R, how many highest and lowest tile scores the MLP sees.
        hidden: MLP widths (sigmoid activations, as in the paper).
        dropout: dropout on the tile features and after each hidden layer.
    """

    def __init__(
        self,
        dim: int,
        n_extreme: int = 5,
        hidden: tuple[int, ...] = (128, 64),
        dropout: float = 0.1,
    ) -> None:
        super().__init__()
        if n_extreme < 1:
            raise ConfigError(f"n_extreme is {n_extreme}; expected >= 1")
        self.n_extreme = n_extreme
        self.dropout = nn.Dropout(dropout)
        self.score = nn.Linear(dim, 1)
        self.mlp = _mlp(2 * n_extreme, hidden, dropout)

    def tile_scores(self, features: Tensor, mask: Tensor) -> Tensor:
        """The per-tile scores (B, N); 0 at padded positions."""
        clean = clean_bags(features, mask)
        scores: Tensor = self.score(self.dropout(clean)).squeeze(-1)
        return zero_padding(scores, mask)

    def forward(self, features: Tensor, mask: Tensor, clinical: Tensor | None = None) -> Tensor:
        reject_clinical(clinical, "Chowder")
        extremes = extreme_scores(self.tile_scores(features, mask), mask, self.n_extreme)
        risk: Tensor = self.mlp(extremes).squeeze(-1)
        return risk

"""Mean pooling baseline: the masked mean of a bag's tile features, then an MLP."""

from __future__ import annotations

from torch import Tensor, nn

from accord.models.mil._mask import clean_bags, masked_mean, reject_clinical, zero_padding

__all__ = ["MeanPoolMIL"]


class MeanPoolMIL(nn.Module):
    """(B, N, D) tiles + (B, N) mask -> (B,) log-risk = MLP(mean of real tiles).

    Per-tile scores apply the same MLP to each tile alone: the risk the slide would get if
    it were made of that tile only.
    """

    def __init__(self, dim: int, hidden: int = 64, dropout: float = 0.0) -> None:
        super().__init__()
        self.mlp = nn.Sequential(
            nn.Linear(dim, hidden),
            nn.ReLU(),
            nn.Dropout(dropout),
            nn.Linear(hidden, 1, bias=False),  # the Cox baseline absorbs an intercept
        )

    def tile_scores(self, features: Tensor, mask: Tensor) -> Tensor:
        """Per-tile risks (B, N); 0 at padded positions."""
        scores: Tensor = self.mlp(clean_bags(features, mask)).squeeze(-1)
        return zero_padding(scores, mask)

    def forward(self, features: Tensor, mask: Tensor, clinical: Tensor | None = None) -> Tensor:
        reject_clinical(clinical, "MeanPoolMIL")
        risk: Tensor = self.mlp(masked_mean(clean_bags(features, mask), mask)).squeeze(-1)
        return risk

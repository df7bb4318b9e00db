"""Gated attention MIL (Ilse, Tomczak & Welling 2018), with a Cox risk output.

Tiles are embedded, ``h_i = ReLU(W x_i)``; the gated attention logit of a tile is
``w · (tanh(V h_i) ⊙ sigmoid(U h_i))``; a softmax over the bag's real tiles gives the
weights ``a_i``; the slide embedding ``z = Σ a_i h_i`` maps linearly to the log-risk.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from accord.models.mil._mask import clean_bags, masked_softmax, reject_clinical

__all__ = ["GatedAttentionMIL"]


class GatedAttentionMIL(nn.Module):
    """ABMIL aggregator: (B, N, D) tiles + (B, N) mask -> (B,) log-risk.

    Args:
        dim: tile feature size D.
        hidden: width of the tile embedding and of the attention branches.
        dropout: dropout on the tile embedding.
    """

    def __init__(self, dim: int, hidden: int = 128, dropout: float = 0.1) -> None:
        super().__init__()
        self.embed = nn.Sequential(nn.Linear(dim, hidden), nn.ReLU(), nn.Dropout(dropout))
        self.attention_tanh = nn.Linear(hidden, hidden)
        self.attention_gate = nn.Linear(hidden, hidden)
        self.attention_out = nn.Linear(hidden, 1)
        self.risk = nn.Linear(hidden, 1, bias=False)  # the Cox baseline absorbs an intercept

    def _embed_and_attend(self, features: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
        h: Tensor = self.embed(clean_bags(features, mask))
        gated = torch.tanh(self.attention_tanh(h)) * torch.sigmoid(self.attention_gate(h))
        logits: Tensor = self.attention_out(gated).squeeze(-1)
        return h, masked_softmax(logits, mask)

    def attention(self, features: Tensor, mask: Tensor) -> Tensor:
        """Attention weights (B, N): 0 at padded positions, each row sums to 1."""
        return self._embed_and_attend(features, mask)[1]

    def tile_scores(self, features: Tensor, mask: Tensor) -> Tensor:
        """Per-tile scores for interpretation: the attention weights."""
        return self.attention(features, mask)

    def forward(self, features: Tensor, mask: Tensor, clinical: Tensor | None = None) -> Tensor:
        reject_clinical(clinical, "GatedAttentionMIL")
        h, weights = self._embed_and_attend(features, mask)
        pooled = torch.einsum("bn,bnh->bh", weights, h)
        risk: Tensor = self.risk(pooled).squeeze(-1)
        return risk

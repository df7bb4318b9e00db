"""Cox risk models: a linear predictor and a small MLP. Output: one log-risk per row."""

from __future__ import annotations

import torch
from torch import nn

from accord.core import ModelSpec

__all__ = ["LinearCox", "MLPCox", "build_model"]


class LinearCox(nn.Module):
    """risk = x · β (no intercept: the Cox baseline hazard absorbs it). Input (n, p) -> (n,)."""

    def __init__(self, n_features: int) -> None:
        super().__init__()
        self.linear = nn.Linear(n_features, 1, bias=False, dtype=torch.float64)
        nn.init.zeros_(self.linear.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.linear(x).squeeze(-1)
        return out


class MLPCox(nn.Module):
    """risk = MLP(x): hidden ReLU layers with dropout, then a bias-free linear output."""

    def __init__(self, n_features: int, hidden: tuple[int, ...], dropout: float = 0.0) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        width = n_features
        for size in hidden:
            layers += [nn.Linear(width, size, dtype=torch.float64), nn.ReLU(), nn.Dropout(dropout)]
            width = size
        self.body = nn.Sequential(*layers)
        self.head = nn.Linear(width, 1, bias=False, dtype=torch.float64)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.head(self.body(x)).squeeze(-1)
        return out


def build_model(spec: ModelSpec, n_features: int, seed: int) -> nn.Module:
    """The model a study asks for, with parameters initialised from ``seed``."""
    generator_state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    try:
        if spec.kind == "linear_cox":
            return LinearCox(n_features)
        return MLPCox(n_features, spec.hidden, spec.dropout)
    finally:
        torch.random.set_rng_state(generator_state)

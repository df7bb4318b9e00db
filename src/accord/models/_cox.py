"""Survival risk models: a linear predictor and a small MLP. Output: one log-risk per row.

With the study's ``model.loss = "logistic_hazard"`` each model also carries ``hazard``, the
per-interval baseline logits of the discrete-time survival model: an ``nn.Linear(1, K)``
whose weight is frozen at zero, so that its trainable bias is an ordinary Opacus layer (one
per-sample gradient per row) and crosses the seam as ``hazard.weight`` / ``hazard.bias``
beside the risk score's parameters (``linear.weight``, ``body.*``, ``head.weight``).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from accord.core import ConfigError, ModelSpec

__all__ = ["LinearCox", "MLPCox", "build_model"]

_PRIOR_HAZARD_PER_YEAR = 0.1
"""The constant yearly hazard the baseline logits start from (no data: a typical order of
magnitude for clinical cohorts; training moves them)."""


def _baseline(time_bins_days: tuple[float, ...]) -> nn.Linear:
    """Interval logits ``logit(1 - exp(-λ·width_k))`` of a constant hazard λ, as a bias."""
    hazard = nn.Linear(1, len(time_bins_days), bias=True, dtype=torch.float64)
    starts = (0.0, *time_bins_days[:-1])
    rate = _PRIOR_HAZARD_PER_YEAR / 365.25
    logits = []
    for start, end in zip(starts, time_bins_days, strict=True):
        h = -math.expm1(-rate * (end - start))
        logits.append(math.log(h / (1.0 - h)))
    with torch.no_grad():
        hazard.weight.zero_()
        hazard.bias.copy_(torch.tensor(logits, dtype=torch.float64))
    hazard.weight.requires_grad_(False)
    return hazard


class _SurvivalModel(nn.Module):
    """The risk score, and optionally the interval logits of the logistic-hazard loss."""

    hazard: nn.Linear | None
    time_bins_days: tuple[float, ...] | None

    def _add_baseline(self, time_bins_days: tuple[float, ...] | None) -> None:
        self.time_bins_days = time_bins_days
        self.hazard = None if time_bins_days is None else _baseline(time_bins_days)

    def interval_logits(self, x: torch.Tensor) -> torch.Tensor:
        """(n, p) -> (n, K): baseline logit of each interval plus the row's risk score."""
        if self.hazard is None:
            raise ConfigError(
                "model has no interval baseline; expected one built with model.loss = "
                "'logistic_hazard'"
            )
        baseline: torch.Tensor = self.hazard(x.new_ones(x.shape[0], 1))
        risk: torch.Tensor = self(x)
        return baseline + risk[:, None]


class LinearCox(_SurvivalModel):
    """risk = x · β (no intercept: the baseline absorbs it). Input (n, p) -> (n,)."""

    def __init__(self, n_features: int, time_bins_days: tuple[float, ...] | None = None) -> None:
        super().__init__()
        self.linear = nn.Linear(n_features, 1, bias=False, dtype=torch.float64)
        nn.init.zeros_(self.linear.weight)
        self._add_baseline(time_bins_days)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.linear(x).squeeze(-1)
        return out


class MLPCox(_SurvivalModel):
    """risk = MLP(x): hidden ReLU layers with dropout, then a bias-free linear output."""

    def __init__(
        self,
        n_features: int,
        hidden: tuple[int, ...],
        dropout: float = 0.0,
        time_bins_days: tuple[float, ...] | None = None,
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        width = n_features
        for size in hidden:
            layers += [nn.Linear(width, size, dtype=torch.float64), nn.ReLU(), nn.Dropout(dropout)]
            width = size
        self.body = nn.Sequential(*layers)
        self.head = nn.Linear(width, 1, bias=False, dtype=torch.float64)
        self._add_baseline(time_bins_days)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.head(self.body(x)).squeeze(-1)
        return out


def build_model(spec: ModelSpec, n_features: int, seed: int) -> LinearCox | MLPCox:
    """The model a study asks for, with parameters initialised from ``seed``.

    ``forward(x)`` is the (n,) risk score whatever the loss; with ``spec.loss =
    "logistic_hazard"`` the model also has the ``hazard`` baseline over
    ``spec.time_bins_days`` and :meth:`interval_logits` (deterministic, data-free start).
    """
    bins = spec.time_bins_days if spec.loss == "logistic_hazard" else None
    generator_state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    try:
        if spec.kind == "linear_cox":
            return LinearCox(n_features, bins)
        return MLPCox(n_features, spec.hidden, spec.dropout, bins)
    finally:
        torch.random.set_rng_state(generator_state)

"""NT-Xent, the normalised temperature-scaled cross entropy of SimCLR (Chen et al. 2020)."""

from __future__ import annotations

import torch
from torch.nn import functional

from accord.core import ConfigError

__all__ = ["nt_xent_loss"]


def nt_xent_loss(z1: torch.Tensor, z2: torch.Tensor, temperature: float = 0.2) -> torch.Tensor:
    """Mean NT-Xent loss over the 2N views; ``z1[i]`` and ``z2[i]`` are two views of item i.

    ``z1`` and ``z2`` are (N, d) projections. Each of the 2N rows is L2-normalised; for
    view k with positive p(k), ``l_k = -log(exp(s_kp / t) / sum_{j != k} exp(s_kj / t))``
    with s the cosine similarity and t the ``temperature``. Returns a scalar tensor.
    """
    if z1.ndim != 2 or z1.shape != z2.shape or len(z1) < 1:
        raise ValueError(
            f"nt_xent_loss: z1 {tuple(z1.shape)} and z2 {tuple(z2.shape)} must both be (N, d)"
        )
    if not temperature > 0:
        raise ConfigError(f"nt_xent_loss: temperature must be > 0, got {temperature}")
    n = len(z1)
    z = functional.normalize(torch.cat([z1, z2]), dim=1)
    logits = (z @ z.T) / temperature
    self_mask = torch.eye(2 * n, dtype=torch.bool, device=z.device)
    logits = logits.masked_fill(self_mask, float("-inf"))
    positives = torch.cat([torch.arange(n, 2 * n), torch.arange(0, n)]).to(z.device)
    return functional.cross_entropy(logits, positives)

"""A small convolutional tile encoder and the SimCLR model built around it.

Every learnable quantity is a plain ``nn.Parameter`` and normalisation is ``GroupNorm``
(no running statistics, no buffers), so the whole model crosses the federated seam as
named arrays (:func:`accord.models._params.get_arrays`) and FedAvg of two copies is
again a valid model.
"""

from __future__ import annotations

import itertools
import math

import torch
from torch import nn

from accord.core import ConfigError

__all__ = ["ProjectionHead", "SimCLRModel", "TileEncoder", "build_simclr"]


def _conv_block(c_in: int, c_out: int) -> nn.Sequential:
    """3x3 convolution with stride 2 (halves height and width), GroupNorm, ReLU."""
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, kernel_size=3, stride=2, padding=1, bias=False),
        nn.GroupNorm(math.gcd(8, c_out), c_out),
        nn.ReLU(inplace=True),
    )


class TileEncoder(nn.Module):
    """Tiles (n, 3, S, S) float32, normalised with ``augment.MEAN/STD`` -> (n, dim) float32.

    Four stride-2 blocks with ``width``, 2·``width``, 4·``width``, 4·``width`` channels
    (any S >= 16 works; the receptive field grows with depth, not with S), global average
    pooling and a linear map to the ``dim``-dimensional representation.
    """

    def __init__(self, dim: int = 128, width: int = 32) -> None:
        super().__init__()
        if dim < 1 or width < 1:
            raise ConfigError(f"TileEncoder: dim and width must be >= 1, got {dim} and {width}")
        self.dim = dim
        channels = [3, width, 2 * width, 4 * width, 4 * width]
        self.features = nn.Sequential(
            *(_conv_block(c_in, c_out) for c_in, c_out in itertools.pairwise(channels))
        )
        self.fc = nn.Linear(channels[-1], dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.features(x)
        return self.fc(h.mean(dim=(2, 3)))  # type: ignore[no-any-return]


class ProjectionHead(nn.Module):
    """SimCLR's MLP g(·): (n, in_dim) -> (n, out_dim); used for the loss, dropped on export."""

    def __init__(self, in_dim: int = 128, hidden_dim: int = 128, out_dim: int = 64) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(in_dim, hidden_dim),
            nn.LayerNorm(hidden_dim),
            nn.ReLU(inplace=True),
            nn.Linear(hidden_dim, out_dim),
        )

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return self.net(h)  # type: ignore[no-any-return]


class SimCLRModel(nn.Module):
    """Encoder f(·) followed by projection head g(·); ``forward`` returns z = g(f(x))."""

    def __init__(self, encoder: TileEncoder, head: ProjectionHead) -> None:
        super().__init__()
        self.encoder = encoder
        self.head = head

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.encoder(x))  # type: ignore[no-any-return]


def build_simclr(dim: int = 128, width: int = 32, seed: int = 0) -> SimCLRModel:
    """A freshly initialised SimCLR model; same ``seed`` -> same weights (global RNG untouched)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        encoder = TileEncoder(dim=dim, width=width)
        head = ProjectionHead(in_dim=dim, hidden_dim=dim, out_dim=64)
    return SimCLRModel(encoder, head)

"""Module parameters <-> named numpy arrays: how models cross the seam (never pickles)."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch
from torch import nn

from accord.core import AggregationError, Arrays

__all__ = ["get_arrays", "set_arrays"]


def get_arrays(module: nn.Module) -> Arrays:
    """Every parameter as a float64 numpy copy, keyed by its dotted name."""
    return {
        name: p.detach().cpu().numpy().astype(np.float64, copy=True)
        for name, p in module.named_parameters()
    }


def set_arrays(module: nn.Module, arrays: Mapping[str, np.ndarray]) -> None:
    """Load named arrays into ``module``; names and shapes must match exactly."""
    params = dict(module.named_parameters())
    if set(params) != set(arrays):
        diff = sorted(set(params) ^ set(arrays))
        raise AggregationError(f"model parameters and received arrays differ: {diff}")
    with torch.no_grad():
        for name, p in params.items():
            value = torch.as_tensor(np.asarray(arrays[name]), dtype=p.dtype)
            if value.shape != p.shape:
                raise AggregationError(
                    f"parameter '{name}' has shape {tuple(p.shape)}, received {tuple(value.shape)}"
                )
            p.copy_(value)

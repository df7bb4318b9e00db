"""Survival losses on slide outputs: Cox partial likelihood and discrete-time likelihood.

A loss is called as ``loss(output, time, event)``; :class:`CoxLoss` takes (B,) log-risks and
:class:`DiscreteTimeLoss` takes (B, K) hazard logits over the intervals of its ``edges``.

Discrete-time likelihood, with hazard ``h_k = sigmoid(logit_k)`` and ``k`` the interval
holding a patient's time: an event contributes ``log h_k + Σ_{j<k} log(1 - h_j)``, a
censoring ``Σ_{j<k} log(1 - h_j)`` (the patient is known to have survived the intervals
before ``k``; nothing is assumed about the interval in which they were censored).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Protocol

import numpy as np
import numpy.typing as npt
import torch
from torch import Tensor
from torch.nn import functional

from accord.core import ConfigError, DataError
from accord.survival.losses import cox_partial_likelihood_loss

__all__ = [
    "CoxLoss",
    "DiscreteTimeLoss",
    "SurvivalLoss",
    "discrete_time_nll",
    "interval_edges",
    "interval_index",
]


class SurvivalLoss(Protocol):
    """A scalar loss of model outputs given (B,) times in days and (B,) event indicators."""

    def __call__(self, output: Tensor, time: Tensor, event: Tensor) -> Tensor: ...


@dataclass(frozen=True)
class CoxLoss:
    """Mean negative Cox partial log-likelihood of (B,) log-risks within the batch.

    A batch without events gives a zero that is still connected to the risks.
    """

    ties: Literal["breslow", "efron"] = "efron"

    def __call__(self, output: Tensor, time: Tensor, event: Tensor) -> Tensor:
        return cox_partial_likelihood_loss(output, time, event, ties=self.ties)


def interval_edges(times: npt.ArrayLike, events: npt.ArrayLike, n: int) -> np.ndarray:
    """(n + 1,) interval edges ``[0, q_1, ..., q_{n-1}, inf]``, q_k the k/n quantile of event times.

    Tied event times can give equal edges, hence empty intervals; those are harmless.
    """
    t = np.asarray(times, dtype=np.float64)
    e = np.asarray(events, dtype=bool)
    if n < 1:
        raise ConfigError(f"n is {n}; expected >= 1 interval")
    if t.shape != e.shape or t.ndim != 1:
        raise DataError(f"times {t.shape} and events {e.shape} must be equal-length vectors")
    if not e.any():
        raise DataError("events has no event; interval edges come from event times")
    inner = np.quantile(t[e], np.arange(1, n) / n)
    return np.concatenate([[0.0], inner, [np.inf]])


def interval_index(time: Tensor, edges: Tensor) -> Tensor:
    """(B,) index k of the interval ``edges[k] <= t < edges[k+1]`` holding each time."""
    index = torch.searchsorted(edges, time.contiguous(), right=True) - 1
    return index.clamp(0, edges.numel() - 2)


def discrete_time_nll(logits: Tensor, interval: Tensor, event: Tensor) -> Tensor:
    """Mean negative log-likelihood of discrete hazards (see module doc).

    Args:
        logits: (B, K) hazard logits.
        interval: (B,) int64 interval index of each patient's time.
        event: (B,) bool or 0/1, 1 = event observed.
    """
    if logits.ndim != 2 or interval.shape != logits.shape[:1] or event.shape != interval.shape:
        raise DataError(
            f"logits {tuple(logits.shape)}, interval {tuple(interval.shape)} and event "
            f"{tuple(event.shape)} do not match; expected (B, K), (B,), (B,)"
        )
    survive = functional.logsigmoid(-logits).cumsum(dim=1)
    survive_before = torch.cat([survive.new_zeros(len(logits), 1), survive[:, :-1]], dim=1)
    k = interval.unsqueeze(1)
    loglik = survive_before.gather(1, k).squeeze(1)
    fail = functional.logsigmoid(logits).gather(1, k).squeeze(1)
    loglik = loglik + event.to(logits.dtype) * fail
    return -loglik.mean()


@dataclass(frozen=True)
class DiscreteTimeLoss:
    """:func:`discrete_time_nll` of (B, K) logits, intervals from ``edges`` (K + 1,) in days."""

    edges: np.ndarray = field(repr=False)

    def __call__(self, output: Tensor, time: Tensor, event: Tensor) -> Tensor:
        n_intervals = len(self.edges) - 1
        if output.ndim != 2 or output.shape[1] != n_intervals:
            raise DataError(
                f"output has shape {tuple(output.shape)}; expected (B, {n_intervals}) logits"
            )
        edges = torch.as_tensor(self.edges, dtype=time.dtype, device=time.device)
        return discrete_time_nll(output, interval_index(time, edges), event)

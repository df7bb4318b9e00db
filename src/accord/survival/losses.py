"""Cox partial likelihood as a torch loss, for training survival heads by gradient descent.

The loss is the *negative* partial log-likelihood of a risk score (higher risk means
shorter survival). Tied event times are handled by Efron's or Breslow's method; the
result does not depend on the order of the rows. Risk-set sums are computed in log
space (``logcumsumexp``) so that large risk scores neither overflow nor underflow.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor

from accord.core import DataError

__all__ = ["cox_partial_likelihood_loss"]

Ties = Literal["breslow", "efron"]
Reduction = Literal["mean", "sum"]


def _check_loss_inputs(
    risk: Tensor, time: Tensor, event: Tensor, ties: str, reduction: str
) -> None:
    if ties not in ("breslow", "efron"):
        raise DataError(f"ties is {ties!r}; expected 'breslow' or 'efron'")
    if reduction not in ("mean", "sum"):
        raise DataError(f"reduction is {reduction!r}; expected 'mean' or 'sum'")
    if risk.ndim != 1:
        raise DataError(f"risk has {risk.ndim} dimensions; expected 1 (one score per subject)")
    for name, tensor in (("time", time), ("event", event)):
        if tensor.shape != risk.shape:
            raise DataError(
                f"{name} has shape {tuple(tensor.shape)}; expected {tuple(risk.shape)} like risk"
            )
    if not risk.is_floating_point():
        raise DataError(f"risk has dtype {risk.dtype}; expected a floating-point tensor")


def _exit_order(time: Tensor, event: Tensor) -> Tensor:
    """Row order by increasing time; within tied times, events come before censorings."""
    by_event = torch.argsort(event.to(torch.int8), descending=True, stable=True)
    by_time = torch.argsort(time[by_event], stable=True)
    return by_event[by_time]


def _log_denominators(risk: Tensor, time: Tensor, event: Tensor, ties: Ties) -> Tensor:
    """log of each event's risk-set denominator, shape (n_events,); rows sorted by exit."""
    n = risk.shape[0]
    new_group = torch.ones(n, dtype=torch.bool, device=risk.device)
    new_group[1:] = time[1:] != time[:-1]
    group_start = torch.nonzero(new_group).squeeze(1)
    group_of_row = torch.cumsum(new_group.to(torch.long), 0) - 1
    tail = torch.logcumsumexp(risk.flip(0), 0).flip(0)  # log sum_{j >= i} exp(risk_j)
    # index n: lets tail[start + tied] be read when no one else is at risk (torch.where drops it)
    tail = torch.cat([tail, tail.new_zeros(1)])
    event_rows = torch.nonzero(event).squeeze(1)
    groups, inverse, tied = torch.unique_consecutive(
        group_of_row[event_rows], return_inverse=True, return_counts=True
    )
    start = group_start[groups]
    if ties == "breslow":
        return tail[start][inverse]
    has_rest = (start + tied < n)[inverse]  # is anyone at risk besides the tied events?
    event_risk = risk[event_rows]
    peak = torch.full_like(start, float("-inf"), dtype=risk.dtype)
    peak = peak.scatter_reduce(0, inverse, event_risk.detach(), reduce="amax")
    tie_sum = torch.zeros_like(peak).index_add(0, inverse, torch.exp(event_risk - peak[inverse]))
    log_tied = torch.log(tie_sum) + peak
    rank = (event_rows - start[inverse]).to(risk.dtype)
    fraction = rank / tied[inverse].to(risk.dtype)
    log_remaining_ties = torch.log1p(-fraction) + log_tied[inverse]
    # log of the risk set without the tied events; a stand-in where that set is empty keeps
    # logaddexp finite (and twice differentiable), and torch.where discards it
    log_rest = torch.where(has_rest, tail[start + tied][inverse], log_remaining_ties)
    both = torch.logaddexp(log_rest, log_remaining_ties)
    return torch.where(has_rest, both, log_remaining_ties)


def cox_partial_likelihood_loss(
    risk: Tensor,
    time: Tensor,
    event: Tensor,
    ties: Ties = "efron",
    reduction: Reduction = "mean",
) -> Tensor:
    """Negative Cox partial log-likelihood of ``risk``.

    Args:
        risk: (n,) floating-point risk scores (log partial hazards; higher = shorter survival).
        time: (n,) event or censoring times in days.
        event: (n,) bool or 0/1 indicators, 1 = event observed.
        ties: ``"efron"`` (exact as lifelines' ``CoxPHFitter``) or ``"breslow"``.
        reduction: ``"sum"``, or ``"mean"`` to divide by the number of events.

    Returns:
        A scalar tensor with the dtype of ``risk``. A batch without events gives a zero
        that is still connected to ``risk``, so ``backward()`` yields zero gradients.
    """
    _check_loss_inputs(risk, time, event, ties, reduction)
    observed = event.to(torch.bool)
    n_events = int(observed.sum().item())
    if n_events == 0:
        return (risk * 0.0).sum()
    order = _exit_order(time, observed)
    sorted_risk = risk[order]
    log_denominator = _log_denominators(sorted_risk, time[order], observed[order], ties)
    total = (log_denominator - sorted_risk[observed[order]]).sum()
    return total / n_events if reduction == "mean" else total

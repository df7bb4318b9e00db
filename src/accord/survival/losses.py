"""Survival losses in torch, for training survival heads by gradient descent.

:func:`cox_partial_likelihood_loss` is the *negative* partial log-likelihood of a risk score
(higher risk means shorter survival). Tied event times are handled by Efron's or Breslow's
method; the result does not depend on the order of the rows. Risk-set sums are computed in
log space (``logcumsumexp``) so that large risk scores neither overflow nor underflow. It is
not a sum of per-patient terms: each patient sits in the risk sets of the others.

:func:`logistic_hazard_loss` is the negative log-likelihood of the discrete-time
(logistic-hazard) survival model over intervals cut at fixed ``cuts``: a sum of one term per
patient, each depending on that patient's row alone (what DP-SGD's per-row clipping needs).
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor
from torch.nn import functional

from accord.core import DataError

__all__ = ["cox_partial_likelihood_loss", "logistic_hazard_loss"]

Ties = Literal["breslow", "efron"]
Reduction = Literal["mean", "sum"]
RowReduction = Literal["mean", "sum", "none"]


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


def _check_hazard_inputs(
    logits: Tensor, time_days: Tensor, event: Tensor, cuts: Tensor, reduction: str
) -> None:
    if reduction not in ("mean", "sum", "none"):
        raise DataError(f"reduction is {reduction!r}; expected 'mean', 'sum' or 'none'")
    if logits.ndim != 2 or not logits.is_floating_point():
        raise DataError(
            f"logits has {logits.ndim} dimensions and dtype {logits.dtype}; expected a "
            "floating-point (rows, intervals) tensor"
        )
    if cuts.ndim != 1 or cuts.shape[0] != logits.shape[1]:
        raise DataError(
            f"cuts has shape {tuple(cuts.shape)}; expected ({logits.shape[1]},), one cut point "
            "per interval (the end of each interval)"
        )
    if bool((cuts[1:] <= cuts[:-1]).any()) or bool((cuts[:1] <= 0).any()):
        raise DataError("cuts are not positive and strictly increasing; expected day cut points")
    for name, tensor in (("time_days", time_days), ("event", event)):
        if tensor.shape != logits.shape[:1]:
            raise DataError(
                f"{name} has shape {tuple(tensor.shape)}; expected ({logits.shape[0]},) "
                "like logits' rows"
            )


def logistic_hazard_loss(
    logits: Tensor,
    time_days: Tensor,
    event: Tensor,
    cuts: Tensor,
    reduction: RowReduction = "sum",
) -> Tensor:
    """Negative log-likelihood of the discrete-time logistic-hazard model.

    The K cut points ``c_1 < ... < c_K`` make K half-open intervals ``[0, c_1), [c_1, c_2),
    ..., [c_{K-1}, c_K)``; follow-up reaching ``c_K`` or beyond counts as censored at
    ``c_K`` (the patient survived every interval). Patient i, whose time falls in interval
    ``j``, has hazards ``h_ik = sigmoid(logits_ik)`` and contributes

        ``-Σ_{k<j} log(1 - h_ik) - event_i · log h_ij``

    i.e. it survived the intervals before its own; a censored patient is not counted in the
    interval of its censoring (censoring at the start of the interval, the usual
    person-period convention; it is the binary-cross-entropy form of Gensheimer &
    Narasimhan 2019). Computed with ``logsigmoid``, so large logits neither overflow nor
    lose precision. Each term depends on row i alone: the ``"sum"`` of a batch is the sum
    of its rows' ``"none"`` losses.

    Args:
        logits: (n, K) floating-point interval logits (baseline logit + risk score).
        time_days: (n,) event or censoring times in days.
        event: (n,) bool or 0/1 indicators, 1 = event observed.
        cuts: (K,) cut points in days, positive and strictly increasing (fixed in the
            study, never taken from the data).
        reduction: ``"sum"``, ``"mean"`` (over rows) or ``"none"`` (one loss per row).

    Returns:
        A scalar (``"sum"``, ``"mean"``) or an (n,) tensor (``"none"``) with ``logits``' dtype.
    """
    cuts = torch.as_tensor(cuts, dtype=logits.dtype, device=logits.device)
    _check_hazard_inputs(logits, time_days, event, cuts, reduction)
    interval = torch.searchsorted(cuts, time_days.to(logits.dtype).contiguous(), right=True)
    k = torch.arange(logits.shape[1], device=logits.device)
    survived = (k[None, :] < interval[:, None]).to(logits.dtype)
    failed = ((k[None, :] == interval[:, None]) & event.to(torch.bool)[:, None]).to(logits.dtype)
    per_row = -(
        survived * functional.logsigmoid(-logits) + failed * functional.logsigmoid(logits)
    ).sum(1)
    if reduction == "none":
        return per_row
    return per_row.mean() if reduction == "mean" else per_row.sum()

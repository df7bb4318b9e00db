"""Survival losses and the discrete-time head: hand computations."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from accord.core import ConfigError, DataError
from accord.models.mil import (
    CoxLoss,
    DiscreteTimeHead,
    DiscreteTimeLoss,
    discrete_time_nll,
    interval_edges,
    interval_index,
    risk_from_output,
)
from accord.survival.losses import cox_partial_likelihood_loss


def test_discrete_time_nll_hand_case() -> None:
    # hazards: sigmoid(0) = 1/2, sigmoid(log 3) = 3/4, sigmoid(-log 3) = 1/4 in every row
    logits = torch.tensor([[0.0, math.log(3), -math.log(3)]] * 3, dtype=torch.float64)
    interval = torch.tensor([1, 2, 0])
    event = torch.tensor([True, False, True])
    # event in interval 1: (1 - 1/2) · 3/4; censored in 2: (1 - 1/2)(1 - 3/4); event in 0: 1/2
    expected = -(math.log(0.375) + math.log(0.125) + math.log(0.5)) / 3
    assert float(discrete_time_nll(logits, interval, event)) == pytest.approx(expected)


def test_a_patient_censored_in_the_first_interval_adds_nothing() -> None:
    logits = torch.tensor([[2.0, -1.0]], requires_grad=True)
    loss = discrete_time_nll(logits, torch.tensor([0]), torch.tensor([False]))
    loss.backward()  # type: ignore[no-untyped-call]
    assert loss.detach().item() == 0.0
    assert logits.grad is not None and torch.all(logits.grad == 0)


def test_discrete_time_nll_checks_shapes() -> None:
    with pytest.raises(DataError, match="do not match"):
        discrete_time_nll(torch.zeros(3, 2), torch.zeros(2, dtype=torch.long), torch.zeros(3))


def test_interval_edges_are_quantiles_of_event_times() -> None:
    edges = interval_edges([1.0, 2.0, 3.0, 4.0, 10.0], [1, 1, 1, 1, 0], 2)
    np.testing.assert_array_equal(edges, [0.0, 2.5, np.inf])
    edges4 = interval_edges(np.arange(1.0, 101.0), np.ones(100, dtype=bool), 4)
    np.testing.assert_allclose(edges4[1:-1], [25.75, 50.5, 75.25])


def test_interval_edges_refuse_bad_inputs() -> None:
    with pytest.raises(DataError, match="no event"):
        interval_edges([1.0, 2.0], [0, 0], 2)
    with pytest.raises(ConfigError, match="n is 0"):
        interval_edges([1.0, 2.0], [1, 1], 0)


def test_interval_index_uses_half_open_intervals() -> None:
    edges = torch.tensor([0.0, 2.5, float("inf")], dtype=torch.float64)
    times = torch.tensor([0.0, 2.4, 2.5, 1e9], dtype=torch.float64)
    assert interval_index(times, edges).tolist() == [0, 0, 1, 1]


def test_discrete_time_loss_bins_times_and_checks_width() -> None:
    loss = DiscreteTimeLoss(np.array([0.0, 2.5, np.inf]))
    logits = torch.tensor([[0.0, 1.0], [2.0, -1.0]], dtype=torch.float64)
    time = torch.tensor([3.0, 1.0], dtype=torch.float64)
    event = torch.tensor([True, False])
    expected = discrete_time_nll(logits, torch.tensor([1, 0]), event)
    torch.testing.assert_close(loss(logits, time, event), expected)
    with pytest.raises(DataError, match=r"expected \(B, 2\)"):
        loss(torch.zeros(2, 3), time, event)


def test_discrete_time_head_adds_baselines_to_the_risk() -> None:
    head = DiscreteTimeHead(3)
    with torch.no_grad():
        head.baseline.copy_(torch.tensor([-1.0, 0.0, 2.0]))
    out = head(torch.tensor([0.5, -0.5]))
    torch.testing.assert_close(out, torch.tensor([[-0.5, 0.5, 2.5], [-1.5, -0.5, 1.5]]))
    assert risk_from_output(out)[0] > risk_from_output(out)[1]  # higher risk, higher hazard
    with pytest.raises(ConfigError, match="n_intervals"):
        DiscreteTimeHead(0)


def test_cox_loss_is_the_efron_partial_likelihood() -> None:
    risk = torch.tensor([0.3, -1.0, 2.0, 0.1])
    time = torch.tensor([5.0, 5.0, 2.0, 8.0], dtype=torch.float64)
    event = torch.tensor([True, True, False, True])
    torch.testing.assert_close(
        CoxLoss()(risk, time, event), cox_partial_likelihood_loss(risk, time, event, ties="efron")
    )

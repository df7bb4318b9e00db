"""Tests of accord.survival.losses.logistic_hazard_loss: against a person-period expansion
and a plain Bernoulli likelihood written here, one term per patient, stable, validated."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from accord.core import DataError
from accord.survival.losses import logistic_hazard_loss
from tests.conftest import fuzz_settings

CUTS = np.array([100.0, 200.0, 400.0])


def person_period_nll(
    logits: np.ndarray, time_days: np.ndarray, event: np.ndarray, cuts: np.ndarray
) -> np.ndarray:
    """Independent reference: one Bernoulli row per patient and interval at risk, y = 1 in
    the interval of the event; a censored patient leaves at the start of its interval."""
    out = np.zeros(len(time_days))
    starts = np.concatenate([[0.0], cuts[:-1]])
    for i, (t, d) in enumerate(zip(time_days, event, strict=True)):
        for k, (start, end) in enumerate(zip(starts, cuts, strict=True)):
            if t < start:
                break
            inside = t < end
            if inside and not d:
                break  # censored in interval k: not at risk in it
            h = 1.0 / (1.0 + np.exp(-logits[i, k]))
            y = 1.0 if inside and d else 0.0
            out[i] -= y * np.log(h) + (1.0 - y) * np.log(1.0 - h)
            if inside:
                break
    return out


def _case(seed: int, n: int = 40) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    rng = np.random.default_rng(seed)
    logits = torch.as_tensor(rng.normal(-1.0, 1.5, size=(n, CUTS.size)))
    # times on and between the cut points, and beyond the last one
    time = torch.as_tensor(rng.choice([0.0, 50.0, 100.0, 150.0, 200.0, 399.0, 400.0, 900.0], n))
    event = torch.as_tensor(rng.random(n) < 0.6)
    return logits, time, event


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_equals_the_person_period_bernoulli_likelihood(seed: int) -> None:
    logits, time, event = _case(seed)
    per_row = logistic_hazard_loss(logits, time, event, torch.as_tensor(CUTS), reduction="none")
    expected = person_period_nll(logits.numpy(), time.numpy(), event.numpy(), CUTS)
    np.testing.assert_allclose(per_row.numpy(), expected, rtol=1e-12, atol=1e-12)
    total = logistic_hazard_loss(logits, time, event, torch.as_tensor(CUTS), reduction="sum")
    mean = logistic_hazard_loss(logits, time, event, torch.as_tensor(CUTS), reduction="mean")
    assert float(total) == pytest.approx(expected.sum(), rel=1e-12)
    assert float(mean) == pytest.approx(expected.mean(), rel=1e-12)


def test_hand_computed_conventions() -> None:
    # logits 0: h = 1/2 in every interval, each Bernoulli term is log 2
    logits = torch.zeros(5, 3, dtype=torch.float64)
    time = torch.tensor([150.0, 150.0, 400.0, 900.0, 100.0], dtype=torch.float64)
    event = torch.tensor([1, 0, 1, 1, 0])
    per_row = logistic_hazard_loss(logits, time, event, torch.as_tensor(CUTS), reduction="none")
    # event in interval 1: survived 0, failed in 1; censored in 1: survived 0 only;
    # at or beyond the last cut: censored there, survived all 3; censored at a cut point:
    # it enters the interval that starts there and leaves at once (survived interval 0)
    np.testing.assert_allclose(per_row.numpy(), np.log(2.0) * np.array([2, 1, 3, 3, 1]))


@given(
    n=st.integers(1, 12),
    seed=st.integers(0, 2**32 - 1),
    scale=st.sampled_from([1.0, 50.0, 1e4]),
)
@fuzz_settings(max_examples=40)
def test_a_batch_is_the_sum_of_its_rows_and_each_row_its_own(
    n: int, seed: int, scale: float
) -> None:
    logits, time, event = _case(seed, n)
    logits = logits * scale  # large logits stay finite (logsigmoid)
    cuts = torch.as_tensor(CUTS)
    total = logistic_hazard_loss(logits, time, event, cuts, reduction="sum")
    rows = [
        logistic_hazard_loss(logits[i : i + 1], time[i : i + 1], event[i : i + 1], cuts)
        for i in range(n)
    ]
    assert torch.isfinite(total)
    torch.testing.assert_close(total, torch.stack(rows).sum(), rtol=1e-12, atol=1e-9)
    # row 0's term does not move when every other row changes
    others, other_time, other_event = logits.clone(), time.clone(), event.clone()
    others[1:] += 3.0
    other_time[1:] = 900.0 - other_time[1:]
    other_event[1:] = ~other_event[1:]
    moved = logistic_hazard_loss(others, other_time, other_event, cuts, reduction="none")
    assert float(moved[0]) == float(rows[0])


def test_gradients_are_finite_for_extreme_logits() -> None:
    logits = torch.tensor([[-800.0, 0.0, 800.0]], dtype=torch.float64, requires_grad=True)
    loss = logistic_hazard_loss(
        logits, torch.tensor([900.0]), torch.tensor([1]), torch.as_tensor(CUTS)
    )
    loss.backward()  # type: ignore[no-untyped-call]
    assert torch.isfinite(loss) and logits.grad is not None
    assert torch.isfinite(logits.grad).all()


@pytest.mark.parametrize(
    ("logits", "time", "cuts", "reduction", "message"),
    [
        (torch.zeros(2, 3), torch.zeros(3), CUTS, "sum", r"time_days has shape \(3,\)"),
        (torch.zeros(2), torch.zeros(2), CUTS, "sum", "logits has 1 dimensions"),
        (torch.zeros(2, 2), torch.zeros(2), CUTS, "sum", r"cuts has shape \(3,\); expected \(2,\)"),
        (torch.zeros(2, 3), torch.zeros(2), CUTS[::-1].copy(), "sum", "strictly increasing"),
        (torch.zeros(2, 3), torch.zeros(2), CUTS, "max", "reduction is 'max'"),
    ],
)
def test_invalid_inputs_are_data_errors(
    logits: torch.Tensor, time: torch.Tensor, cuts: np.ndarray, reduction: str, message: str
) -> None:
    with pytest.raises(DataError, match=message):
        logistic_hazard_loss(logits, time, torch.zeros(len(time)), torch.as_tensor(cuts), reduction)  # type: ignore[arg-type]

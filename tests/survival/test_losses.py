"""Tests of accord.survival.losses.cox_partial_likelihood_loss."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from accord.core import DataError
from accord.survival import cox_derivatives
from accord.survival.losses import cox_partial_likelihood_loss

from .conftest import Cohort, Ties

TIES = ["breslow", "efron"]


def _tensors(c: Cohort) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    return torch.from_numpy(c.risk), torch.from_numpy(c.time), torch.from_numpy(c.event)


class TestHandComputed:
    """times (1, 1, 2), all events, risk 0: the tied pair sees risk sets of 3 then 2 (Efron)
    or 3 and 3 (Breslow); the last event is alone, log(1) = 0."""

    time = torch.tensor([1.0, 1.0, 2.0], dtype=torch.float64)
    event = torch.tensor([1, 1, 1])
    risk = torch.zeros(3, dtype=torch.float64)

    def test_efron(self) -> None:
        loss = cox_partial_likelihood_loss(self.risk, self.time, self.event, "efron", "sum")
        assert loss.item() == pytest.approx(math.log(6.0))

    def test_breslow(self) -> None:
        loss = cox_partial_likelihood_loss(self.risk, self.time, self.event, "breslow", "sum")
        assert loss.item() == pytest.approx(math.log(9.0))

    def test_mean_divides_by_events(self) -> None:
        loss = cox_partial_likelihood_loss(self.risk, self.time, self.event, "efron", "mean")
        assert loss.item() == pytest.approx(math.log(6.0) / 3)


class TestAgainstCoxDerivatives:
    @pytest.mark.parametrize("ties", TIES)
    def test_loss_is_negative_loglik(self, cohort: Cohort, ties: Ties) -> None:
        beta = np.array([0.5, -0.3, 0.2])
        risk = torch.from_numpy(cohort.x @ beta)
        _, time, event = _tensors(cohort)
        loss = cox_partial_likelihood_loss(risk, time, event, ties=ties, reduction="sum")
        expected = cox_derivatives(cohort.x, cohort.time, cohort.event, beta, ties=ties)
        assert loss.item() == pytest.approx(-expected.loglik, rel=1e-12, abs=1e-8)

    @pytest.mark.parametrize("ties", TIES)
    def test_gradient_of_linear_model(self, cohort: Cohort, ties: Ties) -> None:
        beta = torch.tensor([0.5, -0.3, 0.2], dtype=torch.float64, requires_grad=True)
        _, time, event = _tensors(cohort)
        loss = cox_partial_likelihood_loss(
            torch.from_numpy(cohort.x) @ beta,
            time,
            event,
            ties=ties,
            reduction="sum",
        )
        loss.backward()
        assert beta.grad is not None
        expected = cox_derivatives(cohort.x, cohort.time, cohort.event, beta.detach().numpy(), ties)
        np.testing.assert_allclose(-beta.grad.numpy(), expected.gradient, rtol=1e-10, atol=1e-10)


class TestProperties:
    @settings(max_examples=40, deadline=None)
    @given(
        n=st.integers(min_value=1, max_value=25),
        seed=st.integers(min_value=0, max_value=2**31 - 1),
        shift=st.floats(min_value=-50.0, max_value=50.0),
        ties=st.sampled_from(TIES),
    )
    def test_invariant_to_row_order_and_shift(
        self, n: int, seed: int, shift: float, ties: Ties
    ) -> None:
        rng = np.random.default_rng(seed)
        time = torch.from_numpy(rng.integers(0, 5, size=n).astype(np.float64))
        event = torch.from_numpy(rng.random(n) < 0.6)
        risk = torch.from_numpy(rng.normal(size=n) * 3)
        perm = torch.from_numpy(rng.permutation(n))
        base = cox_partial_likelihood_loss(risk, time, event, ties, "sum")
        moved = cox_partial_likelihood_loss(
            risk[perm] + shift,
            time[perm],
            event[perm],
            ties,
            "sum",
        )
        assert moved.item() == pytest.approx(base.item(), rel=1e-9, abs=1e-9)
        assert base.item() >= 0.0

    def test_stable_for_huge_scores(self) -> None:
        risk = torch.tensor([1e4, -1e4, 5e3, 0.0], dtype=torch.float64, requires_grad=True)
        time = torch.tensor([1.0, 1.0, 2.0, 3.0], dtype=torch.float64)
        event = torch.tensor([1, 1, 1, 0])
        loss = cox_partial_likelihood_loss(risk, time, event)
        loss.backward()
        assert torch.isfinite(loss) and risk.grad is not None
        assert torch.isfinite(risk.grad).all()

    def test_float32(self, cohort: Cohort) -> None:
        risk, time, event = _tensors(cohort)
        loss32 = cox_partial_likelihood_loss(risk.float(), time.float(), event)
        loss64 = cox_partial_likelihood_loss(risk, time, event)
        assert loss32.dtype == torch.float32
        assert loss32.item() == pytest.approx(loss64.item(), rel=1e-5)


class TestNoEvents:
    @pytest.mark.parametrize("reduction", ["mean", "sum"])
    def test_zero_with_grad(self, reduction: str) -> None:
        risk = torch.tensor([0.3, -0.2], requires_grad=True)
        loss = cox_partial_likelihood_loss(
            risk,
            torch.tensor([1.0, 2.0]),
            torch.tensor([0, 0]),
            reduction=reduction,
        )
        assert loss.item() == 0.0 and loss.grad_fn is not None
        loss.backward()
        assert risk.grad is not None and not risk.grad.any()


class TestErrors:
    def test_shape_mismatch(self) -> None:
        with pytest.raises(DataError, match=r"time has shape \(3,\); expected \(2,\)"):
            cox_partial_likelihood_loss(torch.zeros(2), torch.zeros(3), torch.zeros(2))

    def test_risk_not_1d(self) -> None:
        with pytest.raises(DataError, match="risk has 2 dimensions; expected 1"):
            cox_partial_likelihood_loss(torch.zeros(2, 1), torch.zeros(2), torch.zeros(2))

    def test_bad_ties(self) -> None:
        with pytest.raises(DataError, match="ties is 'exact'"):
            cox_partial_likelihood_loss(torch.zeros(2), torch.zeros(2), torch.zeros(2), "exact")  # type: ignore[arg-type]

    def test_bad_reduction(self) -> None:
        with pytest.raises(DataError, match="reduction is 'none'"):
            cox_partial_likelihood_loss(
                torch.zeros(2),
                torch.zeros(2),
                torch.zeros(2),
                reduction="none",  # type: ignore[arg-type]
            )

    def test_integer_risk(self) -> None:
        with pytest.raises(DataError, match=r"risk has dtype torch\.int64"):
            cox_partial_likelihood_loss(
                torch.zeros(2, dtype=torch.long), torch.zeros(2), torch.zeros(2)
            )

"""Tests of accord.survival._cox against lifelines, a direct loop and torch autograd."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pandas as pd
import pytest
import torch
from scipy.special import logsumexp

from accord.core import DataError
from accord.survival import (
    BaselineHazard,
    CoxDerivatives,
    breslow_baseline_hazard,
    cox_derivatives,
)
from accord.survival.losses import cox_partial_likelihood_loss

from .conftest import Cohort, Ties, make_cohort

FloatArray = npt.NDArray[np.float64]


def _breslow_loop(x: FloatArray, time: FloatArray, event: FloatArray, beta: FloatArray) -> float:
    """Textbook O(n^2) Breslow partial log-likelihood."""
    eta = x @ beta
    total = 0.0
    for i in np.flatnonzero(event):
        at_risk = time >= time[i]
        total += eta[i] - np.log(np.exp(eta[at_risk]).sum())
    return total


def _efron_loop(x: FloatArray, time: FloatArray, event: FloatArray, beta: FloatArray) -> float:
    """Textbook Efron partial log-likelihood, looping over unique event times."""
    eta = x @ beta
    total = 0.0
    for u in np.unique(time[event]):
        tied = (time == u) & event
        d = int(tied.sum())
        risk_sum = np.exp(eta[time >= u]).sum()
        tie_sum = np.exp(eta[tied]).sum()
        total += eta[tied].sum() - sum(np.log(risk_sum - k / d * tie_sum) for k in range(d))
    return total


def _newton(derivatives: list[CoxDerivatives], beta: FloatArray) -> FloatArray:
    total = derivatives[0]
    for d in derivatives[1:]:
        total = total + d
    step: FloatArray = np.linalg.solve(total.hessian, total.gradient)
    return beta - step


class TestAgainstLoops:
    @pytest.mark.parametrize("ties", ["breslow", "efron"])
    def test_loglik_matches_direct_loop(self, cohort: Cohort, ties: Ties) -> None:
        beta = np.array([0.3, -0.2, 0.1])
        loop = _breslow_loop if ties == "breslow" else _efron_loop
        expected = loop(cohort.x, cohort.time, cohort.event, beta)
        got = cox_derivatives(cohort.x, cohort.time, cohort.event, beta, ties=ties)
        assert got.loglik == pytest.approx(expected, rel=1e-12)

    @pytest.mark.parametrize("ties", ["breslow", "efron"])
    def test_derivatives_match_finite_differences(self, cohort: Cohort, ties: Ties) -> None:
        beta = np.array([0.4, -0.1, 0.2])
        base = cox_derivatives(cohort.x, cohort.time, cohort.event, beta, ties=ties)
        h = 1e-6
        for j in range(beta.shape[0]):
            up = cox_derivatives(cohort.x, cohort.time, cohort.event, beta + h * np.eye(3)[j], ties)
            down = cox_derivatives(
                cohort.x, cohort.time, cohort.event, beta - h * np.eye(3)[j], ties
            )
            assert (up.loglik - down.loglik) / (2 * h) == pytest.approx(base.gradient[j], rel=1e-6)
            fd_row = (up.gradient - down.gradient) / (2 * h)
            np.testing.assert_allclose(fd_row, base.hessian[j], rtol=1e-5, atol=1e-6)

    @pytest.mark.parametrize("ties", ["breslow", "efron"])
    def test_matches_torch_autograd(self, cohort: Cohort, ties: Ties) -> None:
        beta = np.array([0.2, 0.1, -0.3])
        got = cox_derivatives(cohort.x, cohort.time, cohort.event, beta, ties=ties)

        def loglik(b: torch.Tensor) -> torch.Tensor:
            risk = torch.from_numpy(cohort.x) @ b
            t, e = torch.from_numpy(cohort.time), torch.from_numpy(cohort.event)
            return -cox_partial_likelihood_loss(risk, t, e, ties=ties, reduction="sum")

        b = torch.tensor(beta, requires_grad=True)
        grad = torch.autograd.functional.jacobian(loglik, b)
        hess = torch.autograd.functional.hessian(loglik, b)
        np.testing.assert_allclose(grad.numpy(), got.gradient, rtol=1e-10, atol=1e-10)
        np.testing.assert_allclose(hess.numpy(), got.hessian, rtol=1e-10, atol=1e-10)

    def test_row_order_does_not_matter(self, cohort: Cohort) -> None:
        beta = np.array([0.2, 0.1, -0.3])
        perm = np.random.default_rng(0).permutation(cohort.time.shape[0])
        a = cox_derivatives(cohort.x, cohort.time, cohort.event, beta)
        b = cox_derivatives(cohort.x[perm], cohort.time[perm], cohort.event[perm], beta)
        assert a.loglik == pytest.approx(b.loglik, rel=1e-13)
        np.testing.assert_allclose(a.hessian, b.hessian, rtol=1e-12)

    def test_stable_for_huge_linear_predictors(self) -> None:
        x = np.array([[800.0], [790.0], [780.0], [10.0]])
        got = cox_derivatives(x, [1.0, 2.0, 2.0, 3.0], [1, 1, 0, 1], np.array([1.0]))
        # the last risk set holds only the row with x = 10: it contributes 10 - log(e^10) = 0
        eta = x[:, 0]
        expected = (800.0 - logsumexp(eta)) + (790.0 - logsumexp(eta[1:]))
        assert got.loglik == pytest.approx(expected, rel=1e-12)
        assert np.all(np.isfinite(got.gradient)) and np.all(np.isfinite(got.hessian))
        big = cox_derivatives(x * 1e3, [1.0, 2.0, 2.0, 3.0], [1, 1, 0, 1], np.array([1.0]))
        assert np.isfinite(big.loglik) and np.all(np.isfinite(big.hessian))

    def test_no_events_gives_zeros(self) -> None:
        got = cox_derivatives(np.ones((3, 2)), [1.0, 2.0, 3.0], [0, 0, 0], np.zeros(2))
        assert got.loglik == 0.0
        assert not got.gradient.any() and not got.hessian.any()


class TestAgainstLifelines:
    def test_efron_matches_lifelines_single(self, cohort: Cohort) -> None:
        from lifelines.fitters.coxph_fitter import SemiParametricPHFitter

        rng = np.random.default_rng(3)
        weights = rng.uniform(0.5, 2.0, size=cohort.time.shape[0])
        beta = np.array([0.3, -0.2, 0.1])
        order = np.argsort(cohort.time, kind="stable")
        fitter = SemiParametricPHFitter()
        hess, grad, loglik = fitter._get_efron_values_single(
            pd.DataFrame(cohort.x[order]),
            pd.Series(cohort.time[order]),
            pd.Series(cohort.event[order]),
            pd.Series(weights[order]),
            None,
            beta,
        )
        got = cox_derivatives(cohort.x, cohort.time, cohort.event, beta, weights=weights)
        assert got.loglik == pytest.approx(loglik, rel=1e-12)
        np.testing.assert_allclose(got.gradient, grad, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(got.hessian, hess, rtol=1e-10, atol=1e-12)

    def test_federated_newton_reproduces_stratified_lifelines(self) -> None:
        from lifelines import CoxPHFitter

        data = make_cohort(n=300, seed=11)
        sites = [data.site == s for s in range(3)]
        beta = np.zeros(3)
        for _ in range(20):
            per_site = [
                cox_derivatives(data.x[m], data.time[m], data.event[m], beta) for m in sites
            ]
            beta = _newton(per_site, beta)
        df = pd.DataFrame(data.x, columns=["a", "b", "c"])
        df["time"], df["event"], df["site"] = data.time, data.event.astype(int), data.site
        cph = CoxPHFitter(penalizer=0.0).fit(
            df, "time", "event", strata=["site"], fit_options={"precision": 1e-12}
        )
        np.testing.assert_allclose(beta, cph.params_.to_numpy(), atol=1e-6)

    def test_breslow_baseline_matches_lifelines(self, cohort: Cohort) -> None:
        from lifelines import CoxPHFitter

        df = pd.DataFrame(cohort.x, columns=["a", "b", "c"])
        df["time"], df["event"] = cohort.time, cohort.event.astype(int)
        cph = CoxPHFitter().fit(df, "time", "event")
        beta = cph.params_.to_numpy()
        risk = (cohort.x - cohort.x.mean(axis=0)) @ beta
        got = breslow_baseline_hazard(cohort.time, cohort.event, risk)
        expected = cph.baseline_cumulative_hazard_.iloc[:, 0]
        np.testing.assert_allclose(got.times, expected.index.to_numpy())
        np.testing.assert_allclose(got.cumulative_hazard, expected.to_numpy(), rtol=1e-10)
        # lifelines interpolates between observed times, so compare at observed times only
        times = got.times[[0, 5, 17, 40, -1]]
        surv = got.survival(risk[:4], times)
        lifelines_surv = cph.predict_survival_function(df.iloc[:4], times=times).to_numpy().T
        np.testing.assert_allclose(surv, lifelines_surv, rtol=1e-10)


class TestBaselineHazard:
    def test_hand_computed(self) -> None:
        # risk sets at t=1: all three (sum e^0 * 3 = 3); at t=2: two rows -> 1/2
        got = breslow_baseline_hazard([1.0, 2.0, 2.0], [1, 1, 0], np.zeros(3))
        np.testing.assert_allclose(got.cumulative_hazard, [1 / 3, 1 / 3 + 1 / 2])
        np.testing.assert_allclose(
            got.cumulative_hazard_at(np.array([0.5, 1.0, 1.5, 9.0])), [0, 1 / 3, 1 / 3, 5 / 6]
        )

    def test_survival_shape(self) -> None:
        hazard = BaselineHazard(times=np.array([1.0, 2.0]), cumulative_hazard=np.array([0.1, 0.3]))
        surv = hazard.survival(np.array([0.0, np.log(2.0)]), np.array([0.0, 1.0, 2.0]))
        np.testing.assert_allclose(surv, np.exp(-np.array([[0, 0.1, 0.3], [0, 0.2, 0.6]])))


class TestDerivativesAdd:
    def test_sum_over_strata_is_stratified_loglik(self, cohort: Cohort) -> None:
        beta = np.array([0.1, 0.2, 0.3])
        parts = [
            cox_derivatives(cohort.x[m], cohort.time[m], cohort.event[m], beta)
            for m in (cohort.site == 0, cohort.site != 0)
        ]
        total = parts[0] + parts[1]
        assert total.loglik == pytest.approx(parts[0].loglik + parts[1].loglik)
        assert total.gradient.shape == (3,) and total.hessian.shape == (3, 3)


class TestErrors:
    def test_negative_time(self) -> None:
        with pytest.raises(DataError, match="time has 1 negative value; expected >= 0"):
            cox_derivatives(np.ones((2, 1)), [-1.0, 2.0], [1, 1], np.zeros(1))

    def test_event_not_binary(self) -> None:
        with pytest.raises(DataError, match="event has 1 value other than 0 and 1"):
            cox_derivatives(np.ones((2, 1)), [1.0, 2.0], [1, 2], np.zeros(1))

    def test_beta_wrong_length(self) -> None:
        with pytest.raises(DataError, match=r"beta has 2 entries; expected 1 \(columns of X\)"):
            cox_derivatives(np.ones((2, 1)), [1.0, 2.0], [1, 1], np.zeros(2))

    def test_x_rows(self) -> None:
        with pytest.raises(DataError, match="X has 3 rows; expected 2"):
            cox_derivatives(np.ones((3, 1)), [1.0, 2.0], [1, 1], np.zeros(1))

    def test_x_not_finite(self) -> None:
        with pytest.raises(DataError, match="X has 1 non-finite values"):
            cox_derivatives(np.array([[np.nan], [1.0]]), [1.0, 2.0], [1, 1], np.zeros(1))

    def test_bad_ties(self) -> None:
        with pytest.raises(DataError, match="ties is 'exact'"):
            cox_derivatives(np.ones((2, 1)), [1.0, 2.0], [1, 1], np.zeros(1), ties="exact")  # type: ignore[arg-type]

    def test_nonpositive_weights(self) -> None:
        with pytest.raises(DataError, match="weights has 1 values <= 0"):
            cox_derivatives(np.ones((2, 1)), [1.0, 2.0], [1, 1], np.zeros(1), weights=[1.0, 0.0])

    def test_baseline_risk_length(self) -> None:
        with pytest.raises(DataError, match="risk has 1 entries; expected 2"):
            breslow_baseline_hazard([1.0, 2.0], [1, 1], [0.0])

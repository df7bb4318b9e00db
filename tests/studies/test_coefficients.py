"""Coefficients, SE, hazard ratios and convergence of fitted Cox models in results.json.

The references are lifelines' stratified Cox fits on the pooled training rows: coefficients
to 1e-6 and standard errors to 1e-4, per standardised unit and per unit of each feature,
with a categorical feature (one row per level after the reference).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from lifelines import CoxPHFitter

from accord.core import StudySpec, load_study
from accord.studies import Simulation, results_document, run_study
from accord.survival import cox_derivatives
from tests.conftest import synthetic_cohort, write_study

# tight tolerances: lifelines' default r_precision stops ~1e-6 short of the optimum
OPTIONS = {"precision": 1e-12, "r_precision": 1e-15, "max_steps": 200}


def _study(
    cohort_dir: Path, strategy: str, l2: float, secure: str = "off", **privacy: int
) -> StudySpec:
    study = load_study(write_study(cohort_dir, strategy, rounds=50, l2=l2, baselines="[]"))
    update = {"secure_aggregation": secure, **privacy}
    return study.model_copy(update={"privacy": study.privacy.model_copy(update=update)})


def _pooled(sim: Simulation, *, standardised: bool) -> pd.DataFrame:
    pre = sim.run.preprocessor
    frames = []
    for name, site in sim.cohort.sites.items():
        train = site.subset(test=False)
        x = pre.transform(train.features)
        if not standardised:
            x = x * pre.scales + pre.means
        frame = pd.DataFrame(x, columns=list(pre.columns))
        frame["T"], frame["E"], frame["site"] = train.time_days, train.event.astype(int), name
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def _lifelines(frame: pd.DataFrame, l2: float) -> CoxPHFitter:
    cph = CoxPHFitter(penalizer=l2)
    return cph.fit(frame, "T", "E", strata=["site"], fit_options=OPTIONS)


def _column(rows: list[dict[str, float]], key: str) -> np.ndarray:
    return np.array([r[key] for r in rows], dtype=np.float64)


@pytest.mark.parametrize("l2", [0.0, 0.05])
def test_newton_raphson_coefficients_and_se_match_lifelines(cohort_dir: Path, l2: float) -> None:
    sim = Simulation.prepare(_study(cohort_dir, "newton_raphson", l2), cohort_dir, seed=1)
    result = sim.run.federated()
    doc = results_document(sim.run, [result])["methods"]["newton_raphson"]
    standardised, original = doc["coefficients_standardised"], doc["coefficients"]
    names = list(sim.run.preprocessor.columns)
    assert [r["feature"] for r in original] == names and "stage=III" in names

    cph = _lifelines(_pooled(sim, standardised=True), l2)
    np.testing.assert_allclose(_column(standardised, "coef"), cph.params_[names], atol=1e-6)
    np.testing.assert_allclose(
        _column(standardised, "se"), cph.standard_errors_[names], atol=1e-4, rtol=0
    )
    scales = sim.run.preprocessor.scales
    np.testing.assert_allclose(_column(original, "coef"), cph.params_[names] / scales, atol=1e-6)
    if l2 == 0.0:  # unpenalised, the fit on raw units is the same model: lifelines agrees
        raw = _lifelines(_pooled(sim, standardised=False), 0.0)
        np.testing.assert_allclose(_column(original, "coef"), raw.params_[names], atol=1e-6)
        np.testing.assert_allclose(
            _column(original, "se"), raw.standard_errors_[names], atol=1e-4, rtol=0
        )
    summary = cph.summary.loc[names]
    np.testing.assert_allclose(_column(standardised, "p"), summary["p"], atol=1e-4)
    np.testing.assert_allclose(
        _column(standardised, "hr_low"), summary["exp(coef) lower 95%"], rtol=1e-4
    )
    np.testing.assert_allclose(_column(original, "hr"), np.exp(_column(original, "coef")))
    assert doc["convergence"]["converged"] is True
    assert doc["convergence"]["iterations"] < 50 and doc["convergence"]["last_step"] < 1e-9
    assert "coefficients_note" not in doc


def test_secure_newton_raphson_reaches_the_plain_fit_and_stops(cohort_dir: Path) -> None:
    """At 16 fraction bits the summed loglik is rounded to ~1e-5: NR must neither
    backtrack on that noise nor run to its cap, and land on the plain fit to 1e-6."""
    plain = Simulation.prepare(_study(cohort_dir, "newton_raphson", 0.01), cohort_dir, seed=1)
    clear = plain.run.federated()
    study = _study(cohort_dir, "newton_raphson", 0.01, secure="on", secagg_fraction_bits=16)
    masked = Simulation.prepare(study, cohort_dir, seed=1).run.federated()
    assert masked.convergence is not None and masked.convergence.converged is True
    assert masked.rounds < 10
    np.testing.assert_allclose(
        masked.params["linear.weight"], clear.params["linear.weight"], atol=1e-6, rtol=0
    )
    se = np.array([c.se for c in masked.coefficients_standardised], dtype=np.float64)
    want = np.array([c.se for c in clear.coefficients_standardised], dtype=np.float64)
    np.testing.assert_allclose(se, want, atol=1e-6, rtol=0)


def test_fedavg_gets_one_extra_summed_information_exchange(cohort_dir: Path) -> None:
    study = _study(cohort_dir, "fedavg", 0.05, secure="on")
    study = study.model_copy(update={"training": study.training.model_copy(update={"rounds": 3})})
    sim = Simulation.prepare(study, cohort_dir, seed=1)
    result = sim.run.federated()
    assert result.rounds == 3 and result.convergence is not None
    assert result.convergence.iterations == 3 and result.convergence.converged is None
    plan = sim.run.plan.plan_id
    rounds = {e.round for e in sim.run.consortium.hub.log if e.plan == plan}
    assert rounds == {0, 1, 2, 3}  # three training rounds, the information exchange
    assert result.excluded == {}

    beta = result.params["linear.weight"].reshape(-1)
    pre, hessian, n = sim.run.preprocessor, np.zeros((beta.size, beta.size)), 0
    for site in sim.cohort.sites.values():
        train = site.subset(test=False)
        d = cox_derivatives(pre.transform(train.features), train.time_days, train.event, beta)
        hessian, n = hessian + d.hessian, n + train.n
    information = -hessian + 0.05 * n * np.eye(beta.size)
    want = np.sqrt(np.diag(np.linalg.inv(information)))
    got = np.array([c.se for c in result.coefficients_standardised], dtype=np.float64)
    np.testing.assert_allclose(got, want, rtol=1e-6)  # secure sums: exact to ~1e-12
    original = np.array([c.se for c in result.coefficients], dtype=np.float64)
    np.testing.assert_allclose(original, want / pre.scales, rtol=1e-6)


def test_models_without_a_linear_cox_part_say_why(cohort_dir: Path) -> None:
    study = _study(cohort_dir, "fedavg", 0.0)
    model = study.model.model_copy(update={"kind": "mlp_cox", "hidden": (4,)})
    training = study.training.model_copy(update={"rounds": 1, "local_steps": 2})
    study = study.model_copy(update={"model": model, "training": training})
    sim = Simulation.prepare(study, cohort_dir, seed=1)
    doc = results_document(sim.run, [sim.run.federated()])["methods"]["fedavg"]
    assert "coefficients" not in doc and "no linear Cox part" in doc["coefficients_note"]
    assert doc["convergence"]["iterations"] == 1 and doc["convergence"]["converged"] is None


def test_a_site_without_training_events_is_reported_not_fatal(tmp_path: Path) -> None:
    frame = synthetic_cohort()
    frame.loc[frame["site"] == "hospital_1", "event"] = 0
    frame.to_csv(tmp_path / "cohort.csv", index=False)
    study = load_study(write_study(tmp_path, "newton_raphson", rounds=50, baselines='["local"]'))
    sim, results = run_study(study, tmp_path, seed=1)
    doc = results_document(sim.run, results, notes=sim.cohort.notes)
    assert any(
        n.startswith("site 'hospital_1': no events among its train rows") for n in doc["notes"]
    )
    methods = doc["methods"]
    assert "no events among its train rows" in methods["local:hospital_1"]["error"]
    assert "error" not in methods["local:hospital_0"]
    fit = methods["newton_raphson"]
    assert fit["convergence"]["converged"] is True
    cph = _lifelines(_pooled(sim, standardised=True), 0.0)  # the eventless stratum adds 0
    names = list(sim.run.preprocessor.columns)
    coef = _column(fit["coefficients_standardised"], "coef")
    np.testing.assert_allclose(coef, cph.params_[names], atol=1e-6)


def test_a_level_without_events_is_named_with_the_fix(tmp_path: Path) -> None:
    frame = synthetic_cohort()
    frame.loc[frame["stage"] == "III", "event"] = 0
    frame.to_csv(tmp_path / "cohort.csv", index=False)
    study = load_study(write_study(tmp_path, "newton_raphson", rounds=50, baselines="[]"))
    sim = Simulation.prepare(study, tmp_path, seed=1)
    doc = results_document(sim.run, [sim.run.federated()])  # JSON-able: no infinity
    fit = doc["methods"]["newton_raphson"]
    assert "not estimable: 'stage=III'" in fit["coefficients_note"]
    assert "raise model.l2" in fit["coefficients_note"]
    (row,) = [r for r in fit["coefficients"] if r["feature"] == "stage=III"]
    assert row["se"] is None and row["p"] is None and row["hr_high"] is None
    assert all(r["se"] is not None for r in fit["coefficients"] if r["feature"] != "stage=III")
    json.dumps(doc, allow_nan=False)


def test_a_site_missing_the_information_exchange_is_labelled_so() -> None:
    from accord.fl import RoundLog
    from accord.studies._federated_run import _left_out

    training = [
        RoundLog(0, ["a", "b"], {}, "p"),
        RoundLog(1, ["a"], {"b": "failed: TransportError: gone"}, "p"),
        RoundLog(2, ["a"], {"b": "failed: TransportError: gone"}, "p"),  # information
        RoundLog(2, ["b"], {"a": "elsewhere"}, "another plan"),
    ]
    evaluation = [RoundLog(0, ["a", "b"], {}, "p")]
    left = _left_out(training, evaluation, "p", information_round=2)
    assert left == {
        "b": {
            "round 1": "failed: TransportError: gone",
            "information (round 2)": "failed: TransportError: gone",
        }
    }

"""The benchmarks' judging helpers: t-intervals of paired differences, verdicts, and the
validation split that tuning uses (it never holds a test row)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from accord.data import Cohort, SiteCohort
from bench import judging


def _site(name: str, n: int, n_test: int, n_events: int, first_row: int) -> SiteCohort:
    rng = np.random.default_rng(n)
    is_test = np.zeros(n, dtype=bool)
    is_test[rng.permutation(n)[:n_test]] = True
    event = np.zeros(n, dtype=bool)
    event[rng.permutation(n)[:n_events]] = True
    return SiteCohort(
        site=name,
        source=f"{name}.csv",
        features=pd.DataFrame({"x": rng.normal(size=n)}),
        time_days=rng.uniform(1, 1000, size=n),
        event=event,
        is_test=is_test,
        source_rows=np.arange(first_row, first_row + n),
    )


def _cohort() -> Cohort:
    return Cohort({"a": _site("a", 60, 15, 12, 1), "b": _site("b", 25, 6, 2, 1000)})


def test_paired_difference_is_the_t_interval_of_the_per_seed_differences() -> None:
    a, b = [0.80, 0.83, 0.78, 0.81, 0.79], [0.79, 0.80, 0.80, 0.78, 0.77]
    diff = np.subtract(a, b)
    half = stats.t.ppf(0.975, 4) * diff.std(ddof=1) / math.sqrt(5)
    out = judging.paired_difference(a, b)
    assert out["n_seeds"] == 5 and out["mean"] == round(diff.mean(), 4)
    assert out["ci95"] == [round(diff.mean() - half, 4), round(diff.mean() + half, 4)]
    constant = judging.paired_difference(a, 0.8)  # a published figure: one constant
    assert constant["mean"] == round(float(np.mean(a)) - 0.8, 4)


def test_verdicts_need_the_whole_interval_on_one_side() -> None:
    noisy = [0.02, -0.05, 0.06, -0.01, 0.04, -0.03, 0.05, 0.0, -0.02, 0.03]
    assert judging.target("x > 0", noisy, 0.0)["verdict"] == judging.INCONCLUSIVE
    assert judging.target("x > 0", [v + 0.1 for v in noisy], 0.0)["verdict"] == judging.MET
    assert judging.target("x > 0", [v - 0.1 for v in noisy], 0.0)["verdict"] == judging.NOT_MET
    # within 0.01 of the reference (non-inferiority): lower bound above −0.01
    close = judging.target("x − y > −0.01", [0.0, 0.001, -0.001], 0.0, margin=-0.01)
    assert close["verdict"] == judging.MET and close["margin"] == -0.01
    assert judging.target("one seed", [0.5], 0.0)["verdict"] == judging.INCONCLUSIVE
    assert judging.all_of([judging.MET, judging.MET]) == judging.MET
    assert judging.all_of([judging.MET, judging.INCONCLUSIVE]) == judging.INCONCLUSIVE
    assert judging.all_of([judging.INCONCLUSIVE, judging.NOT_MET]) == judging.NOT_MET


def test_validation_rows_are_training_rows_never_test_rows() -> None:
    cohort = _cohort()
    validation = judging.validation_cohort(judging.training_rows(cohort), 0.25, seed=3)
    for name, site in cohort.sites.items():
        val = validation.sites[name]
        test_ids = set(site.source_rows[site.is_test])  # type: ignore[index]
        train_ids = set(site.source_rows[~site.is_test])  # type: ignore[index]
        assert val.source_rows is not None and set(val.source_rows) == train_ids
        chosen = set(val.source_rows[val.is_test])
        assert chosen and chosen <= train_ids and not chosen & test_ids
        assert (~val.is_test).any()  # something is left to train on
    a = validation.sites["a"]  # event-stratified: a quarter of the 9–12 training events
    assert 2 <= int(a.event[a.is_test].sum()) <= 3
    again = judging.validation_cohort(judging.training_rows(cohort), 0.25, seed=3)
    other = judging.validation_cohort(judging.training_rows(cohort), 0.25, seed=4)
    assert np.array_equal(again.sites["a"].is_test, a.is_test)
    assert not np.array_equal(other.sites["a"].is_test, a.is_test)


def test_the_validation_split_refuses_a_cohort_with_test_rows() -> None:
    with pytest.raises(ValueError, match="site 'a': the tuner takes training rows only"):
        judging.validation_cohort(_cohort(), 0.25, seed=0)


def test_a_stratum_of_one_row_stays_in_training() -> None:
    mask = judging.validation_mask(np.array([True] + [False] * 9), 0.5, 0, "s")
    assert not mask[0] and mask.sum() == 5


def test_tcga_tuner_is_given_training_rows_only(monkeypatch: pytest.MonkeyPatch) -> None:
    from bench import tcga_brca

    seen: list[Cohort] = []

    def capture(study: Any, cohort: Cohort, seed: int) -> Any:
        seen.append(cohort)
        raise RuntimeError("captured")

    monkeypatch.setattr(judging, "simulation_of", capture)
    cohort = _cohort()
    with pytest.raises(RuntimeError, match="captured"):
        tcga_brca.tune(tcga_brca.builtin_study("tcga-brca"), judging.training_rows(cohort), 0)
    with pytest.raises(ValueError, match="training rows only"):
        tcga_brca.tune(tcga_brca.builtin_study("tcga-brca"), cohort, 0)
    (given,) = seen
    for name, site in cohort.sites.items():
        test_ids = set(site.source_rows[site.is_test])  # type: ignore[index]
        assert not set(given.sites[name].source_rows) & test_ids  # type: ignore[arg-type]


def test_tcga_best_method_is_named_on_validation_not_test() -> None:
    from bench import tcga_brca

    methods = ["newton_raphson", "pooled", "lifelines_pooled", "local", *tcga_brca.BASE]
    test_c = {m: 0.80 for m in methods} | {"fedavg": 0.90, "fedadam": 0.83}
    per_seed = [
        {m: [{"mean_center_cindex": test_c[m] + 0.001 * s, "pooled_test_cindex": None}]
         for m in methods}
        for s in range(4)
    ]  # fmt: skip
    tuning = {m: {"settings": {}, "validation_cindex": 0.7, "grid": []} for m in methods}
    tuning["fedadam"]["validation_cindex"] = 0.75
    doc = tcga_brca.document(per_seed, tuning, {"fedavg": 0.732})
    assert doc["best_federated_by_validation"] == "fedadam"  # not fedavg, the best on test
    assert doc["n_seeds"] == 4
    within = doc["targets"]["best_within_0.01_of_pooled"]
    assert within["mean"] == 0.03 and within["verdict"] == judging.MET
    assert doc["targets"]["every_federated_ge_0.732"]["verdict"] == judging.MET
    assert doc["beats_flamby"]["fedavg"]["verdict"] == judging.MET


def test_hcc_targets_pair_the_same_seeds() -> None:
    from bench import hcc

    def row(seed: int, fed: float | None) -> dict[str, Any]:
        out: dict[str, Any] = {"seed": seed, "sites": 3, "clinical_only": 0.60 + 0.05 * seed}
        for kind in hcc.MODELS:
            out |= {f"federated_{kind}": fed, f"pooled_{kind}": 0.62 + 0.05 * seed}
            out |= {f"local_{kind}": 0.5, f"localisation_auc_{kind}": 0.9 + 0.01 * seed}
        return out

    offsets = [0.03, 0.031, 0.029, 0.032]  # federated tracks pooled seed by seed
    rows = [row(s, 0.62 + 0.05 * s + d) for s, d in enumerate(offsets)] + [row(4, None)]
    out = hcc.summary([*rows, row(0, 0.1) | {"sites": 10}], 3)
    assert out["n_seeds"] == 5 and out["seeds"] == [0, 1, 2, 3, 4]
    within = out["targets"]["chowder_within_0.02_of_pooled"]
    assert within["n_seeds"] == 4 and within["verdict"] == judging.MET  # seed 4 has no figure
    assert out["targets"]["chowder_above_clinical_only"]["verdict"] == judging.MET
    assert out["targets"]["meanpool_localisation_auc_ge_0.8"]["verdict"] == judging.MET

"""The simulation's references: models that need every row in one place.

*Pooled* trains the study's model on all training rows as one virtual site; the *oracle*
scores the true risk of a synthetic consortium. A real consortium can compute neither —
they let a simulated study show what federation costs or gains. Each reference model is
still evaluated by the real sites on their own test rows, through the federated run, so all
methods are compared alike. (Local-only baselines need no row here: each site trains and
scores its own, :meth:`~accord.studies._federated_run.StudyRun.local_baselines`.)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path

from accord.core import StudySpec, new_id
from accord.data import Cohort, SiteCohort
from accord.fl import Plan, expect_from_plans
from accord.fl.strategies import GlobalState, SiteInfo, single_site_training
from accord.studies._federated_run import StudyRun, with_plan
from accord.studies._fitted import FitDetails
from accord.studies._oracle import oracle_result
from accord.studies._outcome import MethodResult
from accord.studies._simulated_sites import share_cache, simulate_sites

__all__ = ["SimulationReferences"]


@dataclass
class SimulationReferences:
    """Pooled and oracle references of ``run``, from ``cohort`` (every row)."""

    run: StudyRun
    cohort: Cohort
    data_dir: Path | None = None
    feature_cache: Path | None = None

    def pooled(self, study: StudySpec | None = None) -> MethodResult:
        """Reference: the same model trained on all training rows pooled in one place.

        It trains through the sites' own handler, so with the study's loss (the
        logistic-hazard loss where ``model.loss`` says so) and, for a DP-SGD study, with
        DP-SGD on the pooled rows (σ for their number): a simulation-only figure; the pooled
        virtual site is no member, so its ε is no site's spend."""
        study = study or self.run.study
        plan_seq = self.run.begin_plan("pooled", study, ["pooled"])
        state, fit = self._alone({"pooled": self.cohort.pooled()}, study, "pooled")
        return with_plan(self.run.evaluate("pooled", state, ["pooled"], fit), plan_seq)

    def oracle(self) -> MethodResult | None:
        """C of the true risk on the same test rows (synthetic consortia with a truth file)."""
        spec = self.run.study.cohort
        return oracle_result(self.data_dir, spec, self.cohort.sites, self.run.excluded)

    def _alone(
        self, cohorts: Mapping[str, SiteCohort], study: StudySpec, label: str
    ) -> tuple[GlobalState, FitDetails]:
        """Train on ``cohorts`` as a consortium of their own, in clear, with the run's
        preprocessing and the current plan's task settings: plain FedAvg with server
        learning rate 1 (or Newton–Raphson), the study's local settings
        (:func:`~accord.fl.strategies.single_site_training`); the fit's convergence and
        coefficients."""
        infos = tuple(SiteInfo(name, c.n_train) for name, c in cohorts.items())
        setup = Plan.plain(infos)
        study = study.model_copy(update={"training": single_site_training(study.training)})
        plan = replace(
            self.run.plan,
            plan_id=new_id("plan"),
            sites=infos,
            secure=None,
            strategy=self.run.strategy_for(study),
        )
        expect = expect_from_plans([setup, plan])  # the sub-consortium's only plans
        sub, sites = simulate_sites(
            cohorts, self.run.study, self.run.seed, expect={s: expect for s in cohorts}
        )
        if self.feature_cache is not None:
            share_cache(sites, self.feature_cache)
        sub.install(setup, self.run.preprocessor)
        return self.run.train_and_describe(plan, study, label, consortium=sub)

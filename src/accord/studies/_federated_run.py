"""The federated study run: plans, training, evaluation — from what the sites report only.

A :class:`StudyRun` holds the hub's side of a consortium (:class:`Consortium`), the view
the sites gave of themselves (:class:`ConsortiumView`: members, sizes, tile-feature
dimension) and the consortium's preprocessing fitted from their summed statistics. It never
holds a row, so a deployed hub runs exactly this. References that need every row in one
place (pooled, local-only, the oracle) live in :mod:`accord.studies._references` and
exist only in simulation. Every model is evaluated by the real sites on their own test rows.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from accord.core import (
    MIL_KINDS,
    AggregationError,
    Arrays,
    ConfigError,
    PolicyError,
    StudySpec,
    encode_arrays,
    sha256_hex,
)
from accord.data import Preprocessor
from accord.fl import COUNT_KEYS, Plan, PlanBook, RoundLog, WeightedSum, cindex_interval
from accord.fl.strategies import GlobalState, Strategy, build_strategy
from accord.ledger import Entry, decimal
from accord.models import build_model, get_arrays
from accord.models.mil import build_mil
from accord.net import ConfigValue, Reply
from accord.studies._audit import RunLedger
from accord.studies._checkpoints import Checkpoint, PlanCheckpoints
from accord.studies._consortium import Consortium
from accord.studies._fitted import INFORMATION, FitDetails, fit_details, rounds_run
from accord.studies._jsonio import write_bytes_atomic
from accord.studies._outcome import Comparison, Convergence, ExportedImage, MethodResult
from accord.studies._planning import Planner
from accord.studies._risk_groups import RiskGroups, follow_up_end, risk_groups
from accord.studies._view import ConsortiumView
from accord.survival import ConcordanceCounts

__all__ = ["Progress", "StudyRun", "clinical_variant"]

Progress = Callable[[str, int, int], None]


@dataclass
class StudyRun:
    """A consortium that has set up its preprocessing, ready to train methods on."""

    study: StudySpec
    seed: int
    consortium: Consortium
    view: ConsortiumView
    preprocessor: Preprocessor
    planner: Planner
    plan: Plan  # the plan begun last
    progress: Progress | None = None
    excluded: dict[str, str] = field(default_factory=dict)  # sites that failed setup, why
    risk_groups: RiskGroups | None = None  # KM by risk group of the study's model
    exported: dict[str, list[ExportedImage]] = field(default_factory=dict)  # site → images
    notes: list[str] = field(default_factory=list)  # what the run did not release, and why
    local_only: MethodResult | None = None  # the local-only models' summed pair counts
    comparisons: list[Comparison] = field(default_factory=list)  # paired differences in C

    @classmethod
    def start(
        cls,
        study: StudySpec,
        consortium: Consortium,
        seed: int,
        *,
        progress: Progress | None = None,
        audit: RunLedger | None = None,
        checkpoints: PlanCheckpoints | None = None,
        book: PlanBook | None = None,
    ) -> StudyRun:
        """Fit the consortium's preprocessing from the sites' statistics (the first plan).

        With ``audit``, every operation is signed into the run's ledger; ``checkpoints``
        let a restarted hub resume its plans; ``book`` (a ledger-less simulation) is where
        the sites learn each plan.
        """
        planner = Planner(seed, audit, checkpoints, site_study=study, book=book)
        members = ConsortiumView.of_members(consortium.members)
        plan, _ = planner.begin("preprocessing", study, members.site_infos, consortium.members)
        try:
            preprocessor, view = consortium.fit_preprocessing(plan, study)
        except AggregationError as exc:
            _refused_for_clear_sums(plan, study, consortium, exc)
            raise
        run = cls(study, seed, consortium, view, preprocessor, planner, plan, progress)
        for log in consortium.hub.log:  # the first failure says why a site took no part
            for site, reason in log.missing.items():
                run.excluded.setdefault(site, reason)
        return run

    @property
    def audit(self) -> RunLedger | None:
        return self.planner.audit

    @property
    def checkpoints(self) -> PlanCheckpoints | None:
        return self.planner.checkpoints

    def begin_plan(
        self,
        method: str,
        study: StudySpec,
        trained_on: Sequence[str],
        *,
        strategy: Strategy | None = None,
        summed: bool = True,
    ) -> int | None:
        """Make ``method``'s plan the current one; with a ledger, the researcher signs it."""
        self.plan, seq = self.planner.begin(
            method, study, self.view.site_infos, trained_on, strategy=strategy, summed=summed
        )
        return seq

    def initial_params(self, study: StudySpec) -> Arrays:
        """The model's initial parameters (seeded), shaped by what the sites reported."""
        n_clinical = len(self.preprocessor.columns)
        if study.model.kind in MIL_KINDS:
            dim = self.view.feature_dim
            if dim is None:
                raise ConfigError("sites returned no (or different) tile feature dimensions")
            return get_arrays(build_mil(study.model.kind, dim, n_clinical, seed=self.seed))
        return get_arrays(build_model(study.model, n_clinical, self.seed))

    def train(
        self, plan: Plan, study: StudySpec, label: str, consortium: Consortium | None = None
    ) -> GlobalState:
        """Train ``plan``'s strategy on ``consortium`` (this run's by default).

        On this run's consortium, rounds are checkpointed so that a restarted hub resumes.
        """
        consortium = consortium or self.consortium
        rounds = study.training.rounds
        if plan.strategy is not None and plan.strategy.name == "cyclic":
            rounds *= len(plan.sites)
        keep = self.checkpoints if consortium is self.consortium else None
        saved = keep.load(plan.method) if keep is not None else None
        resume = None
        if saved is not None and saved.plan_id == plan.plan_id:
            resume = (saved.rounds_done, saved.state)
            self._record_missed_aggregation(plan, consortium, saved)

        def tick(rnd: int, state: GlobalState) -> None:
            if keep is not None:
                keep.save(plan.method, rnd + 1, state, consortium.hub.log[-1].contributed)
            if self.progress is not None:
                self.progress(label, rnd + 1, rounds)

        initial = self.initial_params(study)
        return consortium.hub.fit(plan, initial, rounds, progress=tick, resume=resume)

    def train_and_describe(
        self, plan: Plan, study: StudySpec, label: str, consortium: Consortium | None = None
    ) -> tuple[GlobalState, FitDetails]:
        """:meth:`train`, then the fit's convergence and coefficients (one more summed
        ``newton`` exchange under ``plan`` for a gradient-trained linear Cox model)."""
        hub = (consortium or self.consortium).hub
        start = len(hub.log)
        state = self.train(plan, study, label, consortium)
        rounds = study.training.rounds
        iterations = rounds_run(hub, plan, start, state, rounds)
        return state, fit_details(hub, plan, study, state, self.preprocessor, iterations)

    def strategy_for(self, study: StudySpec) -> Strategy:
        """``study``'s strategy, knowing the names of the preprocessed columns."""
        return build_strategy(study.training, study.model, self.preprocessor.columns)

    def _record_missed_aggregation(
        self, plan: Plan, consortium: Consortium, saved: Checkpoint
    ) -> None:
        """A hub killed between its checkpoint and its ledger entry signs that entry now,
        so that every round is on the ledger exactly once."""
        rnd = saved.rounds_done - 1
        if self.audit is None or consortium.hub.recorder is None or rnd < 0:
            return
        for stored in self.audit.ledger.store.find(kind="aggregation", plan=plan.plan_id):
            if Entry.parse(stored.entry).payload.get("round") == rnd:
                return
        consortium.hub.record_aggregation(plan, rnd, list(saved.participants), saved.state)

    def evaluate(
        self,
        method: str,
        state: GlobalState,
        trained_on: Sequence[str],
        fit: FitDetails | None = None,
    ) -> MethodResult:
        """Every site scores ``state``'s model under the current plan; signed figures.

        The result lists every site left out of a training round of the plan, of its
        information exchange or of the evaluation, with the reason (also signed: in the
        aggregation and metric entries); ``fit`` adds convergence and coefficients.
        """
        hub = self.consortium.hub
        before = len(hub.log)
        replies, summed = self.consortium.evaluate(self.plan, state.params)
        info_round = fit.information_round if fit is not None else None
        left_out = _left_out(hub.log[:before], hub.log[before:], self.plan.plan_id, info_round)
        seqs = self._completion_entries(replies)
        per_site: dict[str, dict[str, float | int | None]] = {}
        for site, reply in sorted(replies.items()):
            per_site[site] = {**reply.metrics, **reply.counts}
            if site in seqs:
                per_site[site]["ledger_seq"] = seqs[site]
        a = summed.arrays
        total = ConcordanceCounts(
            concordant=float(a["concordant"][0]),
            discordant=float(a["discordant"][0]),
            tied_risk=float(a["tied_risk"][0]),
            comparable=round(float(a["comparable"][0])),
        )
        interval = cindex_interval(a, self.study.evaluation.confidence)
        answered = [s for s in replies if "evaluation" not in left_out.get(s, {})]
        cs = [m["harrell_c"] for m in per_site.values() if m.get("harrell_c") is not None]
        result = MethodResult(
            method=method,
            per_site=per_site,
            consortium_cindex=total.cindex if total.comparable else None,
            consortium_interval=interval,
            mean_site_cindex=float(np.mean(cs)) if cs else None,  # type: ignore[arg-type]
            rounds=fit.convergence.iterations
            if fit is not None
            else len(state.history) or self.study.training.rounds,
            trained_on=tuple(trained_on),
            params=state.params,
            excluded=left_out,
            plan_id=self.plan.plan_id,
            pair_counts=_pair_counts(a),
            bootstrap_counts=a.get("bootstrap_counts"),
            scored_at=_scored_at(answered, summed),
            **_fit_fields(fit),
        )
        lower, upper = interval if interval else (None, None)
        metrics = {
            "consortium_cindex": result.consortium_cindex,
            "mean_site_cindex": result.mean_site_cindex,
            "consortium_cindex_lower": lower,
            "consortium_cindex_upper": upper,
        }
        evaluation = {s: r["evaluation"] for s, r in left_out.items() if "evaluation" in r}
        seq = self.sign_metrics(method, metrics, sorted(seqs.values()), evaluation)
        if seq is None:
            return result
        cited = self._cited_sites(seq)  # a metric signed before a restart cites its own
        for site, figures in per_site.items():
            if site in cited:
                figures["ledger_seq"] = cited[site]
        return replace(result, ledger={"metric_seq": seq})

    def _completion_entries(self, replies: Mapping[str, Reply]) -> dict[str, int]:
        """The ledger seq of each site's signed ``task.completed`` entry for its reply
        (signed in this process or, by remote sites, through the hub's ledger API)."""
        if self.audit is None:
            return {}
        tasks = {r.task_id: site for site, r in replies.items()}
        done = self.audit.completions(self.plan.plan_id, tasks)
        return {site: done[r.task_id] for site, r in replies.items() if r.task_id in done}

    def _cited_sites(self, metric_seq: int) -> dict[str, int]:
        """site -> the seq of the site-signed entry that the metric entry at ``metric_seq``
        cites (in ``derived_from``)."""
        assert self.audit is not None
        store = self.audit.ledger.store
        metric = next(iter(store.read(metric_seq, metric_seq + 1)))
        cited: dict[str, int] = {}
        for seq in Entry.parse(metric.entry).payload.get("derived_from", []):
            for stored in store.read(seq, seq + 1):
                cited[stored.org] = stored.seq
        return cited

    def sign_metrics(
        self,
        method: str,
        metrics: Mapping[str, float | None],
        derived_from: Sequence[int],
        excluded: Mapping[str, str] | None = None,
        *,
        plan_id: str | None = None,
    ) -> int | None:
        """The hub signs consortium figures of the current plan, citing the sites' signed
        entries they derive from and naming the sites left out (with why); every site
        co-signs the checkpoint after them. ``plan_id``: figures of an earlier plan (by
        default the current one's).

        Once per (plan, method): a hub restarted after signing them re-evaluates, finds the
        entry on its log and returns its seq (the figures must be the same, or a
        :class:`~accord.core.LedgerError` names the plan and method).
        """
        if self.audit is None:
            return None
        payload: dict[str, Any] = {
            "plan": plan_id or self.plan.plan_id,
            "method": method,
            "metrics": {k: decimal(v) for k, v in metrics.items()},
            "derived_from": list(derived_from),
        }
        if excluded:
            payload["excluded"] = dict(sorted(excluded.items()))
        seq, found = self.audit.record_once(
            self.audit.hub, "metric", payload, provenance=("derived_from",)
        )
        if found is None:
            self.audit.checkpoint_and_cosign()
        return seq

    def federated(self, study: StudySpec | None = None) -> MethodResult:
        """Train with the study's strategy across all sites."""
        study = study or self.study
        strategy = self.strategy_for(study)
        members = list(self.view.members)
        plan_seq = self.begin_plan(study.training.strategy, study, members, strategy=strategy)
        state, fit = self.train_and_describe(self.plan, study, study.training.strategy)
        if self.audit is not None:
            digest = sha256_hex(encode_arrays(state.params))
            self.audit.register_model(self.plan.plan_id, digest)
        result = self.evaluate(study.training.strategy, state, members, fit)
        return with_plan(result, plan_seq)

    def clinical_only(self, study: StudySpec | None = None) -> MethodResult:
        """Baseline: the site-stratified Cox model on the clinical features alone."""
        clinical = clinical_variant(study or self.study)
        strategy = self.strategy_for(clinical)
        members = list(self.view.members)
        plan_seq = self.begin_plan("clinical_only", clinical, members, strategy=strategy)
        state, fit = self.train_and_describe(self.plan, clinical, "clinical only")
        result = self.evaluate("clinical_only", state, members, fit)
        return with_plan(result, plan_seq)

    def local_baselines(self, study: StudySpec | None = None) -> list[MethodResult]:
        """Baselines: each site trains the study's model on its own training rows alone and
        scores it on its own test rows; only the metrics come back (one signed plan,
        method ``local``, over every member).

        One result per member, ``local:SITE``, ``trained_on=(SITE,)``: its figures are the
        site's (the consortium C of one site's pair counts is its Harrell C); the model
        never leaves the site, so no other site scores it. A site that refuses (its
        policy governs the task like training) or fails is a result with the reason.
        The sites' pair counts (and bootstrap pair counts) of their own models are summed,
        securely where the plan says so, into ``self.local_only`` for the paired
        comparison with the federated model (:mod:`accord.studies._comparisons`).
        """
        study = study or self.study
        members = list(self.view.members)
        plan_seq = self.begin_plan("local", study, members)
        hub = self.consortium.hub
        before = len(hub.log)
        summed: WeightedSum | None = None
        try:
            replies, summed = hub.summed(
                self.plan, "local_baseline", 0, arrays=self.initial_params(study)
            )
        except AggregationError:  # no site answered: each result below says why
            replies = {}
        missing: dict[str, str] = {}
        for site, where in _left_out([], hub.log[before:], self.plan.plan_id).items():
            missing[site] = where["evaluation"]
        self.local_only = self._local_sum(replies, missing, summed)
        seqs = self._completion_entries(replies)
        results = []
        for site in members:
            reply = replies.get(site)
            if reply is None:
                reason = missing.get(site, "no answer")
                results.append(
                    MethodResult(f"local:{site}", {}, None, None, None, 0, (site,), error=reason)
                )
                continue
            results.append(self._local_result(site, reply, seqs.get(site), plan_seq))
        return results

    def _local_sum(
        self, replies: Mapping[str, Reply], missing: Mapping[str, str], summed: WeightedSum | None
    ) -> MethodResult | None:
        """The local-only models together: the consortium sums of each site's pair counts
        of its own model on its own test rows (summed securely where the plan says so)."""
        if summed is None or "bootstrap_counts" not in summed.arrays:
            return None
        a = summed.arrays
        pairs = _pair_counts(a)
        c = ConcordanceCounts(
            float(pairs[0]), float(pairs[1]), float(pairs[2]), round(float(pairs[3]))
        )
        scored_at = _scored_at([s for s in replies if s not in missing], summed)
        return MethodResult(
            "local",
            {},
            c.cindex if c.comparable else None,
            cindex_interval(a, self.study.evaluation.confidence),
            None,
            0,
            scored_at,
            plan_id=self.plan.plan_id,
            pair_counts=pairs,
            bootstrap_counts=a["bootstrap_counts"],
            scored_at=scored_at,
        )

    def _local_result(
        self, site: str, reply: Reply, completion: int | None, plan_seq: int | None
    ) -> MethodResult:
        """A site's local-only baseline from its reply; the hub signs its figures, citing
        the site's signed completion."""
        metrics = dict(reply.metrics)
        rounds = int(metrics.pop("rounds", None) or 0) or self.study.training.rounds
        converged = metrics.pop("converged", None)
        figures: dict[str, float | int | None] = {**metrics, **reply.counts}
        if completion is not None:
            figures["ledger_seq"] = completion
        c = metrics.get("harrell_c")
        lower, upper = metrics.get("harrell_c_lower"), metrics.get("harrell_c_upper")
        interval = (lower, upper) if lower is not None and upper is not None else None
        method = f"local:{site}"
        result = MethodResult(
            method,
            {site: figures},
            c,
            interval,
            c,
            rounds,
            (site,),
            coefficients_note=LOCAL_NOTE,
            convergence=_local_convergence(rounds, converged),
        )
        metrics = {
            "consortium_cindex": c,
            "mean_site_cindex": c,
            "consortium_cindex_lower": lower,
            "consortium_cindex_upper": upper,
        }
        cited = [completion] if completion is not None else []
        seq = self.sign_metrics(method, metrics, cited)
        if seq is not None:
            result = replace(result, ledger={"metric_seq": seq})
        return with_plan(result, plan_seq)

    def interpret(self, result: MethodResult, kind: str | None = None) -> int:
        """Each site renders tile heatmaps of ``result``'s model (of ``kind``, the study's by
        default) into its own folder; the hub learns only how many."""
        config: dict[str, ConfigValue] = {"model": kind or self.study.model.kind}
        replies = self.consortium.hub.broadcast(
            self.plan, "interpret", 0, arrays=result.params, config=config
        )
        return sum(r.counts.get("slides_rendered", 0) for r in replies.values())

    def secure_risk_groups(self) -> bool:
        """Risk groups need secure aggregation (sites answer their tasks only masked);
        without it (two sites, or ``secure_aggregation = "off"``) the report has none."""
        sites = self.view.site_infos
        return (
            len(sites) >= 2
            and Plan.create("risk_groups", sites, self.study.privacy).secure is not None
        )

    def compute_risk_groups(
        self, result: MethodResult, kind: str, end_days: float | None = None
    ) -> RiskGroups | None:
        """Low/high-risk groups of ``result``'s model across the consortium, signed; None
        when too few patients leave no releasable interval."""
        method = f"risk_groups:{result.method}"
        plan_seq = self.begin_plan(method, self.study, list(self.view.members))
        plan = self.plan

        def summed(kind: Any, params: Arrays, config: dict[str, ConfigValue]) -> Any:
            return self.consortium.hub.summed(plan, kind, 0, arrays=params, config=config)

        end = end_days or follow_up_end(self.study.evaluation)
        min_cell = self.study.preprocessing.min_cell_count
        groups, replies = risk_groups(summed, result.method, result.params, kind, end, min_cell)
        if groups is None:
            self.notes.append(
                f"risk groups of {result.method}: too few held-out patients to release a "
                f"Kaplan-Meier table with no cell below min_cell_count ({min_cell})"
            )
            return None
        seq = self.sign_metrics(
            method, groups.ledger_metrics(), sorted(self._completion_entries(replies).values())
        )
        if seq is None:
            return groups
        ledger = (
            {"metric_seq": seq} if plan_seq is None else {"plan_seq": plan_seq, "metric_seq": seq}
        )
        return replace(groups, ledger=ledger)

    def export_tiles(
        self, result: MethodResult, out: Path, patients: int = 1, kind: str | None = None
    ) -> dict[str, list[ExportedImage]]:
        """Ask every site to release the heatmap and top tiles of its ``patients``
        highest-risk test patients; write what the sites' policies let out under ``out``.

        A planned, signed operation: each site checks its policy (``allow-tile-export``,
        ``max-exported-patients``) and signs a ``task.refused`` or ``task.completed`` entry
        whose output hash covers the images. Sites that refuse are listed with their reason.
        """
        self.begin_plan("export_tiles", self.study, list(self.view.members), summed=False)
        config: dict[str, ConfigValue] = {"model": kind or self.study.model.kind}
        config["patients"] = patients
        try:
            replies = self.consortium.hub.broadcast(
                self.plan, "export_tiles", 0, arrays=result.params, config=config
            )
        except AggregationError:  # every site refused: nothing leaves, reasons below
            replies = {}
        done = self._completion_entries(replies)
        self.exported = {}
        for site, reply in sorted(replies.items()):
            folder = out / site
            folder.mkdir(parents=True, exist_ok=True)
            images = []
            for name, array in sorted(reply.arrays.items()):
                path = folder / f"{name}.png"
                write_bytes_atomic(path, array.astype(np.uint8).tobytes())
                images.append(ExportedImage(site, name, path, done.get(site)))
            self.exported[site] = images
        for site, reason in self.consortium.hub.log[-1].missing.items():
            self.excluded.setdefault(f"{site} (tile export)", reason)
        return self.exported


def clinical_variant(study: StudySpec) -> StudySpec:
    """The clinical-only baseline of ``study``: a site-stratified Cox model (Newton-Raphson,
    50 rounds) on the clinical features alone — or, for a DP study, a linear model trained
    with the study's own DP training (no DP mechanism exists for Newton-Raphson); it
    differs from ``study`` only in [model] and [training], so it runs on the sites' same
    study (a function of its own)."""
    model = study.model.model_copy(update={"kind": "linear_cox", "l2": max(study.model.l2, 0.01)})
    if study.privacy.dp != "none":  # no DP mechanism for Newton-Raphson: the study's own
        model = model.model_copy(update={"loss": study.model.loss})  # DP training, linear
        return study.model_copy(update={"model": model})
    model = model.model_copy(update={"loss": "cox"})
    training = study.training.model_copy(update={"strategy": "newton_raphson", "rounds": 50})
    return study.model_copy(update={"model": model, "training": training})


def _refused_for_clear_sums(
    plan: Plan, study: StudySpec, consortium: Consortium, failure: AggregationError
) -> None:
    """Say what the researcher must change when every site that answered nothing refused
    the preprocessing plan because its policy forces secure aggregation and the study sums
    in clear (:class:`PolicyError`); return otherwise."""
    missing = consortium.hub.log[-1].missing if consortium.hub.log else {}
    if plan.secure is not None or not missing:
        return
    if not all("force-secure-aggregation" in reason for reason in missing.values()):
        return
    mode, n = study.privacy.secure_aggregation, len(plan.sites)
    raise PolicyError(
        f"{len(missing)} of {n} sites refused the preprocessing plan: their policy forces "
        f"secure aggregation (force-secure-aggregation) and the study sums in clear "
        f"(privacy.secure_aggregation = '{mode}' with {n} sites); set "
        "privacy.secure_aggregation = 'on' (reasons signed on the ledger as task.refused)"
    ) from failure


def _left_out(
    training: Sequence[RoundLog],
    evaluation: Sequence[RoundLog],
    plan_id: str,
    information_round: int | None = None,
) -> dict[str, dict[str, str]]:
    """site -> {"round R": reason, "information (round R)": reason, "evaluation": reason}
    for ``plan_id``'s exchanges (the first reason of each round)."""
    out: dict[str, dict[str, str]] = {}
    for logs, label in ((training, None), (evaluation, "evaluation")):
        for entry in logs:
            if entry.plan != plan_id:
                continue
            name = label or f"round {entry.round}"
            if label is None and entry.round == information_round:
                name = f"{INFORMATION} (round {entry.round})"
            for site, reason in entry.missing.items():
                out.setdefault(site, {}).setdefault(name, reason)
    return out


def _pair_counts(summed: Arrays) -> np.ndarray:
    """The summed pair counts of an evaluation, (4,) in ``COUNT_KEYS`` order."""
    return np.array([float(summed[k][0]) for k in COUNT_KEYS])


def _scored_at(answered: Sequence[str], summed: WeightedSum) -> tuple[str, ...]:
    """The sites whose test rows a sum counts: those that answered, when the sum holds as
    many contributions; empty when the hub cannot tell."""
    return tuple(sorted(answered)) if len(answered) == summed.count else ()


LOCAL_NOTE = "a local-only model never leaves its site: no coefficients are released"


def _local_convergence(rounds: int, converged: float | None) -> Convergence:
    """A local-only baseline's ending, as its site reported it."""
    if converged is None:
        return Convergence(rounds, None, "fixed number of gradient rounds (no convergence test)")
    return Convergence(rounds, bool(converged), "Newton–Raphson at the site (step < tol)")


def _fit_fields(fit: FitDetails | None) -> dict[str, Any]:
    """The :class:`MethodResult` fields that ``fit`` gives."""
    if fit is None:
        return {}
    table = fit.table
    return {
        "convergence": fit.convergence,
        "coefficients": table.original if table else (),
        "coefficients_standardised": table.standardised if table else (),
        "coefficients_note": fit.note,
    }


def with_plan(result: MethodResult, plan_seq: int | None) -> MethodResult:
    """``result`` citing the ledger seq of its plan's submission."""
    if plan_seq is None:
        return result
    return replace(result, ledger={"plan_seq": plan_seq, **result.ledger})

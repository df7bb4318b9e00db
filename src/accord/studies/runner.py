"""Run a study: federated training, evaluation, and the pooled and local-only baselines.

Pooled and local-only are *reference* baselines of the simulation (pooled puts every
training row in one virtual site, which a real consortium cannot do); they let a study
show what federation costs or gains. Every model is evaluated by the real sites on their
own test rows, so all methods are compared on the same footing.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from accord.core.codec import Arrays, encode_arrays
from accord.core.config import MIL_KINDS, PrivacySpec, StudySpec, TrainingSpec
from accord.core.errors import AccordError, AggregationError, ConfigError
from accord.core.hashing import sha256_hex
from accord.core.ids import new_id
from accord.data import Cohort, Preprocessor, load_cohort
from accord.fl.evaluation import cindex_interval
from accord.fl.secure import SecureSettings
from accord.fl.strategies import GlobalState, build_strategy
from accord.ledger.entry import Entry, decimal
from accord.models import build_model, get_arrays
from accord.models.mil import build_mil
from accord.net.messages import ConfigValue, Reply
from accord.privacy import gaussian_mechanism_epsilon, most_conservative
from accord.studies.audit import RunLedger
from accord.studies.checkpoints import Checkpoint, PlanCheckpoints
from accord.studies.consortium import Consortium, Observer
from accord.studies.jsonio import write_bytes_atomic
from accord.studies.oracle import oracle_result
from accord.studies.risk_groups import RiskGroups, risk_groups
from accord.survival.concordance import ConcordanceCounts

__all__ = ["MethodResult", "StudyRun", "run_study"]

ConsortiumFactory = Callable[..., Consortium]
Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class MethodResult:
    """How one trained model did at every site (site-level metrics only)."""

    method: str
    per_site: dict[str, dict[str, float | int | None]]
    consortium_cindex: float | None
    consortium_interval: tuple[float, float] | None
    mean_site_cindex: float | None
    rounds: int
    trained_on: tuple[str, ...]
    params: Arrays = field(default_factory=dict, repr=False)
    error: str = ""
    ledger: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class ExportedImage:
    """A tile image a site released under its policy, and the ledger entry that says so."""

    site: str
    name: str
    path: Path
    ledger_seq: int | None


@dataclass
class StudyRun:
    """A loaded cohort and its simulated consortium, ready to train methods on."""

    study: StudySpec
    cohort: Cohort
    seed: int
    consortium: Consortium
    preprocessor: Preprocessor
    progress: Progress | None = None
    audit: RunLedger | None = None
    feature_cache: Path | None = None
    excluded: dict[str, str] = field(default_factory=dict)  # sites that failed setup, why
    risk_groups: RiskGroups | None = None  # KM by risk group of the study's model
    oracle: MethodResult | None = None  # C of the true risk (synthetic consortia only)
    exported: dict[str, list[ExportedImage]] = field(default_factory=dict)  # site → images
    checkpoints: PlanCheckpoints | None = None  # a restarted hub resumes its plans
    _plan_label: str = ""

    @classmethod
    def prepare(
        cls,
        study: StudySpec,
        data_dir: Path | None,
        seed: int,
        observer: Observer | None = None,
        progress: Progress | None = None,
        ledger_dir: Path | None = None,
        audit: RunLedger | None = None,
        feature_cache: Path | None = None,
        network: ConsortiumFactory | None = None,
        checkpoints: PlanCheckpoints | None = None,
    ) -> StudyRun:
        """Load the cohort, build the consortium and fit the preprocessing.

        With ``ledger_dir``, every operation is signed into ``ledger_dir/ledger.sqlite`` and
        each site keeps a verified replica under ``ledger_dir/sites/NAME/``. ``network``
        builds the consortium instead of the in-process simulation (sites in other
        processes: :class:`accord.services.loopback.LoopbackConsortium`).
        """
        cohort = load_cohort(study.cohort, data_dir, seed, preprocessing=study.preprocessing)
        if audit is None and ledger_dir is not None:
            audit = RunLedger.create(ledger_dir, study, cohort)
        consortium = (network or Consortium.simulate)(
            cohort.sites,
            study,
            seed,
            observer,
            recorder=audit.recorder if audit else None,
            signers=audit.sites if audit else None,
            policies={s: audit.policy_check(s) for s in audit.governance} if audit else None,
            datasets=audit.datasets if audit else None,
            public_key_of=audit.public_key if audit else None,
        )
        run = cls(study, cohort, seed, consortium, None, progress, audit, feature_cache)  # type: ignore[arg-type]
        run.checkpoints = checkpoints
        if feature_cache is not None:
            consortium.share_cache(feature_cache)
        run.begin_plan("preprocessing", study, list(cohort.sites))
        run.preprocessor = consortium.fit_preprocessing(study)
        for log in consortium.hub.log:  # the first failure says why a site took no part
            for site, reason in log.missing.items():
                run.excluded.setdefault(site, reason)
        return run

    def begin_plan(self, method: str, study: StudySpec, trained_on: Sequence[str]) -> int | None:
        """A fresh plan id for the hub; with a ledger, the researcher signs the submission."""
        hub = self.consortium.hub
        resumed = self.checkpoints.plan(method) if self.checkpoints else None
        hub.plan_id = resumed[0] if resumed else new_id("plan")
        self._plan_label = method
        hub.secure = self._secure_settings(study, method)
        hub.task_config = {
            "rounds": study.training.rounds,
            "n_sites": len(self.cohort.sites),
            "model": study.model.kind,
        }
        hub.task_config |= privacy_config(study.privacy)
        if self.audit is None:
            return None
        function = self.audit.register_function(study)
        hub.task_config["function"] = function
        if resumed:  # the plan is already on the ledger: carry on with it
            return resumed[1]
        payload = {
            "study": study.study.name,
            "method": method,
            "config_hash": study.config_hash(),
            "function": function,
            "strategy": study.training.strategy,
            "rounds": study.training.rounds,
            "secure_aggregation": hub.secure is not None,
            "dp_epsilon": decimal(planned_epsilon(study.privacy, study.training)),
            "trained_on": list(trained_on),
            "seed": self.seed,
        }
        seq = self.audit.submit_plan(hub.plan_id, payload)
        if self.checkpoints is not None:
            self.checkpoints.begin(method, hub.plan_id, seq)
        return seq

    def _secure_settings(self, study: StudySpec, method: str) -> SecureSettings | None:
        """Secure aggregation for this plan: the study's setting, by default on for > 2 sites.

        Strategies that need individual updates (Cyclic) run without it under "auto" and
        are refused under "on". Preprocessing statistics are not securely summed yet.
        """
        privacy = study.privacy
        if method in CLEAR_PLANS or not privacy.secure_for(len(self.cohort.sites)):
            return None
        strategy = build_strategy(study.training, study.model)
        if strategy.needs_individual_updates and method == study.training.strategy:
            if privacy.secure_aggregation == "on":
                raise ConfigError(
                    f"privacy.secure_aggregation = 'on' cannot run strategy '{strategy.name}', "
                    "which needs each site's individual update"
                )
            return None
        return SecureSettings(
            privacy.secagg_clip, privacy.secagg_threshold, privacy.secagg_neighbours
        )

    def _initial(self, study: StudySpec) -> Arrays:
        n_clinical = len(self.preprocessor.columns)
        if study.model.kind in MIL_KINDS:
            dim = self.consortium.feature_dim
            if dim is None:
                raise ConfigError("sites returned no (or different) tile feature dimensions")
            return get_arrays(build_mil(study.model.kind, dim, n_clinical, seed=self.seed))
        return get_arrays(build_model(study.model, n_clinical, self.seed))

    def _train(self, consortium: Consortium, study: StudySpec, label: str) -> GlobalState:
        strategy = build_strategy(study.training, study.model)
        rounds = study.training.rounds
        if strategy.name == "cyclic":
            rounds *= len(consortium.hub.sites)

        keep = self.checkpoints if consortium is self.consortium else None
        plan = self._plan_label
        saved = keep.load(plan) if keep is not None else None
        resume = None
        if saved is not None and saved.plan_id == consortium.hub.plan_id:
            resume = (saved.rounds_done, saved.state)
            self._record_missed_aggregation(consortium, saved)

        def tick(rnd: int, state: GlobalState) -> None:
            if keep is not None:
                keep.save(plan, rnd + 1, state, consortium.hub.log[-1].contributed)
            if self.progress is not None:
                self.progress(label, rnd + 1, rounds)

        initial = self._initial(study)
        return consortium.hub.fit(strategy, initial, rounds, progress=tick, resume=resume)

    def _record_missed_aggregation(self, consortium: Consortium, saved: Checkpoint) -> None:
        """A hub killed between its checkpoint and its ledger entry signs that entry now,
        so that every round is on the ledger exactly once."""
        hub, rnd = consortium.hub, saved.rounds_done - 1
        if self.audit is None or hub.recorder is None or rnd < 0:
            return
        for stored in self.audit.ledger.store.find(kind="aggregation", plan=hub.plan_id):
            if Entry.parse(stored.entry).payload.get("round") == rnd:
                return
        hub.record_aggregation(rnd, list(saved.participants), saved.state)

    def evaluate(self, method: str, state: GlobalState, trained_on: Sequence[str]) -> MethodResult:
        replies, summed = self.consortium.evaluate(state.params)
        seqs = self._evaluation_entries(replies)
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
        boot = a.get("bootstrap_counts")
        interval = (
            cindex_interval(boot, self.study.evaluation.confidence) if boot is not None else None
        )
        cs = [m["harrell_c"] for m in per_site.values() if m.get("harrell_c") is not None]
        result = MethodResult(
            method=method,
            per_site=per_site,
            consortium_cindex=total.cindex if total.comparable else None,
            consortium_interval=interval,
            mean_site_cindex=float(np.mean(cs)) if cs else None,  # type: ignore[arg-type]
            rounds=len(state.history) or self.study.training.rounds,
            trained_on=tuple(trained_on),
            params=state.params,
        )
        return self._record_result(result, seqs)

    def _evaluation_entries(self, replies: Mapping[str, Reply]) -> dict[str, int]:
        if self.audit is None:
            return {}
        done = self.audit.recorder.completed
        return {site: done[r.task_id] for site, r in replies.items() if r.task_id in done}

    def _record_result(self, result: MethodResult, seqs: dict[str, int]) -> MethodResult:
        """The hub signs the consortium figures, citing the sites' signed metrics."""
        if self.audit is None:
            return result
        payload = {
            "plan": self.consortium.hub.plan_id,
            "method": result.method,
            "metrics": {
                "consortium_cindex": decimal(result.consortium_cindex),
                "mean_site_cindex": decimal(result.mean_site_cindex),
                "consortium_cindex_lower": decimal(
                    result.consortium_interval[0] if result.consortium_interval else None
                ),
                "consortium_cindex_upper": decimal(
                    result.consortium_interval[1] if result.consortium_interval else None
                ),
            },
            "derived_from": sorted(seqs.values()),
        }
        seq = self.audit.recorder.record(self.audit.hub, "metric", payload)
        self.audit.checkpoint_and_cosign()
        return replace(result, ledger={"metric_seq": seq, **result.ledger})

    def federated(self, study: StudySpec | None = None) -> MethodResult:
        """Train with the study's strategy across all sites."""
        study = study or self.study
        plan_seq = self.begin_plan(study.training.strategy, study, list(self.cohort.sites))
        state = self._train(self.consortium, study, study.training.strategy)
        if self.audit is not None:
            digest = sha256_hex(encode_arrays(state.params))
            self.audit.register_model(self.consortium.hub.plan_id, digest)
        result = self.evaluate(study.training.strategy, state, list(self.cohort.sites))
        return _with_plan(result, plan_seq)

    def _alone(self, cohorts: dict[str, object], study: StudySpec, label: str) -> GlobalState:
        sub = Consortium.simulate(cohorts, self.study, self.seed)  # type: ignore[arg-type]
        if self.feature_cache is not None:
            sub.share_cache(self.feature_cache)
        sub.install(self.preprocessor)
        sub.feature_dim = sub.feature_dim or self.consortium.feature_dim
        sub.hub.task_config = {**self.consortium.hub.task_config}
        if study.training.strategy != "newton_raphson":
            training = study.training.model_copy(update={"strategy": "fedavg"})
            study = study.model_copy(update={"training": training})
        return self._train(sub, study, label)

    def interpret(self, result: MethodResult, kind: str | None = None) -> int:
        """Each site renders tile heatmaps of ``result``'s model (of ``kind``, the study's by
        default) into its own folder; the hub learns only how many."""
        if self.audit is not None:
            for site, folder in self.audit.site_folders().items():
                if site in self.consortium.sites:  # site processes know their own folder
                    self.consortium.sites[site].context.state["site_dir"] = str(folder)
        config: dict[str, ConfigValue] = {"model": kind or self.study.model.kind}
        replies = self.consortium.hub.broadcast(
            "interpret", rnd=0, arrays=result.params, config=config
        )
        return sum(r.counts.get("slides_rendered", 0) for r in replies.values())

    def secure_risk_groups(self) -> bool:
        """Risk groups need secure aggregation (sites answer their tasks only masked);
        without it (two sites, or ``secure_aggregation = "off"``) the report has none."""
        return (
            len(self.cohort.sites) >= 2
            and self._secure_settings(self.study, "risk_groups") is not None
        )

    def export_tiles(
        self, result: MethodResult, out: Path, patients: int = 1, kind: str | None = None
    ) -> dict[str, list[ExportedImage]]:
        """Ask every site to release the heatmap and top tiles of its ``patients``
        highest-risk test patients; write what the sites' policies let out under ``out``.

        A planned, signed operation: each site checks its policy (``allow-tile-export``,
        ``max-exported-patients``) and signs a ``task.refused`` or ``task.completed`` entry
        whose output hash covers the images. Sites that refuse are listed with their reason.
        """
        self.begin_plan("export_tiles", self.study, list(self.cohort.sites))
        config: dict[str, ConfigValue] = {"model": kind or self.study.model.kind}
        config["patients"] = patients
        try:
            replies = self.consortium.hub.broadcast(
                "export_tiles", rnd=0, arrays=result.params, config=config
            )
        except AggregationError:  # every site refused: nothing leaves, reasons below
            replies = {}
        done = self.audit.recorder.completed if self.audit is not None else {}
        self.exported = {}
        for site, reply in sorted(replies.items()):
            folder = out / site
            folder.mkdir(parents=True, exist_ok=True)
            images = []
            for name, array in sorted(reply.arrays.items()):
                path = folder / f"{name}.png"
                write_bytes_atomic(path, array.astype(np.uint8).tobytes())
                images.append(ExportedImage(site, name, path, done.get(reply.task_id)))
            self.exported[site] = images
        for site, reason in self.consortium.hub.log[-1].missing.items():
            self.excluded.setdefault(f"{site} (tile export)", reason)
        return self.exported

    def clinical_only(self, study: StudySpec | None = None) -> MethodResult:
        """Baseline: the site-stratified Cox model on the clinical features alone."""
        study = study or self.study
        model = study.model.model_copy(
            update={"kind": "linear_cox", "l2": max(study.model.l2, 0.01)}
        )
        training = study.training.model_copy(update={"strategy": "newton_raphson", "rounds": 50})
        clinical = study.model_copy(update={"model": model, "training": training})
        plan_seq = self.begin_plan("clinical_only", clinical, list(self.cohort.sites))
        state = self._train(self.consortium, clinical, "clinical only")
        result = self.evaluate("clinical_only", state, list(self.cohort.sites))
        return _with_plan(result, plan_seq)

    def pooled(self, study: StudySpec | None = None) -> MethodResult:
        """Reference: the same model trained on all training rows pooled in one place."""
        study = study or self.study
        plan_seq = self.begin_plan("pooled", study, ["pooled"])
        state = self._alone({"pooled": self.cohort.pooled()}, study, "pooled")
        return _with_plan(self.evaluate("pooled", state, ["pooled"]), plan_seq)

    def local(self, site: str, study: StudySpec | None = None) -> MethodResult:
        """Reference: the model trained on one site's rows only, evaluated everywhere."""
        study = study or self.study
        plan_seq = self.begin_plan(f"local:{site}", study, [site])
        try:
            state = self._alone({site: self.cohort.sites[site]}, study, f"local {site}")
        except AccordError as exc:
            return MethodResult(f"local:{site}", {}, None, None, None, 0, (site,), error=str(exc))
        return _with_plan(self.evaluate(f"local:{site}", state, [site]), plan_seq)


CLEAR_PLANS = ("preprocessing", "export_tiles")  # plans whose replies are not summed

DP_FIELDS = ("dp", "epsilon", "delta", "max_grad_norm", "noise_multiplier", "clip_norm")


def privacy_config(privacy: PrivacySpec) -> dict[str, ConfigValue]:
    """The plan's DP settings as task config: sites apply the plan's, not a default."""
    values = privacy.model_dump()
    return {f"dp.{k}": values[k] for k in DP_FIELDS if values[k] is not None}


def planned_epsilon(privacy: PrivacySpec, training: TrainingSpec) -> float | None:
    """The ε a plan declares (sites check it against their budgets), or None without DP."""
    if privacy.dp == "dpsgd":
        return privacy.epsilon
    if privacy.dp == "dpfedavg" and privacy.noise_multiplier is not None:
        spent = gaussian_mechanism_epsilon(privacy.noise_multiplier, training.rounds, privacy.delta)
        return most_conservative(spent).epsilon
    return None


def _with_plan(result: MethodResult, plan_seq: int | None) -> MethodResult:
    if plan_seq is None:
        return result
    return replace(result, ledger={"plan_seq": plan_seq, **result.ledger})


def run_study(
    study: StudySpec,
    data_dir: Path | None,
    seed: int,
    observer: Observer | None = None,
    progress: Progress | None = None,
    ledger_dir: Path | None = None,
    feature_cache: Path | None = None,
    audit: RunLedger | None = None,
    network: ConsortiumFactory | None = None,
    checkpoints: PlanCheckpoints | None = None,
) -> tuple[StudyRun, list[MethodResult]]:
    """The study's federated method, then its baselines; returns every method's result.

    ``feature_cache`` (simulation): one folder where every site keeps its tile features.
    ``audit`` and ``network``: see :meth:`StudyRun.prepare`.
    """
    run = StudyRun.prepare(
        study,
        data_dir,
        seed,
        observer,
        progress,
        ledger_dir,
        audit=audit,
        feature_cache=feature_cache,
        network=network,
        checkpoints=checkpoints,
    )
    results = [run.federated()]
    baselines = study.training.baselines
    if "clinical_only" in baselines and study.model.kind != "linear_cox":
        results.append(run.clinical_only())
    if "pooled" in baselines:
        results.append(run.pooled())
    if "local" in baselines:
        results.extend(run.local(site) for site in run.cohort.sites)
    if study.study.task == "survival" and results[0].params and run.secure_risk_groups():
        run.risk_groups = risk_groups(run, results[0], study.model.kind)
    run.oracle = oracle_result(run, data_dir)
    return run, results

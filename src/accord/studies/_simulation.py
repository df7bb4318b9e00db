"""A simulated study: every site's rows on this machine, the federated run, the references.

:meth:`Simulation.prepare` loads the cohort folder, builds the sites (in this process, or
as processes behind a hub service: ``network``) and starts the federated
:class:`~accord.studies._federated_run.StudyRun`, which sees only what the sites reply.
Because the simulation holds every row, it also offers the references a real consortium
cannot compute (:class:`~accord.studies._references.SimulationReferences`: pooled,
oracle), labelled as such in results and reports. Local-only baselines are no reference:
each site trains and scores them itself (:meth:`StudyRun.local_baselines`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypedDict, Unpack

from accord.core import StudySpec
from accord.data import Cohort, load_cohort
from accord.fl import ExpectSecure, LedgerRecorder, PlanBook, Site
from accord.studies._audit import RunLedger
from accord.studies._checkpoints import PlanCheckpoints
from accord.studies._comparisons import with_comparisons
from accord.studies._consortium import Consortium
from accord.studies._deployed import federated_methods, with_risk_groups
from accord.studies._federated_run import Progress, StudyRun
from accord.studies._outcome import MethodResult
from accord.studies._references import SimulationReferences
from accord.studies._simulated_sites import Observer, share_cache, simulate_sites
from accord.studies._stopping import RunStopped

__all__ = ["NetworkFactory", "Options", "Simulation", "run_study"]

NetworkFactory = Callable[[LedgerRecorder | None], Consortium]
"""The hub's side of a consortium whose sites run elsewhere (``HubService.consortium``)."""


class Options(TypedDict, total=False):
    """How a simulation runs (every key optional).

    ``ledger_dir``: sign every operation into ``ledger_dir/ledger.sqlite``, each site
    keeping a verified replica under ``ledger_dir/sites/NAME/``; or ``audit``, a run's
    ledger already open. ``network``: the hub's side of a consortium whose sites run as
    processes (:class:`accord.services.LoopbackConsortium`) instead of here.
    ``feature_cache``: one folder where every simulated site keeps its tile features.
    ``observer`` sees every reply's wire bytes; ``progress`` every training round;
    ``checkpoints`` let a restarted hub resume its plans. ``keys_dir``: keep every
    organisation's private key there; with ``resume``, carry on the run begun in
    ``ledger_dir`` with those keys (its log, replicas and, via ``checkpoints``, its rounds).
    """

    observer: Observer | None
    progress: Progress | None
    ledger_dir: Path | None
    audit: RunLedger | None
    feature_cache: Path | None
    network: NetworkFactory | None
    checkpoints: PlanCheckpoints | None
    keys_dir: Path | None
    resume: bool


@dataclass
class Simulation:
    """A study on a cohort folder: the federated run, its sites, its references."""

    run: StudyRun
    cohort: Cohort
    references: SimulationReferences
    sites: dict[str, Site] = field(default_factory=dict)  # empty when sites are processes
    oracle: MethodResult | None = None  # C of the true risk (synthetic consortia only)

    @classmethod
    def prepare(
        cls, study: StudySpec, data_dir: Path | None, seed: int, **options: Unpack[Options]
    ) -> Simulation:
        """Load the cohort, build the consortium and fit the preprocessing (see
        :class:`Options`)."""
        observer, ledger_dir = options.get("observer"), options.get("ledger_dir")
        audit, network = options.get("audit"), options.get("network")
        feature_cache = options.get("feature_cache")
        cohort = load_cohort(study.cohort, data_dir, seed, preprocessing=study.preprocessing)
        keys_dir = options.get("keys_dir")
        if audit is None and ledger_dir is not None:
            if options.get("resume") and keys_dir is not None:
                audit = RunLedger.reopen(ledger_dir, keys_dir, study, cohort)
            else:
                audit = RunLedger.create(ledger_dir, study, cohort, keys_dir)
        recorder = audit.recorder if audit else None
        sites: dict[str, Site] = {}
        # sites take each plan's secure rounds from the signed plan on their replica; in a
        # ledger-less simulation, from the plans the run makes (one trusted process)
        book = PlanBook() if audit is None and network is None else None
        expect: dict[str, ExpectSecure] | None = None
        if book is not None:
            expect = {site: book.expect for site in cohort.sites}
        elif audit is not None:
            expect = {site: gov.expect_secure for site, gov in audit.governance.items()}
        if network is not None:
            consortium = network(recorder)
        else:
            consortium, sites = simulate_sites(
                cohort.sites,
                study,
                seed,
                observer,
                recorder=recorder,
                signers=audit.sites if audit else None,
                policies={s: audit.policy_check(s) for s in audit.governance} if audit else None,
                datasets=audit.datasets if audit else None,
                public_key_of=audit.public_key if audit else None,
                folders=audit.site_folders() if audit else None,
                expect=expect,
            )
        if feature_cache is not None:
            share_cache(sites, feature_cache)
        run = StudyRun.start(
            study,
            consortium,
            seed,
            progress=options.get("progress"),
            audit=audit,
            checkpoints=options.get("checkpoints"),
            book=book,
        )
        references = SimulationReferences(run, cohort, data_dir, feature_cache)
        return cls(run, cohort, references, sites)


def run_study(
    study: StudySpec, data_dir: Path | None, seed: int, **options: Unpack[Options]
) -> tuple[Simulation, list[MethodResult]]:
    """The study's federated method, then its baselines (clinical-only; local-only, run
    at each site) and references (pooled); every result.

    ``options``: see :class:`Options`.
    """
    sim = Simulation.prepare(study, data_dir, seed, **options)
    opened = sim.run.audit if options.get("audit") is None else None
    try:
        return sim, _results(sim, study)
    except RunStopped:  # a safe point: the log ends in a co-signed checkpoint
        if opened is not None:
            try:
                opened.seal()
            finally:
                opened.close()
        raise
    except BaseException:  # an error: the ledger this run opened, closed
        if opened is not None:
            opened.close()
        raise


def _results(sim: Simulation, study: StudySpec) -> list[MethodResult]:
    run, references = sim.run, sim.references
    results = federated_methods(run)
    baselines = study.training.baselines
    if "pooled" in baselines:
        results.append(references.pooled())
    if "local" in baselines:
        results.extend(run.local_baselines())  # trained and scored at each site
    with_comparisons(run, results)  # the study's model against its baselines, paired
    with_risk_groups(run, results)
    sim.oracle = references.oracle()
    return results

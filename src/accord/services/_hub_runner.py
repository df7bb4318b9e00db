"""The long-running hub of a deployed consortium: it runs what researchers submit.

``accord hub serve --config hub.toml`` (a ``hub.toml`` without ``study``) serves the
consortium's ledger and task queue and watches the ledger for ``study.submitted``
entries, which researchers sign from their own machines (``accord submit --hub URL``).
Each run, up to ``[hub] parallel`` at once:

1. waits — visibly, ``waiting for approval`` with the sites it waits on — until the owner
   of every dataset it names has approved every function it runs (``accord site
   approve`` at the site); a rejection ends it (``study.finished``, status rejected);
2. runs the study's federated methods on those sites (:func:`accord.studies.run_federated`:
   preprocessing from the sites' statistics, training, evaluation at the sites), signing
   each plan on the researcher's behalf, citing the submission (sites check that it stays
   inside it), checkpointing every round under ``checkpoints/RUN/``;
3. writes ``runs/RUN/results.json`` and ``report.html`` and signs ``study.finished``.

The hub holds no row and no other organisation's key: sites register their datasets
themselves, and what it knows of them is what they reply. Stopped (SIGTERM) mid-run, a
started-again hub resumes each unfinished run from its checkpoints.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from accord.core import StudySpec
from accord.crypto import Identity
from accord.fl.governance import STUDY_FINISHED, GovernanceView, Submission
from accord.ledger import Entry
from accord.services._hub_service import Deployment, HubService
from accord.studies import (
    PlanCheckpoints,
    RunLedger,
    results_document,
    run_federated,
    write_json_atomic,
    write_model_files,
    write_report,
)

__all__ = ["ConsortiumHub", "RunStatus"]

log = logging.getLogger("accord.hub")


@dataclass
class RunStatus:
    """What ``accord status --hub URL`` shows of a run (ids, states and counts only)."""

    run: str
    study: str
    submitted_by: str
    state: str = "queued"  # queued | waiting for approval | running | finished | failed | ...
    waiting_on: list[str] = field(default_factory=list)
    sites: list[str] = field(default_factory=list)
    step: str = ""
    round: int = 0
    rounds: int = 0
    reason: str = ""
    updated: float = field(default_factory=time.time)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class ConsortiumHub:
    """A deployment's hub service and the threads that run its submissions."""

    def __init__(
        self,
        folder: Path,
        hub: Identity,
        stop: threading.Event,
        *,
        make_service: Callable[[Deployment], HubService],
        parallel: int = 1,
        poll_s: float = 1.0,
    ) -> None:
        self.folder = folder
        self.hub = hub
        self.stop = stop
        self.parallel = parallel
        self.poll_s = poll_s
        self.runs: dict[str, RunStatus] = {}
        self.threads: dict[str, threading.Thread] = {}
        self._lock = threading.Lock()
        self.service = make_service(Deployment(folder, hub))

    # --- the loop ---------------------------------------------------------------------------

    def serve(self, started: Callable[[str], None] | None = None) -> None:
        """Serve until ``stop`` is set; start each submitted run as its turn comes."""
        url = self.service.start()
        log.info("hub serving %s (members: %s)", url, ", ".join(sorted(self.service.members())))
        if started is not None:
            started(url)
        try:
            while not self.stop.is_set():
                self._start_runs(self.view())
                self.stop.wait(self.poll_s)
        finally:
            log.info("hub stopping: %d run(s) unfinished resume at the next start", self.active())
            self.service.close()
            for thread in list(self.threads.values()):
                thread.join(timeout=5.0)
            log.info("hub stopped")

    def view(self) -> GovernanceView:
        return self.service.view.update(self.service.ledger.store)

    def active(self) -> int:
        return sum(1 for t in self.threads.values() if t.is_alive())

    def _start_runs(self, view: GovernanceView) -> None:
        for sub in sorted(view.submissions.values(), key=lambda s: s.seq):
            status = self.runs.get(sub.run)
            if status is None:
                status = RunStatus(sub.run, sub.study, sub.submitter)
                if sub.status is not None:
                    status.state, status.reason = sub.status, sub.reason
                self.runs[sub.run] = status
            if sub.status is not None or sub.run in self.threads:
                continue
            if self.active() >= self.parallel:
                continue
            thread = threading.Thread(
                target=self._run, args=(sub,), name=f"run-{sub.run}", daemon=True
            )
            self.threads[sub.run] = thread
            thread.start()

    # --- one run ----------------------------------------------------------------------------

    def _run(self, sub: Submission) -> None:
        status = self.runs[sub.run]
        try:
            sites = self._wait_for_approval(sub, status)
            if sites is None:
                return
            self._carry_out(sub, status, sites)
        except Exception as exc:
            if self.stop.is_set():
                log.info("run %s interrupted by the hub's shutdown", sub.run)
                return
            log.error("run %s failed: %s: %s", sub.run, type(exc).__name__, exc)
            self._finish(sub, status, "failed", f"{type(exc).__name__}: {exc}")

    def _wait_for_approval(self, sub: Submission, status: RunStatus) -> dict[str, str] | None:
        """site -> dataset once every owner approved every function; None if it ended."""
        functions = sorted(set(sub.functions.values()))
        while not self.stop.is_set():
            view = self.view()
            missing = [
                d for d in sub.datasets if d not in view.datasets or not view.datasets[d].enabled
            ]
            if missing:
                self._finish(sub, status, "failed", f"dataset {missing[0]} is not registered")
                return None
            sites = {view.datasets[d].site: d for d in sub.datasets}
            if len(sites) != len(sub.datasets):
                self._finish(sub, status, "failed", "two datasets of one site in one run")
                return None
            for dataset in sub.datasets:
                for function in functions:
                    decision = view.decision(function, dataset)
                    if decision is not None and not decision.approved:
                        why = f"function {function[:12]} was rejected for dataset {dataset}"
                        self._finish(sub, status, "rejected", f"{why}: {decision.reason}")
                        return None
            pending = sorted(
                {
                    view.datasets[d].site
                    for d in sub.datasets
                    for f in functions
                    if not view.is_approved(f, d)
                }
            )
            if not pending:
                return sites
            if pending != status.waiting_on:
                log.info("run %s waiting for approval from %s", sub.run, ", ".join(pending))
            status.state, status.waiting_on, status.updated = (
                "waiting for approval",
                pending,
                time.time(),
            )
            self.stop.wait(self.poll_s)
        return None

    def _carry_out(self, sub: Submission, status: RunStatus, sites: dict[str, str]) -> None:
        view = self.view()
        study = StudySpec.model_validate(
            dict(view.functions[sub.functions["study"]].archive["config"])
        )
        members = sorted(sites)
        status.state, status.waiting_on, status.sites = "running", [], members
        log.info("run %s (%s) started on %s", sub.run, sub.study, ", ".join(members))
        audit = RunLedger.deployed(
            self.folder,
            self.hub,
            self.service.ledger,
            sub,
            sites,
            lambda: self.service.cosign(members),
            study.preprocessing.min_cell_count,
        )

        def progress(label: str, done: int, total: int) -> None:
            status.step, status.round, status.rounds = label, done, total
            status.updated = time.time()

        run, results = run_federated(
            study,
            sub.seed,
            self.service.consortium(audit.recorder, members=members),
            audit=audit,
            checkpoints=PlanCheckpoints(self.folder / "checkpoints" / sub.run),
            progress=progress,
        )
        out = self.folder / "runs" / sub.run
        models = write_model_files(run, results, out)
        document = results_document(run, results, models=models)
        write_json_atomic(out / "results.json", document)
        write_report(run, results, document, out)
        self._finish(sub, status, "finished", "")

    def _finish(self, sub: Submission, status: RunStatus, state: str, reason: str) -> None:
        """Sign the run's end (once) and cosign the checkpoint after it."""
        payload: dict[str, Any] = {"run": sub.run, "status": state}
        if reason:
            payload["reason"] = reason
        with self._lock:
            if self.view().submissions[sub.run].status is None:
                self.service.ledger.record(self.hub, STUDY_FINISHED, payload)
                self.service.ledger.checkpoint()
        status.state, status.reason, status.waiting_on = state, reason, []
        status.updated = time.time()
        log.info("run %s %s%s", sub.run, state, f": {reason}" if reason else "")
        with contextlib.suppress(Exception):  # sites co-sign the end when they can
            self.service.cosign(status.sites or None)

    # --- what status shows ------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        """Members, sites, runs (state, step, round) and which sites are late."""
        view = self.view()
        now = time.time()
        sites = self.service.sites
        seen = self.service.last_seen
        return {
            "hub": self.hub.org,
            "log_size": self.service.ledger.store.size(),
            "members": sorted(self.service.members()),
            "sites": {
                s: {
                    "datasets": sorted(d.id for d in view.datasets.values() if d.site == s),
                    "pending_tasks": len(self.service.queue.pending(s)),
                    "last_seen_s": round(now - seen[s], 1) if s in seen else None,
                }
                for s in sites
            },
            "runs": [r.to_dict() for r in self.runs.values()],
            "refusals": self._refusals(),
        }

    def _refusals(self, last: int = 20) -> list[dict[str, Any]]:
        """The latest connections the hub refused, as signed on its ledger (seq, reason)."""
        found = self.service.ledger.store.find(kind="connection.refused")
        return [
            {"seq": s.seq, "reason": str(Entry.parse(s.entry).payload.get("reason"))}
            for s in list(found)[-last:]
        ]

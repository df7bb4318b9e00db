"""The governed ledger of a run: identities, the hub's log, each site's replica and policy.

``OUT/ledger.sqlite`` is the hub's log; ``OUT/sites/NAME/ledger.sqlite`` each site's
replica, which pulls, verifies and co-signs the hub's checkpoints (pinning the site's
``anchor.json`` where it has one, and keeping equivocation evidence in its ``evidence/``).
Before touching its data for any task, a site checks its own policy against the governance
state it has read from its verified replica (registered dataset, permissions, approved
function, minimum cohort size, ...); a refusal is a signed ledger entry.

A simulation (``accord run``) plays every organisation: it generates fresh keys (public
halves in ``OUT/keys``), registers each site's dataset and has each simulated data owner
approve the function. A simulated workspace (``accord consortium simulate``) keeps every
organisation's key files on one machine and leaves approval to each site (``accord site
approve``). A real consortium is founded from public cards (:mod:`accord.studies._membership`).
"""

from __future__ import annotations

import contextlib
import shutil
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from accord.core import LedgerError, StudySpec, canonical_json, new_id, sha256_hex
from accord.crypto import Identity, load_identity, new_identity, save_identity
from accord.data import Cohort
from accord.fl import LedgerRecorder, PolicyCheck, SiteGovernance, current_key, suppress_small
from accord.fl.governance import (
    GovernanceView,
    SitePolicy,
    Submission,
    archive_hash,
    function_archive,
    model_permissions,
)
from accord.ledger import (
    EVIDENCE_DIR,
    Anchor,
    Entry,
    HubLedger,
    HubLog,
    LedgerStore,
    SiteReplica,
    SQLiteLedgerStore,
    anchor_of,
    genesis_payload,
    load_anchor,
    write_anchor,
)
from accord.studies._jsonio import write_json_atomic

__all__ = ["HUB_ORG", "RESEARCHER_ORG", "RunLedger", "dataset_payload"]

HUB_ORG = "hub"
RESEARCHER_ORG = "researcher"
RECORD_KEY = ("plan", "round", "method", "site")  # what makes a hub's entry one of a kind


def _content(payload: Mapping[str, Any], provenance: Sequence[str]) -> dict[str, Any]:
    return {k: v for k, v in payload.items() if k not in provenance}


def _archive_previous(out: Path) -> None:
    """Never delete an earlier run's ledger: move it under OUT/archive/<time>/."""
    names = ("ledger.sqlite", "sites", "keys")
    if not any((out / n).exists() for n in names):
        return
    target = out / "archive" / time.strftime("%Y%m%dT%H%M%S")
    target.mkdir(parents=True, exist_ok=True)
    for path in out.glob("ledger.sqlite*"):
        shutil.move(str(path), target / path.name)
    for folder in ("sites", "keys"):
        if (out / folder).exists():
            shutil.move(str(out / folder), target / folder)


def dataset_payload(
    study: StudySpec, cohort: Cohort, site: str, dataset_id: str, permissions: Sequence[str]
) -> dict[str, Any]:
    """What a site publishes about its dataset: schema hash and a suppressed count, no rows."""
    schema = {
        "features": dict(study.cohort.features),
        "time": study.cohort.time_column,
        "event": study.cohort.event_column,
        "time_unit": study.cohort.time_unit,
    }
    n = cohort.sites[site].n
    return {
        "dataset": dataset_id,
        "site": site,
        "description": study.study.description or study.study.name,
        "modality": "clinical",
        "schema_hash": sha256_hex(canonical_json(schema)),
        "n_patients": suppress_small(n, study.preprocessing.min_cell_count),
        "permissions": sorted(permissions),
    }


def _simulated_policies(sites: Mapping[str, Identity]) -> dict[str, SitePolicy]:
    """Simulated data owners keep the protective defaults, except that each lets the
    heatmap and top tiles of one patient out for the report (a recorded decision)."""
    policy = SitePolicy(allow_tile_export=True, max_exported_patients=1)
    return {name: policy for name in sites}


def _site_replica(folder: Path, identity: Identity, genesis: Anchor) -> SiteReplica:
    """A simulated site's replica in ``folder``: it pins the site's own ``anchor.json``
    (a workspace's, written by ``consortium simulate``), else the anchor of the log it was
    created with, and keeps equivocation evidence in ``folder/evidence``."""
    folder.mkdir(parents=True, exist_ok=True)
    pinned = folder / "anchor.json"
    anchor = load_anchor(pinned) if pinned.is_file() else genesis
    store = SQLiteLedgerStore(folder / "ledger.sqlite")
    try:
        return SiteReplica(store, identity, anchor=anchor, evidence_dir=folder / EVIDENCE_DIR)
    except BaseException:
        store.close()
        raise


@dataclass
class RunLedger:
    """A run's signers and logs. ``researcher`` is None on a deployed hub: the researcher
    signed ``submission`` from their own machine and the hub signs the plans citing it."""

    hub: Identity
    researcher: Identity | None
    sites: dict[str, Identity]
    ledger: HubLog
    recorder: LedgerRecorder
    replicas: dict[str, SiteReplica]
    path: Path
    datasets: dict[str, str]
    policies: dict[str, SitePolicy]
    auto_approve: bool = True
    views: dict[str, GovernanceView] = field(default_factory=dict)
    _cursor: dict[str, int] = field(default_factory=dict)
    governance: dict[str, SiteGovernance] = field(default_factory=dict)
    remote_cosign: Callable[[], None] | None = None  # sites in other processes co-sign
    submission: Submission | None = None

    @classmethod
    def deployed(
        cls,
        folder: Path,
        hub: Identity,
        ledger: HubLog,
        submission: Submission,
        datasets: Mapping[str, str],
        cosign: Callable[[], None],
        min_cell_count: int,
    ) -> RunLedger:
        """A deployed hub's run of ``submission``: the hub's key and log only; the sites
        (``datasets``: site -> dataset id) keep their keys, replicas and policies."""
        return cls(
            hub=hub,
            researcher=None,
            sites={},
            ledger=ledger,
            recorder=LedgerRecorder(ledger, hub, min_cell_count),
            replicas={},
            path=folder / "ledger.sqlite",
            datasets=dict(datasets),
            policies={},
            auto_approve=False,
            remote_cosign=cosign,
            submission=submission,
        )

    @classmethod
    def create(
        cls, out: Path, study: StudySpec, cohort: Cohort, keys_dir: Path | None = None
    ) -> RunLedger:
        """A simulated consortium: fresh keys, genesis, every site's dataset registered.

        ``keys_dir``: also keep every organisation's private key there (0600), so that
        :meth:`reopen` can carry an interrupted run on (``accord run --resume``).
        """
        out.mkdir(parents=True, exist_ok=True)
        _archive_previous(out)
        hub, researcher = new_identity(HUB_ORG), new_identity(RESEARCHER_ORG)
        sites = {name: new_identity(name) for name in cohort.sites}
        orgs = [hub, researcher, *sites.values()]
        for identity in orgs:  # public halves only, for auditors (`check-proof --hub-key`)
            write_json_atomic(out / "keys" / f"{identity.org}.pub.json", identity.public.to_dict())
            if keys_dir is not None:
                save_identity(identity, keys_dir, overwrite=True)
        keys = [o.public.to_dict() for o in orgs]
        # the researcher runs the consortium CA (loopback): it publishes revocations
        genesis = genesis_payload(study.study.name, HUB_ORG, keys, operators=[RESEARCHER_ORG])
        ledger = HubLedger.create(
            SQLiteLedgerStore(out / "ledger.sqlite"), hub, new_id("log"), genesis
        )
        datasets = {name: f"{name}.{study.study.name}" for name in sites}
        for name, identity in sites.items():
            payload = dataset_payload(study, cohort, name, datasets[name], [RESEARCHER_ORG])
            ledger.record(identity, "dataset.registered", payload)
        policies = _simulated_policies(sites)
        return cls.assemble(out, hub, researcher, sites, ledger, datasets, policies, True, study)

    @classmethod
    def reopen(cls, out: Path, keys_dir: Path, study: StudySpec, cohort: Cohort) -> RunLedger:
        """The simulated consortium :meth:`create` began in ``out`` (keys kept in
        ``keys_dir``), to carry its run on: same log, same keys, same replicas."""
        hub = load_identity(keys_dir / f"{HUB_ORG}.key")
        researcher = load_identity(keys_dir / f"{RESEARCHER_ORG}.key")
        sites = {name: load_identity(keys_dir / f"{name}.key") for name in cohort.sites}
        ledger = HubLedger(SQLiteLedgerStore(out / "ledger.sqlite", create=False), hub)
        datasets = {name: f"{name}.{study.study.name}" for name in sites}
        try:
            policies = _simulated_policies(sites)
            return cls.assemble(
                out, hub, researcher, sites, ledger, datasets, policies, True, study
            )
        except BaseException:
            ledger.close()
            raise

    @classmethod
    def assemble(
        cls,
        out: Path,
        hub: Identity,
        researcher: Identity,
        sites: dict[str, Identity],
        ledger: HubLog,
        datasets: dict[str, str],
        policies: dict[str, SitePolicy],
        auto_approve: bool,
        study: StudySpec | None,
        local_replicas: bool = True,
    ) -> RunLedger:
        """``local_replicas=False``: the sites keep their replicas in their own processes
        (a hub service); this run then holds and co-signs none."""
        replicas: dict[str, SiteReplica] = {}
        genesis = anchor_of(next(iter(ledger.store.read(0, 1))))
        try:
            for name, identity in sites.items() if local_replicas else ():
                replicas[name] = _site_replica(out / "sites" / name, identity, genesis)
        except BaseException:
            for opened in replicas.values():  # a replica that fails leaves none open
                opened.store.close()
            raise
        min_cell = study.preprocessing.min_cell_count if study else 5
        recorder = LedgerRecorder(ledger, hub, min_cell)
        run = cls(
            hub,
            researcher,
            sites,
            ledger,
            recorder,
            replicas,
            out / "ledger.sqlite",
            datasets,
            policies,
            auto_approve,
        )
        run.governance = {
            name: SiteGovernance(
                name, identity, replicas[name], ledger, datasets[name], policies[name]
            )
            for name, identity in sites.items()
            if name in replicas
        }
        try:
            run.checkpoint_and_cosign()
        except BaseException:
            for opened in replicas.values():  # the caller closes the ledger it gave
                opened.store.close()
            raise
        write_anchor(out / "anchor.json", genesis)
        return run

    def handed_to(self, open_ledger: Callable[[], HubLog], cosign: Callable[[], None]) -> RunLedger:
        """This run with its log reopened by ``open_ledger`` (a hub service's), its sites in
        their own processes: they keep their replicas and co-sign through ``cosign``.

        This object's store and replicas are closed first; use the returned run from now on.
        """
        self.close()
        ledger = open_ledger()
        recorder = LedgerRecorder(ledger, self.hub, self.recorder.min_cell_count)
        return replace(
            self,
            ledger=ledger,
            recorder=recorder,
            replicas={},
            views={},
            _cursor={},
            governance={},
            remote_cosign=cosign,
        )

    # --- governance -------------------------------------------------------------------------

    def view(self, site: str) -> GovernanceView:
        """The governance state as this site's verified replica knows it (pulled first)."""
        return self.governance[site].view()

    def hub_view(self) -> GovernanceView:
        """The governance state of the hub's own log."""
        return self._replay("", self.ledger.store)

    def _replay(self, key: str, store: LedgerStore) -> GovernanceView:
        view = self.views.setdefault(key, GovernanceView())
        start = self._cursor.get(key, 0)
        for stored in store.read(start):
            # a governance entry the rules refuse (e.g. an approval by a non-owner) has no effect
            with contextlib.suppress(LedgerError):
                view.apply(Entry.parse(stored.entry))
            self._cursor[key] = stored.seq + 1
        return view

    def register_function(self, study: StudySpec, site_study: StudySpec | None = None) -> str:
        """The researcher registers the function of a plan of ``study`` (once); simulated
        data owners approve it. ``site_study``: the study every site holds (default
        ``study``); see :func:`~accord.fl.governance.function_archive`."""
        archive = function_archive(study, site_study)
        digest = archive_hash(archive)
        if self.submission is not None:
            if digest not in self.submission.functions.values():
                raise LedgerError(
                    f"run {self.submission.run}: a plan's function is not one the researcher "
                    "submitted (does the hub run the same accord version as the researcher?)"
                )
            return digest
        if self.researcher is None:
            raise LedgerError("no researcher key to register a function with")
        if digest not in self.hub_view().functions:
            payload = {"function": digest, "name": study.study.name, "archive": archive}
            self.ledger.record(self.researcher, "function.registered", payload)
        if self.auto_approve:
            for site, identity in self.sites.items():
                view = self.view(site) if site in self.governance else self.hub_view()
                if not view.is_approved(digest, self.datasets[site]):
                    payload = {"function": digest, "dataset": self.datasets[site]}
                    self.ledger.record(identity, "function.approved", payload)
        return digest

    def policy_check(self, site: str) -> PolicyCheck:
        """The check a site runs before accepting a task (its policy never leaves it)."""
        return self.governance[site].policy_check()

    def epsilon_spent(self, site: str, exclude_plan: str | None = None) -> float:
        """ε this site's dataset has spent (see :meth:`SiteGovernance.epsilon_spent`)."""
        return self.governance[site].epsilon_spent(exclude_plan)

    def public_key(self, org: str) -> bytes:
        """The organisation's current (latest, unrevoked) key, as the ledger records it."""
        return current_key(self.hub_view(), org)

    def submit_plan(self, plan_id: str, payload: Mapping[str, Any]) -> int:
        body = {**payload, "plan": plan_id, "datasets": sorted(self.datasets.values())}
        if self.submission is not None:  # the hub carries out the researcher's submission
            body["submission"] = self.submission.run
            return self.recorder.record(self.hub, "plan.submitted", body)
        if self.researcher is None:
            raise LedgerError("no researcher key to submit a plan with")
        return self.recorder.record(self.researcher, "plan.submitted", body)

    def register_model(self, plan_id: str, model_hash: str) -> int:
        """The hub registers ``plan_id``'s model (once: a restarted hub finds its entry)."""
        view = self.hub_view()
        datasets = [view.datasets[d] for d in sorted(self.datasets.values()) if d in view.datasets]
        payload = {
            "model": model_hash,
            "plan": plan_id,
            "datasets": [d.id for d in datasets],
            "permissions": sorted(model_permissions(datasets)),
        }
        return self.record_once(self.hub, "model.registered", payload)[0]

    def record_once(
        self,
        author: Identity,
        kind: str,
        payload: Mapping[str, Any],
        provenance: Sequence[str] = (),
    ) -> tuple[int, Mapping[str, Any] | None]:
        """Append ``author``'s ``kind`` entry unless the log already holds it; its seq, and
        the payload already on the log (None when appended now).

        An entry's key is its plan and, where present, its round, method and site
        (:data:`RECORD_KEY`): a hub killed after signing an entry and restarted signs it no
        second time. ``provenance`` names fields that may differ on a rerun (e.g. the
        site entries a figure cites: a re-evaluation signs new ones); every other field
        must equal the entry's on the log, or a :class:`~accord.core.LedgerError` names
        the key.
        """
        key = {f: payload[f] for f in RECORD_KEY if f in payload}
        for stored in self.ledger.store.find(kind=kind, org=author.org, plan=key.get("plan")):
            found = Entry.parse(stored.entry).payload
            if {f: found[f] for f in RECORD_KEY if f in found} != key:
                continue
            if _content(found, provenance) != _content(payload, provenance):
                named = ", ".join(f"{f} {v}" for f, v in key.items())
                raise LedgerError(
                    f"ledger entry {stored.seq} is a {kind} entry for {named} with different "
                    f"content; refusing to sign a second one"
                )
            return stored.seq, found
        return self.recorder.record(author, kind, dict(payload)), None

    def completions(self, plan_id: str, tasks: Mapping[str, str]) -> dict[str, int]:
        """The seq of the site-signed ``task.completed`` entry of each task (task id ->
        site) that has one: remembered by this process's recorder when the sites sign in
        it, found on the hub's log when they sign remotely (through its ledger API)."""
        done = {t: self.recorder.completed[t] for t in tasks if t in self.recorder.completed}
        if len(done) == len(tasks):
            return done
        for stored in self.ledger.store.find(kind="task.completed", plan=plan_id):
            payload = Entry.parse(stored.entry).payload
            task = payload.get("task")
            signed_by_its_site = stored.org == tasks.get(str(task)) == payload.get("site")
            if isinstance(task, str) and task not in done and signed_by_its_site:
                done[task] = stored.seq
        return done

    def site_folders(self) -> dict[str, Path]:
        """Each site's own folder (its ledger replica lives there too)."""
        return {site: self.path.parent / "sites" / site for site in self.sites}

    def checkpoint_and_cosign(self) -> int:
        """The hub signs (size, root); every site pulls, verifies and co-signs it."""
        cp = self.ledger.checkpoint()
        for replica in self.replicas.values():
            replica.sync(self.ledger)
        if self.remote_cosign is not None:
            self.remote_cosign()
        return cp.size

    def seal(self) -> int:
        """End the run's log in a co-signed checkpoint of its final size; returns the size."""
        latest = self.ledger.latest_checkpoint()
        size = self.ledger.store.size()
        if latest is None or latest.size != size:
            size = self.checkpoint_and_cosign()
        # Each replica keeps every site's co-signature of the final checkpoint, so that any
        # one member's copy shows the whole consortium signed the log's end.
        for cs in self.ledger.store.cosignatures(size):
            for replica in self.replicas.values():
                replica.store.put_cosignature(cs)
        return size

    def close(self) -> None:
        self.ledger.close()
        for replica in self.replicas.values():
            replica.store.close()

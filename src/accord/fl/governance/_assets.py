"""Governance assets replayed from the ledger: datasets, functions, decisions, plans, models.

:class:`GovernanceView` folds verified ledger entries, in order, into the current state of
the consortium's assets. It trusts signatures and the chain (the :class:`Verifier` checked
them) but not payloads: a governance entry outside the contract, or one signed by an
organisation that does not own the dataset it touches, raises :class:`LedgerError` naming
the entry's sequence number and the field. Entries of other kinds (tasks, aggregations,
metrics) are skipped.

Payload contract (values are str/int/bool/null/list/dict; epsilons are decimal strings)::

    dataset.registered / dataset.updated   site org   dataset, site, description, modality,
                                                      schema_hash, n_patients, permissions
    dataset.disabled                       site org   dataset, reason
    function.registered                    any org    function, name, archive (format 2:
                                                      config, variant, code; see _function)
    function.approved / function.rejected  site org   function, dataset (+ reason)
    plan.submitted                         any org    plan, study, method, config_hash,
                                                      code_hash, function, datasets, sites,
                                                      rounds, secure_aggregation, secure,
                                                      dp_epsilon, ... (see _plan_entry)
    model.registered                       hub        model, plan, datasets, permissions
    study.submitted / study.finished       see :mod:`._submission` (a deployed hub's runs)
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal, cast

from accord.core import canonical_json, sha256_hex
from accord.fl._plan import SecurePlan
from accord.fl.governance._fields import (
    read_decimal,
    read_hex,
    read_int,
    read_mapping,
    read_str,
    read_str_list,
    refuse,
)
from accord.fl.governance._function import ARCHIVE_FORMAT, PLAN_SECTIONS, digest, plan_config
from accord.fl.governance._plan_entry import read_secure_plan
from accord.fl.governance._submission import (
    STUDY_FINISHED,
    STUDY_SUBMITTED,
    Submission,
    finished_from,
    submission_from,
)
from accord.ledger import (
    GENESIS,
    KEY_REVOKE,
    KEY_ROTATE,
    MEMBER_ADMITTED,
    MEMBER_REMOVED,
    Entry,
    KeyRegistry,
)

DATASET_REGISTERED = "dataset.registered"
DATASET_UPDATED = "dataset.updated"
DATASET_DISABLED = "dataset.disabled"
FUNCTION_REGISTERED = "function.registered"
FUNCTION_APPROVED = "function.approved"
FUNCTION_REJECTED = "function.rejected"
PLAN_SUBMITTED = "plan.submitted"
MODEL_REGISTERED = "model.registered"

Modality = Literal["clinical", "wsi", "ct"]
MODALITIES: tuple[Modality, ...] = ("clinical", "wsi", "ct")
_SUPPRESSED = -1  # n_patients when the site suppresses its cohort size


def function_hash(archive: Mapping[str, Any]) -> str:
    """A function's identity: hex SHA-256 of the canonical JSON of its archive.

    Raises TypeError if the archive holds floats (write them as decimal strings).
    """
    return sha256_hex(canonical_json(archive))


@dataclass(frozen=True)
class Dataset:
    """A site's dataset as the ledger describes it; ``seq`` is the entry that set this state.

    ``n_patients`` is -1 when the site suppresses the count.
    """

    id: str
    site: str
    description: str
    modality: Modality
    schema_hash: str
    n_patients: int
    permissions: frozenset[str]
    enabled: bool
    seq: int


@dataclass(frozen=True)
class Function:
    """Registered study configuration and site code; ``hash`` is the id the author claimed.

    ``archive`` holds ``config`` (the study every site holds), ``variant`` (the sections a
    plan of it replaces) and ``code`` (path → SHA-256); see :mod:`._function`.
    """

    hash: str
    name: str
    author: str
    archive: Mapping[str, Any]
    seq: int

    @property
    def intact(self) -> bool:
        """True when the archive hashes to ``hash`` (False: tampered in transit or at rest)."""
        try:
            return function_hash(self.archive) == self.hash
        except TypeError:
            return False

    @property
    def study_hash(self) -> str:
        """Config hash of the study every site must hold (``StudySpec.config_hash``)."""
        return digest(self.archive["config"])

    @property
    def config_hash(self) -> str:
        """Config hash a plan of this function records: the study with its variant."""
        return digest(plan_config(self.archive))

    @property
    def code_hash(self) -> str:
        """SHA-256 of the canonical JSON of the site code's path → SHA-256 map."""
        return digest(self.archive["code"])


@dataclass(frozen=True)
class Decision:
    """A data owner's latest approval or rejection of a function for one dataset."""

    function: str
    dataset: str
    org: str
    approved: bool
    reason: str
    seq: int


@dataclass(frozen=True)
class SubmittedPlan:
    """A compute plan as submitted; ``submitter``/``key_id`` are the signer of the entry.

    ``config_hash``/``code_hash`` are the configuration and site code the plan runs;
    ``sites`` its sites in the order a secure round invites them; ``secure`` what each of
    its secure rounds must be (None: its sums are plain).
    """

    id: str
    submitter: str
    key_id: str
    function: str
    datasets: tuple[str, ...]
    rounds: int
    dp_epsilon: str | None
    method: str
    seq: int
    config_hash: str
    code_hash: str
    sites: tuple[str, ...]
    secure: SecurePlan | None
    seed: int | None = None
    submission: str | None = None  # the researcher's run a hub-signed plan carries out

    @property
    def secure_aggregation(self) -> bool:
        return self.secure is not None


@dataclass(frozen=True)
class Model:
    """A global model registered by the hub, with the organisations allowed to download it."""

    hash: str
    plan: str
    datasets: tuple[str, ...]
    permissions: frozenset[str]
    seq: int


def _dataset_from(entry: Entry, enabled: bool) -> Dataset:
    modality = read_str(entry, "modality")
    if modality not in MODALITIES:
        raise refuse(entry, f"field 'modality' is not one of {', '.join(MODALITIES)}")
    dataset = Dataset(
        id=read_str(entry, "dataset"),
        site=read_str(entry, "site"),
        description=read_str(entry, "description", empty=True),
        modality=modality,
        schema_hash=read_hex(entry, "schema_hash"),
        n_patients=read_int(entry, "n_patients", minimum=_SUPPRESSED),
        permissions=frozenset(read_str_list(entry, "permissions")),
        enabled=enabled,
        seq=entry.seq,
    )
    if dataset.site != entry.org:
        raise refuse(entry, f"field 'site' names {dataset.site}, but {entry.org} signed it")
    return dataset


def _check_archive(entry: Entry, archive: Mapping[str, Any]) -> None:
    if archive.get("format") != ARCHIVE_FORMAT:
        raise refuse(entry, f"field 'archive.format' is not {ARCHIVE_FORMAT}")
    for part in ("config", "variant", "code"):
        if not isinstance(archive.get(part), Mapping):
            raise refuse(entry, f"field 'archive.{part}' is missing or not an object")
    unknown = sorted(set(archive) - {"format", "config", "variant", "code"})
    if unknown:
        raise refuse(entry, f"field 'archive.{unknown[0]}' is not part of a function archive")
    variant = cast(Mapping[str, Any], archive["variant"])
    stray = sorted(
        k for k, v in variant.items() if k not in PLAN_SECTIONS or not isinstance(v, Mapping)
    )
    if stray:
        raise refuse(
            entry, f"field 'archive.variant.{stray[0]}' is not a [model] or [training] table"
        )
    code = cast(Mapping[str, Any], archive["code"])
    if not code or not all(
        isinstance(v, str) and len(v) == 64 and _is_hex(v) for v in code.values()
    ):
        raise refuse(
            entry, "field 'archive.code' is empty or maps a path to something not a SHA-256 hex"
        )


def _is_hex(value: str) -> bool:
    return all(c in "0123456789abcdef" for c in value)


def _function_from(entry: Entry) -> Function:
    archive = read_mapping(entry, "archive")
    _check_archive(entry, archive)
    return Function(
        hash=read_hex(entry, "function"),
        name=read_str(entry, "name"),
        author=entry.org,
        archive=copy.deepcopy(dict(archive)),
        seq=entry.seq,
    )


def _decision_from(entry: Entry, approved: bool) -> Decision:
    reason = "" if approved else read_str(entry, "reason", empty=True)
    return Decision(
        function=read_hex(entry, "function"),
        dataset=read_str(entry, "dataset"),
        org=entry.org,
        approved=approved,
        reason=reason,
        seq=entry.seq,
    )


def _plan_from(entry: Entry) -> SubmittedPlan:
    read_str(entry, "study", empty=True)
    sites, secure = read_secure_plan(entry)
    return SubmittedPlan(
        id=read_str(entry, "plan"),
        submitter=entry.org,
        key_id=entry.key_id,
        function=read_hex(entry, "function"),
        datasets=read_str_list(entry, "datasets", empty=False),
        rounds=read_int(entry, "rounds", minimum=0),
        dp_epsilon=read_decimal(entry, "dp_epsilon"),
        method=read_str(entry, "method"),
        seq=entry.seq,
        config_hash=read_hex(entry, "config_hash"),
        code_hash=read_hex(entry, "code_hash"),
        sites=sites,
        secure=secure,
        seed=_seed(entry),
        submission=read_str(entry, "submission") if "submission" in entry.payload else None,
    )


def _seed(entry: Entry) -> int | None:
    return read_int(entry, "seed", minimum=0) if "seed" in entry.payload else None


def _model_from(entry: Entry) -> Model:
    return Model(
        hash=read_hex(entry, "model"),
        plan=read_str(entry, "plan"),
        datasets=read_str_list(entry, "datasets", empty=False),
        permissions=frozenset(read_str_list(entry, "permissions")),
        seq=entry.seq,
    )


@dataclass
class GovernanceView:
    """The consortium's assets after replaying verified entries in order (see module doc)."""

    datasets: dict[str, Dataset] = field(default_factory=dict)
    functions: dict[str, Function] = field(default_factory=dict)
    decisions: dict[tuple[str, str], Decision] = field(default_factory=dict)
    plans: dict[str, SubmittedPlan] = field(default_factory=dict)
    models: dict[str, Model] = field(default_factory=dict)
    submissions: dict[str, Submission] = field(default_factory=dict)
    registry: KeyRegistry = field(default_factory=KeyRegistry)
    last_seq: int = -1

    @classmethod
    def from_entries(cls, entries: Iterable[Entry]) -> GovernanceView:
        view = cls()
        for entry in entries:
            view.apply(entry)
        return view

    def apply(self, entry: Entry) -> None:
        """Replay one verified entry; on LedgerError the view is left unchanged."""
        if entry.seq <= self.last_seq:
            raise refuse(entry, f"replayed after entry {self.last_seq} (entries must ascend)")
        handler = self._handlers().get(entry.kind)
        if handler is not None:
            handler(entry)
        self.last_seq = entry.seq

    def _handlers(self) -> dict[str, Callable[[Entry], None]]:
        return {
            GENESIS: self._genesis,
            KEY_ROTATE: self.registry.apply,
            KEY_REVOKE: self.registry.apply,
            MEMBER_ADMITTED: self.registry.apply,
            MEMBER_REMOVED: self.registry.apply,
            DATASET_REGISTERED: self._register_dataset,
            DATASET_UPDATED: self._update_dataset,
            DATASET_DISABLED: self._disable_dataset,
            FUNCTION_REGISTERED: self._register_function,
            FUNCTION_APPROVED: lambda e: self._decide(e, approved=True),
            FUNCTION_REJECTED: lambda e: self._decide(e, approved=False),
            PLAN_SUBMITTED: self._submit_plan,
            MODEL_REGISTERED: self._register_model,
            STUDY_SUBMITTED: self._submit_study,
            STUDY_FINISHED: self._finish_study,
        }

    def _genesis(self, entry: Entry) -> None:
        self.registry.genesis_key(entry)

    def _owned(self, entry: Entry, dataset_id: str) -> Dataset:
        """The dataset ``entry`` touches; LedgerError unless its signer owns it."""
        dataset = self.datasets.get(dataset_id)
        if dataset is None:
            raise refuse(entry, f"field 'dataset': {dataset_id} is not registered")
        if dataset.site != entry.org:
            raise refuse(
                entry, f"signed by {entry.org}, but dataset {dataset_id} belongs to {dataset.site}"
            )
        return dataset

    def _register_dataset(self, entry: Entry) -> None:
        dataset = _dataset_from(entry, enabled=True)
        if dataset.id in self.datasets:  # a re-registration by the owner replaces and enables
            self._owned(entry, dataset.id)
        self.datasets[dataset.id] = dataset

    def _update_dataset(self, entry: Entry) -> None:
        current = self._owned(entry, read_str(entry, "dataset"))
        self.datasets[current.id] = _dataset_from(entry, enabled=current.enabled)

    def _disable_dataset(self, entry: Entry) -> None:
        read_str(entry, "reason", empty=True)
        current = self._owned(entry, read_str(entry, "dataset"))
        self.datasets[current.id] = replace(current, enabled=False, seq=entry.seq)

    def _register_function(self, entry: Entry) -> None:
        function = _function_from(entry)
        self.functions.setdefault(function.hash, function)  # the first registration stands

    def _decide(self, entry: Entry, approved: bool) -> None:
        decision = _decision_from(entry, approved)
        self._owned(entry, decision.dataset)
        self.decisions[(decision.function, decision.dataset)] = decision

    def _submit_plan(self, entry: Entry) -> None:
        plan = self._on_behalf(entry, _plan_from(entry))
        known = self.plans.get(plan.id)
        if known is not None and replace(known, seq=plan.seq) != plan:
            raise refuse(
                entry, f"field 'plan': {plan.id} is already on the ledger (entry {known.seq})"
            )
        if known is None:
            self.plans[plan.id] = plan

    def _on_behalf(self, entry: Entry, plan: SubmittedPlan) -> SubmittedPlan:
        """A hub-signed plan citing a submission counts as its researcher's, when it stays
        inside what the researcher signed (see :mod:`._submission`)."""
        if plan.submission is None:
            return plan
        if entry.org != self.registry.hub:
            raise refuse(entry, "field 'submission': only the hub carries out a submission")
        run = self.submissions.get(plan.submission)
        if run is None:
            raise refuse(entry, f"field 'submission': {plan.submission} is not on the ledger")
        if run.status is not None:
            raise refuse(entry, f"field 'submission': run {run.run} has ended ({run.status})")
        outside = run.allows(plan.function, plan.datasets, plan.seed)
        if outside is not None:
            raise refuse(entry, f"plan outside submission {run.run}: {outside}")
        return replace(plan, submitter=run.submitter, key_id=run.key_id)

    def _submit_study(self, entry: Entry) -> None:
        if self.registry.role(entry.org) in ("site", "hub"):
            raise refuse(
                entry,
                f"signed by {entry.org}, a {self.registry.role(entry.org)}; "
                "studies are submitted by researchers",
            )
        run = submission_from(entry, self.functions)
        if run.run in self.submissions:
            raise refuse(entry, f"field 'run': {run.run} is already on the ledger")
        self.submissions[run.run] = run

    def _finish_study(self, entry: Entry) -> None:
        run, status, reason = finished_from(entry, self.registry.hub)
        known = self.submissions.get(run)
        if known is None:
            raise refuse(entry, f"field 'run': {run} is not on the ledger")
        if known.status is None:
            self.submissions[run] = replace(known, status=status, reason=reason)

    def _register_model(self, entry: Entry) -> None:
        if entry.org != self.registry.hub:
            raise refuse(entry, f"signed by {entry.org}; only the hub registers models")
        model = _model_from(entry)
        self.models[model.hash] = model  # the latest registration of a hash stands

    def is_approved(self, function: str, dataset: str) -> bool:
        """True when the dataset's owner's latest decision on ``function`` is an approval."""
        decision = self.decisions.get((function, dataset))
        return decision is not None and decision.approved

    def decision(self, function: str, dataset: str) -> Decision | None:
        return self.decisions.get((function, dataset))

    def pending_functions(self, site_org: str) -> list[tuple[Function, str]]:
        """(function, dataset id) pairs awaiting a decision on the site's enabled datasets.

        Ordered by function registration, then dataset id.
        """
        own = sorted(d.id for d in self.datasets.values() if d.site == site_org and d.enabled)
        functions = sorted(self.functions.values(), key=lambda f: f.seq)
        return [(f, d) for f in functions for d in own if (f.hash, d) not in self.decisions]

    def previous_approved(self, site_org: str, dataset: str, before: Function) -> Function | None:
        """The function most recently approved by ``site_org`` for ``dataset`` among those
        registered before ``before`` (the base to diff a new function against)."""
        approved = [
            (d.seq, self.functions[d.function])
            for (_, ds), d in self.decisions.items()
            if ds == dataset and d.org == site_org and d.approved and d.function in self.functions
        ]
        earlier = [(seq, f) for seq, f in approved if f.seq < before.seq]
        return max(earlier, key=lambda pair: pair[0])[1] if earlier else None

    def key_revoked(self, org: str, key_id: str) -> bool:
        """True when (org, key_id) has been revoked; False for a valid or unknown key."""
        state = self.registry.keys.get((org, key_id))
        return state is not None and state.revoked_seq is not None

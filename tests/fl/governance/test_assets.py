"""GovernanceView: replaying datasets, functions, decisions, plans, models and keys."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from accord.core import LedgerError
from accord.crypto import new_identity
from accord.fl.governance import (
    DATASET_REGISTERED,
    FUNCTION_REGISTERED,
    MODEL_REGISTERED,
    PLAN_SUBMITTED,
    GovernanceView,
    function_hash,
)
from accord.ledger import Entry, HubLedger, SQLiteLedgerStore, genesis_payload
from tests.fl.governance.conftest import (
    HUB,
    LAB,
    SITE_A,
    SITE_B,
    Consortium,
    LedgerFactory,
    dataset_payload,
    make_archive,
    plan_payload,
)


def test_replay_builds_the_assets(consortium: Consortium) -> None:
    view = consortium.ledger.view()
    assert sorted(view.datasets) == ["crc-a", "crc-a2", "crc-b"]
    crc_a = view.datasets["crc-a"]
    assert (crc_a.site, crc_a.modality, crc_a.enabled) == (SITE_A, "clinical", True)
    assert crc_a.permissions == frozenset({LAB, SITE_B})
    function = view.functions[consortium.function]
    assert (function.author, function.name, function.intact) == (LAB, "cox", True)
    plan = view.plans["plan-1"]
    assert plan.submitter == LAB and plan.key_id == consortium.ledger.ids[LAB].key_id
    assert (plan.datasets, plan.rounds, plan.dp_epsilon) == (("crc-a", "crc-b"), 10, "2.0")
    assert view.registry.hub == HUB
    assert view.last_seq == len(consortium.ledger.entries) - 1


def test_approval_counts_only_for_its_dataset(consortium: Consortium) -> None:
    view = consortium.ledger.view()
    assert view.is_approved(consortium.function, "crc-a")
    assert not view.is_approved(consortium.function, "crc-a2")
    assert view.decision(consortium.function, "crc-a2") is None


def test_approval_signed_by_a_non_owner_is_rejected(consortium: Consortium) -> None:
    consortium.ledger.approve(SITE_B, consortium.function, "crc-a")
    with pytest.raises(LedgerError, match=r"signed by hospital_b, but dataset crc-a belongs"):
        consortium.ledger.view()


def test_approval_of_an_unknown_dataset_is_rejected(consortium: Consortium) -> None:
    consortium.ledger.approve(SITE_A, consortium.function, "nowhere")
    with pytest.raises(LedgerError, match=r"field 'dataset': nowhere is not registered"):
        consortium.ledger.view()


@pytest.mark.parametrize(
    ("decisions", "approved"),
    [(["approve", "reject"], False), (["reject", "approve"], True), (["reject"], False)],
)
def test_the_latest_decision_wins(
    consortium: Consortium, decisions: list[str], approved: bool
) -> None:
    ledger, function = consortium.ledger, consortium.function
    for decision in decisions:
        if decision == "approve":
            ledger.approve(SITE_A, function, "crc-a2")
        else:
            ledger.reject(SITE_A, function, "crc-a2", "uses free-text notes")
    view = ledger.view()
    assert view.is_approved(function, "crc-a2") is approved
    latest = view.decision(function, "crc-a2")
    assert latest is not None and latest.seq == len(ledger.entries) - 1


def test_changing_one_archive_field_makes_a_new_function(consortium: Consortium) -> None:
    changed = consortium.ledger.function(make_archive(lr="0.02"))
    view = consortium.ledger.view()
    assert changed != consortium.function
    assert view.is_approved(consortium.function, "crc-a")
    assert not view.is_approved(changed, "crc-a")


def test_pending_functions_per_dataset_of_the_site(consortium: Consortium) -> None:
    newer = consortium.ledger.function(make_archive(local_steps=6))
    consortium.ledger.disable(SITE_A, "crc-a2")
    view = consortium.ledger.view()
    pending = [(f.hash, d) for f, d in view.pending_functions(SITE_A)]
    assert pending == [(newer, "crc-a")]
    assert [(f.hash, d) for f, d in view.pending_functions(SITE_B)] == [(newer, "crc-b")]
    assert view.pending_functions(LAB) == []


def test_previous_approved_is_the_base_for_a_diff(consortium: Consortium) -> None:
    ledger = consortium.ledger
    second = ledger.function(make_archive(lr="0.02"))
    ledger.approve(SITE_A, second, "crc-a")
    third = ledger.function(make_archive(lr="0.03"))
    view = ledger.view()
    previous = view.previous_approved(SITE_A, "crc-a", view.functions[third])
    assert previous is not None and previous.hash == second
    first = view.previous_approved(SITE_A, "crc-a", view.functions[second])
    assert first is not None and first.hash == consortium.function
    assert view.previous_approved(SITE_A, "crc-a", view.functions[consortium.function]) is None
    assert view.previous_approved(SITE_A, "crc-a2", view.functions[third]) is None


def test_dataset_update_replaces_and_keeps_the_enabled_state(consortium: Consortium) -> None:
    ledger = consortium.ledger
    ledger.disable(SITE_A, "crc-a2")
    ledger.update(SITE_A, "crc-a2", [LAB, SITE_B], n_patients=-1)
    updated = ledger.view().datasets["crc-a2"]
    assert (updated.enabled, updated.n_patients) == (False, -1)
    assert updated.permissions == frozenset({LAB, SITE_B})
    ledger.dataset(SITE_A, "crc-a2", [LAB])
    assert ledger.view().datasets["crc-a2"].enabled


@pytest.mark.parametrize("kind", ["update", "disable", "register"])
def test_only_the_owner_changes_a_dataset(consortium: Consortium, kind: str) -> None:
    ledger = consortium.ledger
    if kind == "update":
        ledger.update(SITE_B, "crc-a", [SITE_B], site=SITE_B)
    elif kind == "disable":
        ledger.disable(SITE_B, "crc-a")
    else:
        ledger.dataset(SITE_B, "crc-a", [SITE_B])
    with pytest.raises(LedgerError, match=r"signed by hospital_b, but dataset crc-a belongs"):
        ledger.view()


def test_update_of_an_unknown_dataset_is_rejected() -> None:
    ledger = LedgerFactory()
    ledger.update(SITE_A, "crc-z", [LAB])
    with pytest.raises(LedgerError, match=r"entry 1 \(dataset.updated\).*crc-z is not registered"):
        ledger.view()


def _function_payload(**parts: Any) -> dict[str, Any]:
    """A function.registered payload whose archive has ``parts`` replaced (None: removed)."""
    archive = {**make_archive(), **parts}
    archive = {k: v for k, v in archive.items() if v is not None}
    return {"function": function_hash(archive), "name": "x", "archive": archive}


def _without(payload: dict[str, Any], *path: str) -> dict[str, Any]:
    """``payload`` without the field at ``path`` (a copy)."""
    if len(path) == 1:
        return {k: v for k, v in payload.items() if k != path[0]}
    return {**payload, path[0]: _without(payload[path[0]], *path[1:])}


def _secure_plan(**secure: Any) -> dict[str, Any]:
    payload = plan_payload("a" * 64, ["d"])
    return {**payload, "secure": {**payload["secure"], **secure}}


_MALFORMED: list[tuple[str, dict[str, Any], str]] = [
    (DATASET_REGISTERED, dataset_payload(SITE_A, "d", [LAB], modality="mri"), "modality"),
    (DATASET_REGISTERED, dataset_payload(SITE_A, "d", [LAB], n_patients=-2), "n_patients"),
    (DATASET_REGISTERED, dataset_payload(SITE_A, "d", [LAB], n_patients=True), "n_patients"),
    (DATASET_REGISTERED, dataset_payload(SITE_A, "d", [LAB], schema_hash="xyz"), "schema_hash"),
    (DATASET_REGISTERED, dataset_payload(SITE_A, "d", LAB), "permissions"),  # type: ignore[arg-type]
    (DATASET_REGISTERED, dataset_payload(SITE_A, "d", [LAB], site=SITE_B), "site"),
    (DATASET_REGISTERED, dataset_payload(SITE_A, "", [LAB]), "dataset"),
    (
        FUNCTION_REGISTERED,
        {"function": "F" * 64, "name": "x", "archive": make_archive()},
        "function",
    ),
    (FUNCTION_REGISTERED, {"function": "a" * 64, "name": "x", "archive": {}}, "archive.format"),
    (FUNCTION_REGISTERED, _function_payload(code=None), "archive.code"),
    (FUNCTION_REGISTERED, _function_payload(code={}), "archive.code"),
    (FUNCTION_REGISTERED, _function_payload(code={"a.py": "A" * 64}), "archive.code"),
    (FUNCTION_REGISTERED, _function_payload(variant={"privacy": {}}), "archive.variant.privacy"),
    (FUNCTION_REGISTERED, _function_payload(files={}), "archive.files"),
    (FUNCTION_REGISTERED, {"function": "a" * 64, "archive": make_archive()}, "name"),
    (PLAN_SUBMITTED, plan_payload("a" * 64, ["d"], rounds="10"), "rounds"),
    (PLAN_SUBMITTED, plan_payload("a" * 64, []), "datasets"),
    (PLAN_SUBMITTED, plan_payload("a" * 64, ["d"], dp_epsilon=2), "dp_epsilon"),
    (PLAN_SUBMITTED, plan_payload("a" * 64, ["d"], dp_epsilon="two"), "dp_epsilon"),
    (PLAN_SUBMITTED, plan_payload("a" * 64, ["d"], dp_epsilon="0"), "dp_epsilon"),
    (PLAN_SUBMITTED, plan_payload("a" * 64, ["d"], secure_aggregation="yes"), "secure_aggregation"),
    (PLAN_SUBMITTED, plan_payload("a" * 64, ["d"], code_hash="ab"), "code_hash"),
    (PLAN_SUBMITTED, plan_payload("a" * 64, ["d"], config_hash=None), "config_hash"),
    (PLAN_SUBMITTED, plan_payload("a" * 64, ["d"], sites=[]), "sites"),
    (PLAN_SUBMITTED, plan_payload("a" * 64, ["d"], sites=[SITE_A, SITE_A]), "sites"),
    (PLAN_SUBMITTED, plan_payload("a" * 64, ["d"], secure_aggregation=False, secure={}), "secure"),
    (PLAN_SUBMITTED, plan_payload("a" * 64, ["d"], secure=None), "secure"),
    (PLAN_SUBMITTED, _without(plan_payload("a" * 64, ["d"]), "secure"), "secure"),
    (PLAN_SUBMITTED, _secure_plan(clip=10000), "secure.clip"),
    (PLAN_SUBMITTED, _secure_plan(clip="lots"), "secure.clip"),
    (PLAN_SUBMITTED, _secure_plan(clip="Infinity"), "secure.clip"),
    (PLAN_SUBMITTED, _secure_plan(threshold=0.67), "secure.threshold"),
    (PLAN_SUBMITTED, _secure_plan(neighbours="4"), "secure.neighbours"),
    (PLAN_SUBMITTED, _secure_plan(neighbours=True), "secure.neighbours"),
    (PLAN_SUBMITTED, _secure_plan(ring=32), "secure.ring"),
    (PLAN_SUBMITTED, _without(_secure_plan(), "secure", "neighbours"), "secure.neighbours"),
    (
        PLAN_SUBMITTED,
        {k: v for k, v in plan_payload("a" * 64, ["d"]).items() if k != "function"},
        "function",
    ),
]


@pytest.mark.parametrize(("kind", "payload", "field"), _MALFORMED)
def test_malformed_payload_names_entry_and_field(
    kind: str, payload: dict[str, Any], field: str
) -> None:
    ledger = LedgerFactory()
    ledger.add(SITE_A, kind, payload)
    with pytest.raises(LedgerError, match=rf"^entry 1 \({kind}\): field '{field}'"):
        ledger.view()


def test_a_refused_entry_leaves_the_view_unchanged(consortium: Consortium) -> None:
    view = consortium.ledger.view()
    before = (dict(view.datasets), view.last_seq)
    bad = dataset_payload(SITE_A, "crc-new", [LAB], modality="mri")
    entry = Entry("log-t", view.last_seq + 1, SITE_A, "k", DATASET_REGISTERED, bad, "0" * 64, "t")
    with pytest.raises(LedgerError):
        view.apply(entry)
    assert (view.datasets, view.last_seq) == before


def test_entries_must_ascend(consortium: Consortium) -> None:
    view = consortium.ledger.view()
    with pytest.raises(LedgerError, match=r"entries must ascend"):
        view.apply(consortium.ledger.entries[3])


def test_only_the_hub_registers_models(consortium: Consortium) -> None:
    consortium.ledger.add(LAB, MODEL_REGISTERED, {"model": "d" * 64, "plan": "p"})
    with pytest.raises(LedgerError, match=r"signed by lab_x; only the hub registers models"):
        consortium.ledger.view()


def test_a_plan_id_is_used_once(consortium: Consortium) -> None:
    ledger = consortium.ledger
    ledger.plan(consortium.function, ["crc-a", "crc-b"])  # identical resubmission: ignored
    assert ledger.view().plans["plan-1"].seq < len(ledger.entries) - 1
    ledger.plan(consortium.function, ["crc-a", "crc-b"], rounds=99)
    with pytest.raises(LedgerError, match=r"field 'plan': plan-1 is already on the ledger"):
        ledger.view()


def test_the_first_function_registration_stands(consortium: Consortium) -> None:
    ledger = consortium.ledger
    tampered = make_archive(lr="0.5")
    ledger.add(
        SITE_B,
        FUNCTION_REGISTERED,
        {"function": consortium.function, "name": "x", "archive": tampered},
    )
    function = ledger.view().functions[consortium.function]
    assert (function.author, function.intact) == (LAB, True)


def test_a_function_whose_archive_does_not_hash_to_its_id_is_kept_but_not_intact() -> None:
    ledger = LedgerFactory()
    claimed = function_hash(make_archive())
    payload = {"function": claimed, "name": "x", "archive": make_archive(lr="0.5")}
    ledger.add(LAB, FUNCTION_REGISTERED, payload)
    assert not ledger.view().functions[claimed].intact


def test_key_revocation_and_rotation(consortium: Consortium) -> None:
    ledger = consortium.ledger
    old = ledger.ids[LAB].key_id
    fresh = ledger.rotate(LAB)
    ledger.revoke(LAB, old, by=LAB)
    view = ledger.view()
    assert view.key_revoked(LAB, old)
    assert not view.key_revoked(LAB, fresh.key_id)
    assert not view.key_revoked(SITE_A, ledger.ids[SITE_A].key_id)


def test_other_entry_kinds_are_skipped(consortium: Consortium) -> None:
    consortium.ledger.add(SITE_A, "task.completed", {"plan": "plan-1", "value": "0.5"})
    view = consortium.ledger.view()
    assert view.last_seq == len(consortium.ledger.entries) - 1


def test_the_view_replays_a_real_signed_log(tmp_path: Path) -> None:
    ids = {o: new_identity(o) for o in (HUB, SITE_A, LAB)}
    genesis = genesis_payload("test", HUB, [i.public.to_dict() for i in ids.values()])
    store = SQLiteLedgerStore(tmp_path / "ledger.sqlite")
    ledger = HubLedger.create(store, ids[HUB], "log-t", genesis)
    ledger.record(ids[SITE_A], DATASET_REGISTERED, dataset_payload(SITE_A, "crc-a", [LAB]))
    archive = make_archive()
    digest = function_hash(archive)
    ledger.record(
        ids[LAB], FUNCTION_REGISTERED, {"function": digest, "name": "cox", "archive": archive}
    )
    ledger.record(ids[SITE_A], "function.approved", {"function": digest, "dataset": "crc-a"})
    ledger.record(ids[LAB], PLAN_SUBMITTED, plan_payload(digest, ["crc-a"]))
    view = GovernanceView.from_entries(Entry.parse(s.entry) for s in store.read())
    assert view.is_approved(digest, "crc-a") and "plan-1" in view.plans

"""A researcher's signed submission, and the hub's plans that carry it out (#15).

The hub signs a deployed run's plans; a site counts such a plan as the researcher's only
when it cites a submission and stays inside it (function, datasets, seed), and never after
the hub ended the run.
"""

from __future__ import annotations

import contextlib
from typing import Any

import pytest

from accord.core import LedgerError
from accord.fl.governance import STUDY_FINISHED, STUDY_SUBMITTED, GovernanceView
from tests.fl.governance.conftest import HUB, LAB, SITE_A, SITE_B, Consortium, make_archive


def _submit(consortium: Consortium, **over: Any) -> None:
    payload = {
        "run": "run-1",
        "study": "crc-survival",
        "functions": {"study": consortium.function},
        "seed": 7,
        "datasets": ["crc-a", "crc-b"],
        **over,
    }
    consortium.ledger.add(over.pop("org", LAB), STUDY_SUBMITTED, payload)


def _hub_plan(consortium: Consortium, **over: Any) -> None:
    datasets = over.pop("datasets", ["crc-a", "crc-b"])
    fields = {"plan": "plan-h", "submission": "run-1", **over}
    consortium.ledger.plan(consortium.function, datasets, org=HUB, **fields)


def _replay(consortium: Consortium) -> GovernanceView:
    """The view as a site builds it: an entry the rules refuse has no effect."""
    view = GovernanceView()
    for entry in consortium.ledger.entries:
        with contextlib.suppress(LedgerError):
            view.apply(entry)
    return view


def _refused(view_entries: Consortium) -> None:
    """The last entry has no effect on the view (and raises when applied on its own)."""
    entries = view_entries.ledger.entries
    view = GovernanceView.from_entries(entries[:-1])
    with pytest.raises(LedgerError):
        view.apply(entries[-1])


def test_a_hub_plan_inside_the_submission_counts_as_the_researchers(
    consortium: Consortium,
) -> None:
    _submit(consortium)
    _hub_plan(consortium)
    plan = consortium.ledger.view().plans["plan-h"]
    assert (plan.submitter, plan.submission, plan.seed) == (LAB, "run-1", 7)
    assert plan.key_id == consortium.ledger.ids[LAB].key_id


@pytest.mark.parametrize(
    ("over", "why"),
    [
        ({"datasets": ["crc-a", "crc-a2"]}, "dataset crc-a2 is not one of the submission's"),
        ({"seed": 8}, "its seed is not the submission's"),
        ({"submission": "run-2"}, "run-2 is not on the ledger"),
    ],
)
def test_a_hub_plan_outside_the_submission_is_refused(
    consortium: Consortium, over: dict[str, Any], why: str
) -> None:
    _submit(consortium)
    _hub_plan(consortium, **over)
    view = GovernanceView.from_entries(consortium.ledger.entries[:-1])
    with pytest.raises(LedgerError, match=why):
        view.apply(consortium.ledger.entries[-1])


def test_a_plan_of_another_function_is_refused(consortium: Consortium) -> None:
    other = consortium.ledger.function(make_archive(lr="0.5"))
    _submit(consortium)
    consortium.ledger.plan(other, ["crc-a"], org=HUB, plan="plan-x", submission="run-1")
    with pytest.raises(LedgerError, match="function is not one of the submission's"):
        GovernanceView.from_entries(consortium.ledger.entries[:-1]).apply(
            consortium.ledger.entries[-1]
        )


def test_only_the_hub_carries_out_a_submission(consortium: Consortium) -> None:
    _submit(consortium)
    consortium.ledger.plan(
        consortium.function, ["crc-a"], org=SITE_B, plan="plan-s", submission="run-1"
    )
    _refused(consortium)


def test_no_plan_after_the_hub_ended_the_run(consortium: Consortium) -> None:
    _submit(consortium)
    consortium.ledger.add(HUB, STUDY_FINISHED, {"run": "run-1", "status": "finished"})
    _hub_plan(consortium)
    _refused(consortium)
    assert _replay(consortium).submissions["run-1"].status == "finished"


def test_only_the_hub_ends_a_run(consortium: Consortium) -> None:
    _submit(consortium)
    consortium.ledger.add(SITE_A, STUDY_FINISHED, {"run": "run-1", "status": "failed"})
    _refused(consortium)


@pytest.mark.parametrize(
    "over",
    [
        {"functions": {"study": "e" * 64}},  # not registered
        {"functions": {}},
        {"datasets": []},
        {"seed": -1},
    ],
)
def test_a_malformed_submission_has_no_effect(consortium: Consortium, over: dict[str, Any]) -> None:
    _submit(consortium, **over)
    _refused(consortium)
    assert _replay(consortium).submissions == {}


def test_a_run_id_is_submitted_once(consortium: Consortium) -> None:
    _submit(consortium)
    _submit(consortium, seed=9)
    _refused(consortium)
    assert _replay(consortium).submissions["run-1"].seed == 7

"""What each plan spent on a dataset: the ledger's charges and the site's own journal."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from accord.core import PolicyError, PrivacyError
from accord.fl import PrivacyJournal, plan_charges
from accord.ledger._entry import ZERO_HASH, Entry


def _completed(plan: str, kind: str, dataset: str = "d", **privacy: str) -> Entry:
    payload: dict[str, Any] = {"plan": plan, "task_kind": kind, "dataset": dataset}
    if privacy:
        payload["privacy"] = privacy
    return Entry("log", 1, "site", "k", "task.completed", payload, ZERO_HASH, "t")


def test_a_plan_is_charged_the_larger_of_declared_and_recorded_epsilon() -> None:
    entries = [
        _completed("p1", "train", epsilon_opacus_rdp="1.5", epsilon_dp_accounting_rdp="1.6"),
        _completed("p1", "train", epsilon_opacus_rdp="3.9", epsilon_dp_accounting_rdp="4.1"),
        _completed("p2", "train"),  # DP training that recorded nothing: its declaration
        _completed("p3", "stats"),  # preprocessing: no mechanism, no charge
        _completed("p4", "train", dataset="other", epsilon_opacus_rdp="9"),
    ]
    declared = {"p1": "4.0", "p2": "2.0", "p3": None, "p4": "9"}
    charges = plan_charges(entries, "d", declared)
    assert sorted(charges) == ["p1", "p2"]
    assert charges["p1"].charged == pytest.approx(4.1)
    assert charges["p1"].accountant == "dp_accounting_rdp"
    assert charges["p2"].charged == 2.0 and charges["p2"].accountant == "declared"
    assert sorted(plan_charges(entries, "d", declared, exclude_plan="p1")) == ["p2"]


def test_the_journal_refuses_a_repeated_dp_round_and_survives_a_restart(tmp_path: Path) -> None:
    """A hub replaying a DP round (to average the noise away) gets a refusal."""
    path = tmp_path / "privacy-journal.json"
    journal = PrivacyJournal(path)
    for _ in range(2):
        journal.charge("d", "p1", "train", allowed=2, epsilon=3.0)
    with pytest.raises(PolicyError, match=r"plan p1 has had its 2 differentially private"):
        journal.charge("d", "p1", "train", allowed=2, epsilon=3.0)
    journal.charge("d", "p1", "local_baseline", allowed=1, epsilon=3.0)
    journal.charge("d", "p2", "train", allowed=5, epsilon=1.5)
    again = PrivacyJournal(path)
    assert again.spent("d") == pytest.approx(4.5)
    assert again.spent("d", exclude_plan="p1") == pytest.approx(1.5)
    assert again.spent("other") == 0.0
    with pytest.raises(PolicyError, match="executions on dataset d"):
        again.charge("d", "p1", "train", allowed=2, epsilon=3.0)


def test_a_damaged_journal_is_refused_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "privacy-journal.json"
    path.write_text('{"d/p1": {"epsilon": 3}}')
    with pytest.raises(PrivacyError, match=r"privacy-journal.json: field 'plans'"):
        PrivacyJournal(path)
    path.write_text("{not json")
    with pytest.raises(PrivacyError, match=r"privacy-journal.json"):
        PrivacyJournal(path)

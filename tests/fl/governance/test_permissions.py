"""Who may process a dataset and download a model: hand-built cases."""

from __future__ import annotations

import pytest

from accord.fl.governance import Dataset, can_download, can_process, model_permissions
from tests.fl.governance.conftest import LAB, SITE_A, SITE_B, Consortium


def _dataset(name: str, permissions: set[str], enabled: bool = True) -> Dataset:
    return Dataset(name, SITE_A, "", "clinical", "5" * 64, 40, frozenset(permissions), enabled, 1)


A = _dataset("a", {"x", "y", "z"})
B = _dataset("b", {"y", "z", "w"})
C = _dataset("c", {"v"})
OFF = _dataset("off", {"x", "y"}, enabled=False)


@pytest.mark.parametrize(
    ("datasets", "expected"),
    [
        ([A, B], {"y", "z"}),  # trained on A and B: only orgs allowed on both
        ([A, C], set()),  # disjoint permissions
        ([A], {"x", "y", "z"}),  # a single dataset
        ([A, OFF], set()),  # a disabled dataset allows nobody
        ([], set()),  # no datasets: nobody
        ([A, B, A], {"y", "z"}),
    ],
)
def test_model_permissions_intersect(datasets: list[Dataset], expected: set[str]) -> None:
    assert model_permissions(datasets) == frozenset(expected)


@pytest.mark.parametrize(
    ("dataset", "org", "allowed"),
    [(A, "x", True), (A, "w", False), (OFF, "x", False), (C, "", False)],
)
def test_can_process(dataset: Dataset, org: str, allowed: bool) -> None:
    assert can_process(dataset, org) is allowed


def test_can_download(consortium: Consortium) -> None:
    ledger = consortium.ledger
    ledger.model("d" * 64, ["crc-a", "crc-b"], [LAB])
    view = ledger.view()
    assert can_download(view, "d" * 64, LAB)
    assert not can_download(view, "d" * 64, SITE_B)  # allowed on crc-a only
    assert not can_download(view, "e" * 64, LAB)  # unknown model


def test_download_needs_every_dataset_to_still_permit(consortium: Consortium) -> None:
    ledger = consortium.ledger
    ledger.model("d" * 64, ["crc-a", "crc-b"], [LAB, SITE_B])  # hub over-grants SITE_B
    ledger.model("f" * 64, ["crc-a", "crc-unknown"], [LAB])
    view = ledger.view()
    assert not can_download(view, "d" * 64, SITE_B)
    assert not can_download(view, "f" * 64, LAB)
    ledger.update(SITE_B, "crc-b", [SITE_A])  # the owner withdraws the lab
    assert not can_download(ledger.view(), "d" * 64, LAB)


def test_disabling_a_dataset_withdraws_its_models(consortium: Consortium) -> None:
    ledger = consortium.ledger
    ledger.model("d" * 64, ["crc-a"], [LAB])
    ledger.disable(SITE_A, "crc-a")
    assert not can_download(ledger.view(), "d" * 64, LAB)

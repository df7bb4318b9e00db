"""Hand-built ledgers for governance tests: Entry objects made directly, no signing.

The view trusts signatures and the chain (the Verifier checks them), so entries here carry
real key ids (genesis and key replay must work) but a zero ``prev`` and no signature.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import pytest

from accord.crypto import Identity, new_identity
from accord.fl.governance import (
    DATASET_DISABLED,
    DATASET_REGISTERED,
    DATASET_UPDATED,
    FUNCTION_APPROVED,
    FUNCTION_REGISTERED,
    FUNCTION_REJECTED,
    MODEL_REGISTERED,
    PLAN_SUBMITTED,
    GovernanceView,
    function_hash,
)
from accord.ledger import GENESIS, KEY_REVOKE, KEY_ROTATE, genesis_payload
from accord.ledger._entry import ZERO_HASH, Entry

TIME = "2026-11-28T00:00:00.000000Z"
HUB, SITE_A, SITE_B, LAB = "hub", "hospital_a", "hospital_b", "lab_x"
SCHEMA = "5" * 64


CONFIG: dict[str, Any] = {  # a study as an archive holds it (floats as strings)
    "study": {"name": "crc-survival", "task": "survival", "description": ""},
    "cohort": {
        "features": {"age": "numeric", "stage": "categorical"},
        "time_column": "time",
        "files": ["cohort.csv"],
        "site_column": "site",
    },
    "preprocessing": {"min_cell_count": 5, "standardise": True},
    "model": {"kind": "linear_cox", "hidden": [16], "loss": "logistic_hazard"},
    "training": {"lr": "0.01", "local_steps": 5},
    "evaluation": {"bootstrap": 200, "confidence": "0.95"},
    "privacy": {"secure_aggregation": "auto", "dp": "dpsgd", "epsilon": "2.0", "delta": "1e-4"},
    "pathology": {"mpp": "0.5"},
}
CODE = {"accord/fl/_site.py": "a" * 64, "accord/models/_cox.py": "b" * 64}


def make_archive(privacy: dict[str, Any] | None = None, **training: Any) -> dict[str, Any]:
    """A function archive (format 2); pass training settings to change one field, or
    ``privacy`` to replace the study's [privacy]."""
    config = copy.deepcopy(CONFIG)
    config["training"].update(training)
    if privacy is not None:
        config["privacy"] = privacy
    return {"format": 2, "config": config, "variant": {}, "code": dict(CODE)}


class LedgerFactory:
    """Appends hand-built governance entries (seq 0 is the genesis) and replays them."""

    def __init__(self) -> None:
        self.ids: dict[str, Identity] = {o: new_identity(o) for o in (HUB, SITE_A, SITE_B, LAB)}
        self.entries: list[Entry] = []
        self.archives: dict[str, dict[str, Any]] = {}  # function hash -> its archive
        orgs = [i.public.to_dict() for i in self.ids.values()]
        self.add(HUB, GENESIS, genesis_payload("test", HUB, orgs))

    def add(self, org: str, kind: str, payload: dict[str, Any], key_id: str = "") -> Entry:
        key = key_id or self.ids[org].key_id
        entry = Entry("log-t", len(self.entries), org, key, kind, payload, ZERO_HASH, TIME)
        self.entries.append(entry)
        return entry

    def view(self) -> GovernanceView:
        return GovernanceView.from_entries(self.entries)

    def dataset(self, site: str, dataset: str, permissions: list[str], /, **over: Any) -> Entry:
        return self.add(
            site, DATASET_REGISTERED, dataset_payload(site, dataset, permissions, **over)
        )

    def update(self, site: str, dataset: str, permissions: list[str], /, **over: Any) -> Entry:
        return self.add(site, DATASET_UPDATED, dataset_payload(site, dataset, permissions, **over))

    def disable(self, site: str, dataset: str) -> Entry:
        return self.add(site, DATASET_DISABLED, {"dataset": dataset, "reason": "withdrawn"})

    def function(self, archive: dict[str, Any] | None = None, org: str = LAB) -> str:
        archive = archive if archive is not None else make_archive()
        digest = function_hash(archive)
        self.archives.setdefault(digest, archive)
        self.add(org, FUNCTION_REGISTERED, {"function": digest, "name": "cox", "archive": archive})
        return digest

    def approve(self, site: str, function: str, dataset: str) -> Entry:
        return self.add(site, FUNCTION_APPROVED, {"function": function, "dataset": dataset})

    def reject(self, site: str, function: str, dataset: str, reason: str) -> Entry:
        payload = {"function": function, "dataset": dataset, "reason": reason}
        return self.add(site, FUNCTION_REJECTED, payload)

    def plan(self, function: str, datasets: list[str], org: str = LAB, **over: Any) -> Entry:
        """A plan of ``function`` recording its archive's config and code hashes."""
        archive = self.archives.get(function)
        if archive is not None:
            hashes = {
                "config_hash": function_hash({**archive["config"], **archive["variant"]}),
                "code_hash": function_hash(archive["code"]),
            }
            over = {**hashes, **over}
        return self.add(org, PLAN_SUBMITTED, plan_payload(function, datasets, **over))

    def model(self, model: str, datasets: list[str], permissions: list[str]) -> Entry:
        payload = {"model": model, "plan": "plan-1", "datasets": datasets}
        return self.add(HUB, MODEL_REGISTERED, {**payload, "permissions": permissions})

    def rotate(self, org: str) -> Identity:
        fresh = new_identity(org)
        self.add(org, KEY_ROTATE, fresh.public.to_dict())
        return fresh

    def revoke(self, org: str, key_id: str, by: str = HUB) -> Entry:
        return self.add(by, KEY_REVOKE, {"org": org, "key_id": key_id})


def dataset_payload(
    site: str, dataset: str, permissions: list[str], /, **over: Any
) -> dict[str, Any]:
    payload = {
        "dataset": dataset,
        "site": site,
        "description": "resected colorectal cancer, 2015-2020",
        "modality": "clinical",
        "schema_hash": SCHEMA,
        "n_patients": 120,
        "permissions": permissions,
    }
    return {**payload, **over}


SECURE = {"clip": "10000.0", "threshold": "0.67", "neighbours": None, "fraction_bits": 40}


def plan_payload(function: str, datasets: list[str], /, **over: Any) -> dict[str, Any]:
    """A plan entry; ``secure_aggregation=False`` alone also clears ``secure``."""
    secure = over.get("secure_aggregation", True) is True
    payload = {
        "plan": "plan-1",
        "study": "crc-survival",
        "method": "fedavg",
        "config_hash": "c" * 64,
        "code_hash": "d" * 64,
        "function": function,
        "datasets": datasets,
        "sites": [SITE_A, SITE_B],
        "rounds": 10,
        "secure_aggregation": True,
        "secure": dict(SECURE) if secure else None,
        "dp_epsilon": "2.0",
        "trained_on": datasets,
        "seed": 7,
    }
    return {**payload, **over}


@dataclass
class Consortium:
    """Two sites, one researcher lab; hospital_a approved the function for crc-a."""

    ledger: LedgerFactory
    function: str


@pytest.fixture
def consortium() -> Consortium:
    ledger = LedgerFactory()
    ledger.dataset(SITE_A, "crc-a", [LAB, SITE_B])
    ledger.dataset(SITE_A, "crc-a2", [LAB])
    ledger.dataset(SITE_B, "crc-b", [LAB])
    function = ledger.function()
    ledger.approve(SITE_A, function, "crc-a")
    ledger.approve(SITE_B, function, "crc-b")
    ledger.plan(function, ["crc-a", "crc-b"])
    return Consortium(ledger, function)

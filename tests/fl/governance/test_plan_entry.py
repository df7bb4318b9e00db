"""A plan's sites and secure-aggregation settings, signed in its entry and read back."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

import pytest

from accord.core import LedgerError, PrivacySpec, canonical_json
from accord.fl import Plan, SecurePlan, SecureSettings
from accord.fl.governance import _plan_entry as plan_entry
from accord.fl.governance import plan_entry_fields
from accord.fl.strategies import SiteInfo
from tests.fl.governance.conftest import LAB, SITE_A, SITE_B, LedgerFactory, plan_payload

SITES = [SiteInfo(SITE_B, 40), SiteInfo(SITE_A, 50), SiteInfo("hospital_c", 60)]


def _replayed(fields: dict[str, Any]) -> Any:
    """The SubmittedPlan a site replays from an entry carrying ``fields``."""
    ledger = LedgerFactory()
    ledger.add(LAB, "plan.submitted", plan_payload("a" * 64, ["crc-a"], **fields))
    return ledger.view().plans["plan-1"]


def test_a_secure_plan_round_trips_exactly() -> None:
    privacy = PrivacySpec(secagg_clip=123.456, secagg_threshold=0.7, secagg_neighbours=2)
    plan = Plan.create("fedavg", SITES, privacy)
    fields = plan_entry_fields(plan)
    canonical_json(fields)  # no floats
    assert fields == {
        "sites": [SITE_B, SITE_A, "hospital_c"],  # the plan's order, not sorted
        "secure_aggregation": True,
        "secure": {"clip": "123.456", "threshold": "0.7", "neighbours": 2, "fraction_bits": 40},
    }
    submitted = _replayed(fields)
    assert submitted.sites == (SITE_B, SITE_A, "hospital_c")
    assert submitted.secure == plan.secure_plan()
    assert submitted.secure_aggregation


def test_a_plain_plan_has_no_secure_settings() -> None:
    plan = Plan.create("preprocessing", SITES, PrivacySpec(), summed=False)
    fields = plan_entry_fields(plan)
    assert fields["secure"] is None and fields["secure_aggregation"] is False
    submitted = _replayed(fields)
    assert submitted.secure is None and not submitted.secure_aggregation


@dataclasses.dataclass(frozen=True)
class _WiderSettings(SecureSettings):
    """SecureSettings as another change may extend it (a ring size, a ratio)."""

    ring_bits: int = 32
    headroom: float = 1.5


@pytest.fixture
def wider(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    plan_entry._types.cache_clear()
    monkeypatch.setattr(plan_entry, "SecureSettings", _WiderSettings)
    yield
    plan_entry._types.cache_clear()


@pytest.mark.usefixtures("wider")
def test_a_setting_added_to_secure_settings_is_signed_and_read_back() -> None:
    settings = _WiderSettings(clip=10.0, threshold=0.8, neighbours=None, ring_bits=64)
    plan = Plan.create("fedavg", SITES, PrivacySpec()).with_secure(settings)
    fields = plan_entry_fields(plan)
    assert fields["secure"] == {
        "clip": "10.0",
        "threshold": "0.8",
        "neighbours": None,
        "fraction_bits": 40,
        "ring_bits": 64,
        "headroom": "1.5",
    }
    assert _replayed(fields).secure == SecurePlan(tuple(plan.site_ids), settings)
    missing = {k: v for k, v in fields["secure"].items() if k != "ring_bits"}
    with pytest.raises(LedgerError, match=r"field 'secure.ring_bits' is missing"):
        _replayed({**fields, "secure": missing})

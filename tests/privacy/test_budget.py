"""PrivacyBudget: exact decimal charging, refusal without side effects."""

from __future__ import annotations

from decimal import Decimal

import pytest

from accord.core import ConfigError, PrivacyError
from accord.privacy import PrivacyBudget


def test_spending_adds_up_exactly_in_decimals() -> None:
    budget = PrivacyBudget("hcc-resection", 1.0)
    for _ in range(10):
        budget.spend(0.1)
    assert budget.spent == Decimal("1.0")
    assert budget.remaining == 0
    assert not budget.would_exceed(0)
    assert budget.would_exceed(Decimal("0.0001"))


def test_refusal_names_the_dataset_and_the_three_amounts_and_changes_nothing() -> None:
    budget = PrivacyBudget("hcc-resection", "10", spent="7.5")
    assert budget.would_exceed(3)
    with pytest.raises(
        PrivacyError,
        match=r"privacy budget of dataset hcc-resection would be exceeded: "
        r"spent 7\.5 \+ requested 3 > budget 10$",
    ) as caught:
        budget.spend(3)
    assert caught.value.exit_code == 6
    assert budget.spent == Decimal("7.5")
    assert budget.spend(2.5) == 0


def test_a_budget_already_overspent_is_refused() -> None:
    with pytest.raises(PrivacyError, match="already exceeded"):
        PrivacyBudget("d", 1, spent=2)


@pytest.mark.parametrize("bad", [-1, float("nan"), float("inf"), "lots"])
def test_invalid_amounts_are_config_errors(bad: float | str) -> None:
    budget = PrivacyBudget("d", 1)
    with pytest.raises(ConfigError, match="requested epsilon"):
        budget.spend(bad)
    with pytest.raises(ConfigError, match="epsilon budget"):
        PrivacyBudget("d", bad)

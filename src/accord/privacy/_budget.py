"""A dataset's total privacy budget, charged by basic (additive) composition of ε.

Amounts are kept as :class:`~decimal.Decimal` so that repeated charges add up exactly and
match the decimal strings the ledger records (floats are converted through ``str``, so
``0.1`` is charged as exactly ``Decimal("0.1")``). Summing ε is valid for any sequence of
(ε_i, δ_i)-DP releases (the δ_i add up too) but loose: runs that an accountant can see as
one composition (more rounds of the same training) should be accounted together first.
"""

from __future__ import annotations

import math
from decimal import Decimal, InvalidOperation

from accord.core import ConfigError, PrivacyError

__all__ = ["PrivacyBudget"]

Amount = Decimal | float | int | str


def _to_decimal(value: Amount, name: str) -> Decimal:
    """A finite, non-negative Decimal from a number or decimal string."""
    if isinstance(value, float) and not math.isfinite(value):
        raise ConfigError(f"{name} is {value!r}; expected a finite number >= 0")
    try:
        amount = value if isinstance(value, Decimal) else Decimal(str(value))
    except InvalidOperation as exc:
        raise ConfigError(f"{name} is not a number; expected a decimal >= 0") from exc
    if not amount.is_finite() or amount < 0:
        raise ConfigError(f"{name} is {value!r}; expected a finite number >= 0")
    return amount


class PrivacyBudget:
    """Total ε one dataset may spend, and how much of it has been spent.

    ``dataset_id`` names the dataset in messages (a registry id, never patient data).
    """

    def __init__(self, dataset_id: str, epsilon: Amount, spent: Amount = 0) -> None:
        self.dataset_id = dataset_id
        self.total = _to_decimal(epsilon, "epsilon budget")
        self._spent = _to_decimal(spent, "spent epsilon")
        if self._spent > self.total:
            raise PrivacyError(
                f"privacy budget of dataset {dataset_id} is already exceeded: "
                f"spent {self._spent} > budget {self.total}"
            )

    @property
    def spent(self) -> Decimal:
        return self._spent

    @property
    def remaining(self) -> Decimal:
        return self.total - self._spent

    def would_exceed(self, epsilon: Amount) -> bool:
        """Whether charging ``epsilon`` would take the total spent above the budget."""
        return self._spent + _to_decimal(epsilon, "requested epsilon") > self.total

    def spend(self, epsilon: Amount) -> Decimal:
        """Charge ``epsilon`` and return what remains; refuse (unchanged) if it would exceed.

        Raises:
            PrivacyError: the charge would take the spent total above the budget.
        """
        requested = _to_decimal(epsilon, "requested epsilon")
        if self._spent + requested > self.total:
            raise PrivacyError(
                f"privacy budget of dataset {self.dataset_id} would be exceeded: "
                f"spent {self._spent} + requested {requested} > budget {self.total}"
            )
        self._spent += requested
        return self.remaining

    def __repr__(self) -> str:
        return f"PrivacyBudget({self.dataset_id!r}, epsilon={self.total}, spent={self._spent})"

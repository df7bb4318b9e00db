"""What a study run produces: one result per method, and the images sites released."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from accord.core import Arrays
from accord.studies._coefficients import Coefficient

__all__ = ["Convergence", "ExportedImage", "MethodResult"]


@dataclass(frozen=True)
class Convergence:
    """How a method's training ended: ``iterations`` (rounds run), ``converged`` (None where
    the method has no convergence test, e.g. a fixed number of gradient rounds) and the
    ``criterion`` in words; ``last_step`` (largest coefficient change of the last Newton
    step) and ``gradient_norm`` (of the penalised log-likelihood's summed gradient at the
    last point summed) where they apply."""

    iterations: int
    converged: bool | None
    criterion: str
    last_step: float | None = None
    gradient_norm: float | None = None

    def to_dict(self) -> dict[str, int | bool | str | float | None]:
        return {
            "iterations": self.iterations,
            "converged": self.converged,
            "criterion": self.criterion,
            "last_step": self.last_step,
            "gradient_norm": self.gradient_norm,
        }


@dataclass(frozen=True)
class MethodResult:
    """How one trained model did at every site (site-level metrics only)."""

    method: str
    per_site: dict[str, dict[str, float | int | None]]
    consortium_cindex: float | None
    consortium_interval: tuple[float, float] | None
    mean_site_cindex: float | None
    rounds: int
    trained_on: tuple[str, ...]
    params: Arrays = field(default_factory=dict, repr=False)
    error: str = ""
    ledger: dict[str, int] = field(default_factory=dict)
    # site -> {"round 3": reason, "evaluation": reason}: where a site took no part, and why
    excluded: dict[str, dict[str, str]] = field(default_factory=dict)
    # a linear Cox part's rows, per unit of each feature and per standardised unit
    coefficients: tuple[Coefficient, ...] = ()
    coefficients_standardised: tuple[Coefficient, ...] = ()
    coefficients_note: str = ""  # why there are none (or no SE), or which are not estimable
    convergence: Convergence | None = None


@dataclass(frozen=True)
class ExportedImage:
    """A tile image a site released under its policy, and the ledger entry that says so."""

    site: str
    name: str
    path: Path
    ledger_seq: int | None

"""What a study run produces: one result per method, and the images sites released."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from accord.core import Arrays
from accord.studies._coefficients import Coefficient

__all__ = ["Comparison", "Convergence", "ExportedImage", "MethodResult"]


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
    plan_id: str = ""  # the plan whose evaluation gave the figures
    # The consortium sums of the held-out rows' pair counts (rows ``COUNT_KEYS``): (4,),
    # and of their bootstrap resamples (4, B), over the sites in ``scored_at`` (empty when
    # the hub cannot tell which sites the sum holds); for paired comparisons.
    pair_counts: np.ndarray | None = field(default=None, repr=False, compare=False)
    bootstrap_counts: np.ndarray | None = field(default=None, repr=False, compare=False)
    scored_at: tuple[str, ...] = ()
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


@dataclass(frozen=True)
class Comparison:
    """The paired difference in consortium C of ``method``'s model against ``against``'s
    (``clinical_only``, or ``local``: each site's own model), over the same held-out
    patients: ``difference`` = C_method − C_against, its ``confidence`` interval
    [``low``, ``high``] from ``resamples`` site-stratified paired bootstrap resamples
    (None if no resample has comparable pairs), over ``patients`` held-out patients (None
    where the hub does not know their total)."""

    method: str
    against: str
    difference: float
    low: float | None
    high: float | None
    resamples: int
    confidence: float
    patients: int | None = None
    ledger: dict[str, int] = field(default_factory=dict)

    @property
    def significant(self) -> bool:
        """Whether the interval excludes no difference (0)."""
        if self.low is None or self.high is None:
            return False
        return self.low > 0.0 or self.high < 0.0

    def to_dict(self) -> dict[str, Any]:
        """The ``comparisons`` entry of results.json."""
        doc: dict[str, Any] = {
            "method": self.method,
            "against": self.against,
            "difference": self.difference,
            "low": self.low,
            "high": self.high,
            "resamples": self.resamples,
            "patients": self.patients,
        }
        if self.ledger:
            doc["ledger"] = self.ledger
        return doc

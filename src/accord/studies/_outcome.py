"""What a study run produces: one result per method, and the images sites released."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from accord.core import Arrays

__all__ = ["ExportedImage", "MethodResult"]


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


@dataclass(frozen=True)
class ExportedImage:
    """A tile image a site released under its policy, and the ledger entry that says so."""

    site: str
    name: str
    path: Path
    ledger_seq: int | None

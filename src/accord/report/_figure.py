"""A rendered figure with its caption and the numbers it reports."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

__all__ = ["Figure"]


@dataclass(frozen=True)
class Figure:
    """An SVG figure, its caption (plain text) and the statistics quoted in the caption,
    keyed by name (e.g. ``"logrank_p"``), for tests and for the ledger."""

    svg: str
    caption: str
    stats: Mapping[str, float] = field(default_factory=dict)

"""What the hub knows of its consortium: the member sites and what each one reported.

A federated run is driven by this view only: the member sites (from the ledger's
registered datasets, or the simulation's cohort folders), the training and test sizes each
site reported with its preprocessing statistics, and the tile-feature dimension the sites
reported after setting up. It never holds a row.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from types import MappingProxyType

from accord.fl.strategies import SiteInfo
from accord.net import Reply

__all__ = ["ConsortiumView", "SiteReport"]


@dataclass(frozen=True)
class SiteReport:
    """A site's sizes, as it reported them (counts of its own rows)."""

    n_train: int
    n_test: int


@dataclass(frozen=True)
class ConsortiumView:
    """Member sites, the reports of those that answered, the tile-feature dimension."""

    members: tuple[str, ...]
    reports: Mapping[str, SiteReport] = field(default_factory=lambda: MappingProxyType({}))
    feature_dim: int | None = None

    @classmethod
    def of_members(cls, members: Sequence[str]) -> ConsortiumView:
        """Before any site has reported: member ids only."""
        return cls(tuple(members))

    def with_reports(self, replies: Mapping[str, Reply]) -> ConsortiumView:
        """The sizes the sites reported in their ``stats`` replies."""
        reports = {
            site: SiteReport(int(r.counts.get("n_train", r.weight)), int(r.counts.get("n_test", 0)))
            for site, r in sorted(replies.items())
        }
        return replace(self, reports=MappingProxyType(reports))

    def with_feature_dim(self, feature_dim: int | None) -> ConsortiumView:
        return replace(self, feature_dim=feature_dim)

    @property
    def site_infos(self) -> tuple[SiteInfo, ...]:
        """Every member, with its reported training size (0 if it has not reported)."""
        return tuple(
            SiteInfo(s, self.reports[s].n_train if s in self.reports else 0) for s in self.members
        )

"""What the hub knows of its consortium: the member sites and what each one reported.

A federated run is driven by this view only: the member sites (from the ledger's
registered datasets, or the simulation's cohort folders), the sizes the sites reported with
their preprocessing sums, and the tile-feature dimension the sites reported after setting
up. It never holds a row. Under secure aggregation the sizes are summed like the rest of
the sums: the hub knows which sites answered and the consortium totals, not one site's size
(no strategy needs it: a FedAvg site weights its own update and the weights are summed).
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
    """Sizes as reported (counts of rows): one site's in clear, or the consortium's totals.

    None where the size was not released to the hub (summed securely, or a total it does
    not have); -1 where a site suppressed a small count.
    """

    n_train: int | None
    n_test: int | None
    n_events: int | None = None

    @classmethod
    def of_counts(cls, counts: Mapping[str, int]) -> SiteReport:
        def get(key: str) -> int | None:
            return int(counts[key]) if key in counts else None

        return cls(get("n_train"), get("n_test"), get("n_events"))

    def to_dict(self) -> dict[str, int | None]:
        return {"n_train": self.n_train, "n_test": self.n_test, "n_events": self.n_events}


@dataclass(frozen=True)
class ConsortiumView:
    """Member sites, the reports of those that answered, the consortium's total sizes, the
    tile-feature dimension."""

    members: tuple[str, ...]
    reports: Mapping[str, SiteReport] = field(default_factory=lambda: MappingProxyType({}))
    feature_dim: int | None = None
    totals: SiteReport | None = None

    @classmethod
    def of_members(cls, members: Sequence[str]) -> ConsortiumView:
        """Before any site has reported: member ids only."""
        return cls(tuple(members))

    def with_reports(
        self, replies: Mapping[str, Reply], totals: Mapping[str, float] | None = None
    ) -> ConsortiumView:
        """The sites that answered the preprocessing sums, with the sizes their replies
        carry in clear (none under secure aggregation), and ``totals``: the summed sizes
        (the secure sum's counts; in clear, the sum of the sites' unsuppressed ones)."""
        reports = {site: SiteReport.of_counts(r.counts) for site, r in sorted(replies.items())}
        summed = None
        if totals is not None:
            summed = SiteReport.of_counts({k: round(v) for k, v in totals.items()})
        if any(-1 in (r.n_train, r.n_test, r.n_events) for r in reports.values()):
            summed = None  # a total missing a suppressed count is no total
        return replace(self, reports=MappingProxyType(reports), totals=summed)

    def with_feature_dim(self, feature_dim: int | None) -> ConsortiumView:
        return replace(self, feature_dim=feature_dim)

    @property
    def site_infos(self) -> tuple[SiteInfo, ...]:
        """Every member, with its training size as it reported it in clear (0 if it has
        not, or its size was summed securely, or suppressed)."""
        return tuple(SiteInfo(s, self._n_train(s)) for s in self.members)

    def _n_train(self, site: str) -> int:
        report = self.reports.get(site)
        return report.n_train if report is not None and report.n_train else 0
